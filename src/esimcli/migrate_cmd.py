"""``esimflow migrate``: start, watch, steer and report bulk fleet migrations.

Every subcommand prints one JSON object with ``--json``::

    {"ok": true, "command": "migrate status", "migration_id": "mig-…", "status": {...}, "error": null}

``status`` is the migration's ``status`` query (counts per outcome, in flight, rate, ETA);
``start`` adds ``line_errors`` when the fleet file does not validate. Exit codes as every
esimflow command (docs/cli.md): 0 ok; 1 the migration refused the request or (with ``--watch``)
ended aborted, cancelled or rejected; 2 bad usage or an invalid fleet file; 3 Temporal
unreachable; 5 the engine failed; 130 interrupted (the migration keeps running).
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from esimflow.client import AnswerRefusedError
from esimflow.contract import WORKFLOW_TASK_QUEUE
from esimflow.migration.client import (
    MigrationControl, check_migration_id, start_migration, validate_fleet,
)
from esimflow.migration.model import MIGRATION_TASK_QUEUE, MigrationPolicy

from esimcli.connection import ConnectionFlags, temporal_options
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure
from esimcli.questions import CONFIRMATION_CODE_ENV, Responder, answer_when_asked
from esimcli.migrate_output import Output, engine_call, status_lines, watch_exit, watch_progress
from esimcli.secrets import Redactor

WATCH_SECONDS = 1.0


@click.group()
def migrate() -> None:
    """Migrate a fleet of eUICCs from their current profile to a target profile.

    The fleet file is CSV (with a header) or JSON lines with the columns eid, device,
    current_iccid, and activation_code and/or target_iccid (docs/migration.md)."""


_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
_id_argument = click.argument("migration_id")


def _policy_options(command):
    options = [
        click.option("--concurrency", type=click.IntRange(min=1), default=10, show_default=True,
                     help="Devices migrated at the same time."),
        click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
                     help="At most this many device migrations started per second."),
        click.option("--canary", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Migrate this many devices first, then wait for `migrate approve`."),
        click.option("--no-canary-approval", is_flag=True,
                     help="Go on after the canary batch without approval unless its failure rate "
                          "passes the threshold."),
        click.option("--failure-window", type=click.IntRange(min=1), default=20, show_default=True,
                     help="Devices the failure rate is measured over."),
        click.option("--failure-threshold", type=click.FloatRange(0, 1), default=0.25, show_default=True,
                     help="Abort when more than this share of the window failed or rolled back."),
        click.option("--no-rollback", is_flag=True,
                     help="Leave a device as it is on failure instead of re-enabling the old profile."),
        click.option("--delete-old/--keep-old", default=False, show_default=True,
                     help="Delete the old profile once the target is enabled and verified."),
        click.option("--dry-run", is_flag=True,
                     help="Check every device and preview every target; change nothing."),
        click.option("--accept-policy-rules", is_flag=True,
                     help="The targets' profile policy rules are accepted in advance (isPprAllowed)."),
        click.option("--connectivity-check", metavar="ACTIVITY",
                     help="Activity to call after the switch; its failure rolls the device back."),
        click.option("--connectivity-queue", metavar="QUEUE",
                     help="Task queue of the connectivity check (default: the card host's)."),
        click.option("--skip-invalid", is_flag=True, help="Start with the valid lines when some are invalid."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@migrate.command("start")
@click.argument("fleet_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "migration_id", help="Migration id (default: derived from the fleet file, so starting "
                                           "the same file again resumes it).")
@_policy_options
@click.option("--watch", is_flag=True, help="Follow the progress until the migration ends.")
@click.option("--task-queue", default=MIGRATION_TASK_QUEUE, show_default=True, help="Migration worker queue.")
@click.option("--engine-task-queue", default=WORKFLOW_TASK_QUEUE, show_default=True,
              help="Engine workflow queue the operations run on.")
@_json_option
@temporal_options
def start(fleet_file: Path, migration_id: str | None, concurrency: int, rate: float, canary: int,
          no_canary_approval: bool, failure_window: int, failure_threshold: float, no_rollback: bool,
          delete_old: bool, dry_run: bool, accept_policy_rules: bool, connectivity_check: str | None,
          connectivity_queue: str | None, skip_invalid: bool, watch: bool, task_queue: str,
          engine_task_queue: str, as_json: bool, connection: ConnectionFlags) -> None:
    """Validate FLEET_FILE (every bad line is reported) and start its migration."""
    policy = MigrationPolicy(
        max_concurrency=concurrency, max_starts_per_second=rate, canary_size=canary,
        canary_approval=not no_canary_approval, failure_window=failure_window,
        failure_threshold=failure_threshold, rollback=not no_rollback, delete_old=delete_old, dry_run=dry_run,
        accept_policy_rules=accept_policy_rules, connectivity_check=connectivity_check,
        connectivity_task_queue=connectivity_queue, skip_invalid_lines=skip_invalid)
    out = Output("migrate start", as_json)

    async def body() -> ExitCode:
        validate_fleet(fleet_file, policy)  # every bad line, before anything else (no server needed)
        if migration_id:
            check_migration_id(migration_id)
        client = await out.client(connection)
        started = await engine_call(start_migration(client, fleet_file, policy, migration_id=migration_id,
                                                task_queue=task_queue, engine_task_queue=engine_task_queue))
        skipped = len(started.fleet.errors)
        if not as_json:
            click.echo(f"migration {started.migration_id} started: {len(started.fleet.entries)} devices"
                       + (f" ({skipped} invalid lines skipped)" if skipped else "")
                       + (" [dry run]" if dry_run else ""))
            click.echo(f"  follow it:  esimflow migrate status {started.migration_id} --watch", err=True)
        if not watch:
            out.document(started.migration_id, None, extra={"devices": len(started.fleet.entries),
                                                             "search_attributes": started.search_attributes})
            return ExitCode.OK
        status = await watch_progress(MigrationControl(client, started.migration_id), as_json)
        out.document(started.migration_id, status)
        return watch_exit(status)

    out.run(body, line_errors=True)


@migrate.command("status")
@_id_argument
@click.option("--watch", is_flag=True, help="Show a live progress bar until the migration ends.")
@_json_option
@temporal_options
def status(migration_id: str, watch: bool, as_json: bool, connection: ConnectionFlags) -> None:
    """Counts per outcome, devices in flight, rate and ETA of migration MIGRATION_ID."""
    out = Output("migrate status", as_json)

    async def body() -> ExitCode:
        control = MigrationControl(await out.client(connection), migration_id)
        if watch:
            current = await watch_progress(control, as_json)
            out.document(migration_id, current)
            return watch_exit(current)
        current = await engine_call(control.status(), migration_id)
        if not as_json:
            for line in status_lines(current):
                click.echo(line)
        out.document(migration_id, current)
        return ExitCode.OK

    out.run(body)


def _control_command(name: str, help_text: str, action):
    @migrate.command(name, help=help_text)
    @_id_argument
    @_json_option
    @temporal_options
    def command(migration_id: str, as_json: bool, connection: ConnectionFlags, **options: Any) -> None:
        out = Output(f"migrate {name}", as_json)

        async def body() -> ExitCode:
            control = MigrationControl(await out.client(connection), migration_id)
            current = await engine_call(action(control, **options), migration_id)
            if not as_json:
                click.echo(f"{migration_id}: {name} accepted")
                for line in status_lines(current):
                    click.echo(line)
            out.document(migration_id, current)
            return ExitCode.OK

        out.run(body)

    return command


_control_command("pause", "Start no more devices (those in flight finish).", lambda c: c.pause())
_control_command("resume", "Start devices again after a pause.", lambda c: c.resume())
click.option("--rollback", is_flag=True, help="Devices in flight that have not switched yet stop and stay "
                                               "on their old profile (default: they finish).")(
    _control_command("cancel", "Cancel gracefully: start no more devices; those in flight finish.",
                     lambda c, rollback: c.cancel(rollback)))
click.option("--reject", is_flag=True, help="Reject the canary batch: the migration ends aborted.")(
    _control_command("approve", "Approve the canary batch so the rest of the fleet starts.",
                     lambda c, reject: c.approve(not reject)))


@migrate.command("answer")
@_id_argument
@click.argument("device_index", type=click.IntRange(min=0))
@click.option("--confirmation-code", envvar=CONFIRMATION_CODE_ENV, show_envvar=True, metavar="CODE",
              help="The code, if the SM-DP+ asks for one (prefer the environment or the prompt).")
@click.option("--accept-policy-rules", is_flag=True, help="Consent to the profile and its policy rules.")
@click.option("--wait", "wait_seconds", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="How long to wait for the device's download to ask.")
@_json_option
@temporal_options
def answer(migration_id: str, device_index: int, confirmation_code: str | None, accept_policy_rules: bool,
           wait_seconds: float, as_json: bool, connection: ConnectionFlags) -> None:
    """Answer what device DEVICE_INDEX's download asks (a confirmation code, consent) while it
    runs under its hold; on a terminal the question is shown and asked."""
    out = Output("migrate answer", as_json)
    responder = Responder(interactive=sys.stdin.isatty(), redactor=Redactor(), confirmation_code=confirmation_code,
                          accept_policy_rules=accept_policy_rules)

    async def body() -> ExitCode:
        device = MigrationControl(await out.client(connection), migration_id).device(device_index)
        try:
            progress = await engine_call(answer_when_asked(device, responder, wait_seconds=wait_seconds), migration_id)
        except AnswerRefusedError as refused:
            raise CliFailure(ExitCode.OPERATION_FAILED, refused.kind, refused.message) from None
        if progress is None:
            raise CliFailure(ExitCode.OPERATION_FAILED, "migration.nothing_asked",
                             f"device {device_index} of {migration_id} asked nothing within {wait_seconds:g} s")
        if not as_json:
            click.echo(responder.hint or f"{migration_id} device {device_index}: {progress.phase}")
        out.document(migration_id, None, extra={"device": device_index, "progress": dataclasses.asdict(progress)})
        return ExitCode.OK

    out.run(body)


click.argument("max_concurrency", type=click.IntRange(min=1))(
    _control_command("concurrency", "Change how many devices are migrated at the same time.",
                     lambda c, max_concurrency: c.set_concurrency(max_concurrency)))


@migrate.command("report")
@_id_argument
@click.option("--out", "out_file", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True,
              help="Where to write the report (.csv or .json).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), help="Default: from the file extension.")
@click.option("--store", "store_path", envvar="ESIMFLOW_MIGRATIONS", show_envvar=True,
              help="Migration store: a SQLite file or postgresql://... (default: the history's PostgreSQL "
                   "database, else migrations.sqlite3 in the esimflow state dir).")
@_json_option
def report_command(migration_id: str, out_file: Path, fmt: str | None, store_path: str | None,
                   as_json: bool) -> None:
    """Write every device's outcome and reason (never an activation code) to --out."""
    from esimflow.migration.report import write_report
    from esimflow.database import is_postgresql, sqlite_path
    from esimflow.migration.store import default_location, open_store

    out = Output("migrate report", as_json)

    async def body() -> ExitCode:
        path = store_path or default_location()
        if not is_postgresql(path) and not sqlite_path(path).is_file():
            raise CliFailure(ExitCode.USAGE, "migration.store",
                             f"no migration store at {path}: give --store (the migration worker's file)")
        store = open_store(path)
        try:
            document = write_report(store, migration_id, out_file, fmt)
        finally:
            store.close()
        summary = document["migration"]["outcomes"]
        if not as_json:
            click.echo(f"{len(document['devices'])} devices written to {out_file}: "
                       + ", ".join(f"{name} {count}" for name, count in sorted(summary.items())))
        out.document(migration_id, None, extra={"out": str(out_file), "outcomes": summary,
                                                "state": document["migration"]["state"]})
        return ExitCode.OK

    out.run(body)
