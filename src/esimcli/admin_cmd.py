"""``esimflow admin entity show|skip|drain EID``: an operator's hands on one eUICC's entity.

``show`` prints where the entity lives and what it does (its task queue, the operation running,
those waiting, the holds granted); ``skip`` ends the running operation as failed with a reason,
once the card step in flight has finished (a hold is dropped); ``drain`` makes the entity accept
nothing new, finish its queue and end.
"""
from __future__ import annotations

import asyncio
import dataclasses
import gc
import json

import click
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from esimflow import contract
from esimflow.client import drain_entity, entity_status, skip_current

from esimcli import params
from esimcli.connection import ConnectionFlags, connect, owned_runtime, temporal_options
from esimcli.driver import engine_call
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group()
def admin() -> None:
    """Operator tools."""


@admin.group()
def entity() -> None:
    """The entity workflow of one eUICC (euicc-<EID>), which runs its operations one at a time."""


def status_lines(status: contract.EntityStatus) -> list[str]:
    lines = [f"entity   {contract.euicc_workflow_id(status.eid)}",
             f"queue    {status.task_queue}"
             + (f" (moves to {status.requested_task_queue} when idle)" if status.requested_task_queue else ""),
             f"current  {status.running or '-'}"]
    lines += [f"waiting  {workflow_id}" for workflow_id in status.queued] or ["waiting  -"]
    lines.append(f"holds    {', '.join(status.holds) or '-'}")
    lines.append(f"done     {status.completed} operations" + ("; draining" if status.draining else ""))
    return lines


def _run(eid: str, as_json: bool, connection: ConnectionFlags, action) -> None:
    async def body() -> contract.EntityStatus:
        client = await connect(connection, runtime)
        return await engine_call(_refusal(action(client)))

    runtime = owned_runtime()
    try:
        status = asyncio.run(_mapped(body(), eid))
    except CliFailure as failure:
        if as_json:
            click.echo(json.dumps({"ok": False, "error": {"kind": failure.kind, "message": failure.message}}))
        else:
            click.echo(f"error: {failure.message}", err=True)
        raise SystemExit(int(failure.exit_code)) from None
    finally:
        runtime = None
        gc.collect()  # the client and its runtime, while Python can still stop their threads
    if as_json:
        click.echo(json.dumps({"ok": True, "entity": dataclasses.asdict(status)}, indent=2))
    else:
        for line in status_lines(status):
            click.echo(line)


async def _refusal(awaitable):
    """The entity saying no (nothing to skip, already draining) is an answer, not a failure."""
    try:
        return await awaitable
    except WorkflowUpdateFailedError as error:
        raise CliFailure(ExitCode.OPERATION_FAILED, "entity.refused",
                         getattr(error.cause, "message", None) or str(error.cause)) from None


async def _mapped(awaitable, eid: str):
    try:
        return await awaitable
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND and "namespace" not in error.message.lower():
            raise CliFailure(ExitCode.USAGE, "entity.not_running", f"no entity is running for eUICC {eid}") from None
        raise


@entity.command("show")
@click.argument("eid", callback=params.eid_param)
@json_option
@temporal_options
def show(eid: str, as_json: bool, connection: ConnectionFlags) -> None:
    """The entity's task queue, current operation, waiting operations and holds."""
    _run(eid, as_json, connection, lambda client: entity_status(client, eid))


@entity.command("skip")
@click.argument("eid", callback=params.eid_param)
@click.option("--reason", required=True, help="Why: the skipped operation's failure message names it.")
@json_option
@temporal_options
def skip(eid: str, reason: str, as_json: bool, connection: ConnectionFlags) -> None:
    """End the running operation as failed (after its card step in flight), or drop its hold."""
    _run(eid, as_json, connection, lambda client: skip_current(client, eid, reason))


@entity.command("drain")
@click.argument("eid", callback=params.eid_param)
@json_option
@temporal_options
def drain(eid: str, as_json: bool, connection: ConnectionFlags) -> None:
    """Accept no new operation, finish those waiting, then end (the next submit starts it again)."""
    _run(eid, as_json, connection, lambda client: drain_entity(client, eid))
