"""The Migrations page's engine side: each migration's live status (its ``status`` query while
it runs, the store's final counters once it ended) and the operator's controls, sent through
the same Temporal updates as ``esimflow migrate`` (``MigrationControl``)."""
from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from esimflow.migration.client import MigrationControl
from esimflow.migration.model import MigrationState, Outcome
from esimflow.migration.store import MigrationStore
from sgp22.errors import BadInputError

from esimcli.console.charts import finishes_chart

QUERY_TIMEOUT = 5.0
CONTROL_TIMEOUT = 30.0

# action name -> (label, what MigrationControl does); "concurrency" takes its number from the form
ACTIONS = {
    "pause": ("Pause", lambda control: control.pause()),
    "resume": ("Resume", lambda control: control.resume()),
    "approve": ("Approve canary", lambda control: control.approve(True)),
    "reject": ("Reject canary", lambda control: control.approve(False)),
    "cancel": ("Cancel", lambda control: control.cancel(rollback=False)),
    "cancel_rollback": ("Cancel with rollback", lambda control: control.cancel(rollback=True)),
}


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


async def live_status(client: Client | None, store: MigrationStore, migration_id: str) -> dict:
    """What the page shows of one migration, as JSON-ready values (polled by the page)."""
    stored = store.migration(migration_id)
    devices = store.devices(migration_id)
    status, live, problem = None, False, None
    if stored["state"] in MigrationState.FINAL:
        pass  # ended: the store holds its final counters (a query would need a worker to replay it)
    elif client is not None:
        try:
            status = await asyncio.wait_for(MigrationControl(client, migration_id).status(), QUERY_TIMEOUT)
            live = True
        except (RPCError, TimeoutError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
            problem = f"Temporal did not answer the status query: {getattr(error, 'message', None) or error}"
    else:
        problem = "not connected to Temporal"
    if status is not None:
        body = dataclasses.asdict(status)
        body["errors"] = [str(e) for e in status.errors]
    else:
        counters = stored["counters"] or {}
        counts = {name: counters.get(name, 0) for name in (*Outcome.ALL, "already_done")}
        if not counters:
            for device in devices:
                if device["outcome"]:
                    counts[device["outcome"]] = counts.get(device["outcome"], 0) + 1
        body = {"migration_id": migration_id, "state": stored["state"] or "unknown", "total": stored["total"],
                "invalid_lines": stored["invalid_lines"], "counts": counts, "in_flight": 0,
                "pending": max(stored["total"] - sum(counts.values()), 0),
                "concurrency": stored["policy"].get("max_concurrency", 0), "rate_per_second": 0.0,
                "eta_seconds": None, "canary_size": stored["policy"].get("canary_size", 0),
                "canary_finished": sum(counts.values()) >= stored["policy"].get("canary_size", 0),
                "abort_reason": stored["abort_reason"], "failure_rate": 0.0,
                "dry_run": stored["policy"].get("dry_run", False), "runs": 0, "errors": []}
    finished = sum(body["counts"].values())
    body.update(live=live, problem=problem, finished=finished,
                percent=round(100 * finished / body["total"], 1) if body["total"] else 0.0,
                failure_window=stored["policy"].get("failure_window"),
                failure_threshold=stored["policy"].get("failure_threshold"),
                chart=finishes_chart([t for d in devices if (t := _time(d["finished_at"]))], body["total"],
                                     now=datetime.now(UTC)))
    return body


async def control(client: Client | None, migration_id: str, action: str, concurrency: str | None = None) -> tuple[bool, str]:
    """Send one control update; (accepted, the migration's answer or its refusal)."""
    if client is None:
        return False, "not connected to Temporal: nothing was sent"
    handle = MigrationControl(client, migration_id)
    if action == "concurrency":
        try:
            value = int(concurrency or "")
        except ValueError:
            raise BadInputError("concurrency must be a whole number") from None
        if value < 1:
            raise BadInputError("concurrency must be at least 1")
        call, label = handle.set_concurrency(value), f"Concurrency {value}"
    elif action in ACTIONS:
        label, make = ACTIONS[action]
        call = make(handle)
    else:
        raise BadInputError(f"unknown migration action {action!r}")
    try:
        status = await asyncio.wait_for(call, CONTROL_TIMEOUT)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        return False, f"{label} refused: {getattr(cause, 'message', None) or cause or error}"
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False, f"{label} refused: no running migration {migration_id}"
        return False, f"{label} not delivered: Temporal answered {error.message}"
    except TimeoutError:
        return False, f"{label}: no answer from the migration within {CONTROL_TIMEOUT:.0f} s (is its worker running?)"
    # the migration's answer is its status when it took the update (an approval's effect follows)
    return True, (f"{label} accepted; the migration answered: {status.state}, {status.finished}/{status.total} "
                  f"finished, {status.in_flight} in flight, concurrency {status.concurrency}")
