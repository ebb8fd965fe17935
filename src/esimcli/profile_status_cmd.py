"""``esimflow profile history|list``: the profile status history the engine records.

Read from the history store (``esimflow.history``; ``--history`` or ``ESIMFLOW_HISTORY``, by
default ``history.sqlite3`` in the esimflow state directory), not from Temporal: workflow
histories expire with the namespace's retention, the profile history does not.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import click

from esimflow.database import is_postgresql, sqlite_path
from esimflow.history import ENV_HISTORY, HistoryStore, ProfileRecord, StatusChange, default_location, open_history
from esimflow.machines.profile_status import Status
from sgp22.errors import BadInputError, EsimError

from esimcli import params
from esimcli.exit_codes import ExitCode

history_option = click.option(
    "--history", "history_path", envvar=ENV_HISTORY, show_envvar=True,
    help="Profile status history: a SQLite file or postgresql://... (default: history.sqlite3 in the "
         "esimflow state dir).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group()
def profile() -> None:
    """Where each profile stands and how it got there (the profile status history)."""


@profile.command("history")
@click.argument("iccid", callback=params.iccid_param)
@history_option
@json_option
def history(iccid: str, history_path: str | None, as_json: bool) -> None:
    """Every status change of profile ICCID, oldest first."""
    def body(store: HistoryStore) -> tuple[dict, list[str]]:
        changes = store.history(iccid)
        lines = change_table(changes) if changes else [f"no status change recorded for {iccid}"]
        return {"iccid": iccid, "changes": [change_json(c) for c in changes]}, lines

    run_with_history("profile history", history_path, as_json, body)


@profile.command("list")
@click.option("--status", type=click.Choice([str(s) for s in Status], case_sensitive=False),
              help="Only profiles whose latest status is this.")
@click.option("--eid", callback=params.eid_param, help="Only profiles on this eUICC.")
@history_option
@json_option
def list_profiles(status: str | None, eid: str | None, history_path: str | None, as_json: bool) -> None:
    """The latest status of every profile the engine has touched."""
    def body(store: HistoryStore) -> tuple[dict, list[str]]:
        records = store.profiles(status=status.upper() if status else None, eid=eid)
        lines = record_table(records) if records else ["no profile matches"]
        return {"profiles": [record_json(r) for r in records]}, lines

    run_with_history("profile list", history_path, as_json, body)


def run_with_history(command: str, history_path: str | None, as_json: bool,
                     body: Callable[[HistoryStore], tuple[dict, list[str]]]) -> None:
    """Open the store, run ``body``, print its answer (lines, or one JSON object), exit."""
    ctx = click.get_current_context()
    path = history_path or default_location()
    try:
        try:
            if not is_postgresql(path) and not sqlite_path(path).is_file():
                raise BadInputError(f"no profile status history at {path}: the engine's workers write it; "
                                    f"give --history or {ENV_HISTORY}")
            store = open_history(path)
        except OSError as error:  # a name too long, a directory, no permission
            raise BadInputError(f"cannot open the profile status history {path[:100]}: {error.strerror}") from None
        try:
            document, lines = body(store)
        finally:
            store.close()
    except EsimError as error:
        code = ExitCode.USAGE if isinstance(error, BadInputError) else ExitCode.ENGINE_FAILURE
        if as_json:
            click.echo(json.dumps({"ok": False, "command": command,
                                   "error": {"kind": error.kind, "message": error.message,
                                             "retryable": error.retryable}}, indent=2))
        else:
            click.echo(f"error: {error.message}", err=True)
        ctx.exit(int(code))
    if as_json:
        click.echo(json.dumps({"ok": True, "command": command, **document, "error": None}, indent=2))
    else:
        for line in lines:
            click.echo(line)
    ctx.exit(int(ExitCode.OK))


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def change_json(change: StatusChange) -> dict:
    return {"at": change.at.isoformat(), "iccid": change.iccid, "eid": change.eid,
            "from": str(change.from_status) if change.from_status else None, "to": str(change.to_status),
            "operation": change.operation, "workflow_id": change.workflow_id, "error_reason": change.error_reason,
            "drift": change.drift}


def record_json(record: ProfileRecord) -> dict:
    return {"iccid": record.iccid, "status": str(record.status), "at": record.at.isoformat(), "eid": record.eid,
            "operation": record.operation, "workflow_id": record.workflow_id, "error_reason": record.error_reason}


def change_table(changes: list[StatusChange], *, with_iccid: bool = False) -> list[str]:
    header = ("TIME (UTC)", *(("ICCID",) if with_iccid else ()), "FROM", "TO", "OPERATION", "EID", "WORKFLOW",
              "ERROR")
    rows = [header]
    for c in changes:
        rows.append((_time(c.at), *((c.iccid,) if with_iccid else ()), str(c.from_status or "-"),
                     f"{c.to_status} (drift)" if c.drift else str(c.to_status),
                     c.operation, c.eid or "-", c.workflow_id or "-", c.error_reason or "-"))
    return table(rows)


def record_table(records: list[ProfileRecord]) -> list[str]:
    rows = [("ICCID", "STATUS", "SINCE (UTC)", "EID", "OPERATION", "ERROR")]
    rows += [(r.iccid, str(r.status), _time(r.at), r.eid or "-", r.operation, r.error_reason or "-") for r in records]
    return table(rows)


def table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
