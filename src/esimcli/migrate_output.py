"""What a ``migrate`` command shows and answers: a migration's status as lines and a progress
bar, one JSON document per invocation (``--json``), and Temporal's answers and failures as exit
codes. Apart from the commands (``esimcli.migrate_cmd``), which say what to do.
"""
from __future__ import annotations

import asyncio
import dataclasses
import gc
import json

import click
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from esimflow.migration.client import FleetInvalidError, MigrationControl
from esimflow.migration.model import MigrationState, MigrationStatus
from sgp22.errors import BadInputError, EsimError

from esimcli.connection import ConnectionFlags, connect, owned_runtime
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure

WATCH_SECONDS = 1.0

BAR_WIDTH = 30
_ENDED_BADLY = (MigrationState.ABORTED, MigrationState.CANCELLED, MigrationState.REJECTED)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress_line(current: MigrationStatus, width: int = BAR_WIDTH) -> str:
    """``[#######.......] 140/200 70%  migrated 120 rolled_back 6 failed 2 skipped 12 | in flight 10 | 4.2/s | ETA 14s``"""
    total = max(current.total, 1)
    done = current.finished
    filled = min(width, int(width * done / total))
    bar = "#" * filled + "." * (width - filled)
    counts = " ".join(f"{name} {count}" for name, count in current.counts.items() if count or name != "already_done")
    return (f"[{bar}] {done}/{current.total} {100 * done // total}%  {counts} | in flight {current.in_flight}"
            f" | {current.rate_per_second:.1f}/s | ETA {_duration(current.eta_seconds)} | {current.state}")


def status_lines(current: MigrationStatus) -> list[str]:
    lines = [
        f"migration: {current.migration_id}" + (" (dry run)" if current.dry_run else ""),
        f"state: {current.state}",
        f"devices: {current.total}" + (f" (+{current.invalid_lines} invalid lines)" if current.invalid_lines else ""),
        "outcomes: " + ", ".join(f"{name} {count}" for name, count in current.counts.items()),
        f"in flight: {current.in_flight} (concurrency {current.concurrency}), not started: {current.pending}",
        f"rate: {current.rate_per_second:.2f} devices/s, ETA {_duration(current.eta_seconds)}",
        f"failure rate (window): {current.failure_rate:.0%}",
    ]
    if current.canary_size:
        lines.append(f"canary: {current.canary_size} devices, "
                     + ("finished" if current.canary_finished else "in progress"))
    if current.state == MigrationState.AWAITING_APPROVAL:
        lines.append(f"waiting for approval: esimflow migrate approve {current.migration_id} (or --reject)")
    if current.abort_reason:
        lines.append(f"reason: {current.abort_reason}")
    lines += [f"  {error}" for error in current.errors]
    return lines


async def watch_progress(control: MigrationControl, as_json: bool) -> MigrationStatus:
    stream = click.get_text_stream("stderr")
    tty = stream.isatty() and not as_json
    last = ""
    while True:
        current = await engine_call(control.status(), control.migration_id)
        line = progress_line(current)
        if line != last:
            if tty:
                stream.write("\r" + line.ljust(len(last)))
            elif not as_json:
                stream.write(line + "\n")
            stream.flush()
            last = line
        if current.is_final:
            if tty:
                stream.write("\n")
            if not as_json:
                for text in status_lines(current):
                    click.echo(text)
            return current
        await asyncio.sleep(WATCH_SECONDS)


def watch_exit(current: MigrationStatus) -> ExitCode:
    return ExitCode.OPERATION_FAILED if current.state in _ENDED_BADLY else ExitCode.OK


async def engine_call(awaitable, migration_id: str | None = None):
    """Temporal's answers as exit codes: a refused update is the migration saying no (1)."""
    try:
        return await awaitable
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        raise CliFailure(ExitCode.OPERATION_FAILED, "migration.refused",
                         getattr(cause, "message", None) or str(cause or error)) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND and migration_id and "namespace" not in error.message.lower():
            raise CliFailure(ExitCode.USAGE, "migration.unknown", f"no migration {migration_id}") from None
        if error.status == RPCStatusCode.ALREADY_EXISTS:
            raise CliFailure(ExitCode.OPERATION_FAILED, "migration.running",
                             "this migration is already running: follow it with `migrate status`") from None
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
            raise CliFailure(ExitCode.TEMPORAL_UNREACHABLE, "temporal.unreachable",
                             f"Temporal refused the call: {error.message}", retryable=True) from None
        raise CliFailure(ExitCode.ENGINE_FAILURE, "temporal.rpc", f"Temporal call failed: {error.message}") from None
    except Exception as error:
        from temporalio.exceptions import WorkflowAlreadyStartedError

        if isinstance(error, WorkflowAlreadyStartedError):
            raise CliFailure(ExitCode.OPERATION_FAILED, "migration.running",
                             "this migration is already running: follow it with `migrate status`") from None
        raise


class Output:
    """One JSON document per invocation (``--json``), the exit code, and failures on stderr."""

    def __init__(self, command: str, as_json: bool) -> None:
        self.command = command
        self.as_json = as_json
        self._printed = False
        self._runtime = None

    async def client(self, connection: ConnectionFlags):
        """A client on a Temporal runtime of this command's own, dropped before Python exits
        (see ``esimcli.connection.owned_runtime``)."""
        if self._runtime is None:
            self._runtime = owned_runtime()
        return await connect(connection, self._runtime)

    def document(self, migration_id: str | None, current: MigrationStatus | None, *, ok: bool = True,
                 error: dict | None = None, extra: dict | None = None) -> None:
        if not self.as_json or self._printed:
            return
        body = {"ok": ok, "command": self.command, "migration_id": migration_id,
                "status": dataclasses.asdict(current) if current is not None else None, "error": error}
        body.update(extra or {})
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        self._printed = True

    def run(self, body, *, line_errors: bool = False) -> None:
        ctx = click.get_current_context()
        try:
            code = self._run(body)
        except KeyboardInterrupt:
            code = self._fail(CliFailure(ExitCode.INTERRUPTED, "cli.interrupted",
                                         "interrupted: the migration keeps running in Temporal"))
        except FleetInvalidError as invalid:
            if not self.as_json:
                for line_error in invalid.errors:
                    click.echo(f"  {line_error}", err=True)
            code = self._fail(CliFailure(ExitCode.USAGE, invalid.kind, invalid.message),
                              extra={"line_errors": [dataclasses.asdict(e) for e in invalid.errors]})
        except CliFailure as failure:
            code = self._fail(failure)
        except EsimError as error:
            exit_code = ExitCode.USAGE if isinstance(error, BadInputError) else ExitCode.ENGINE_FAILURE
            code = self._fail(CliFailure(exit_code, error.kind, error.message, retryable=error.retryable))
        ctx.exit(int(code))

    def _run(self, body) -> ExitCode:
        try:
            return asyncio.run(body())
        finally:
            self._runtime = None
            gc.collect()  # the client and its runtime, while Python can still stop their threads

    def _fail(self, failure: CliFailure, extra: dict | None = None) -> ExitCode:
        if self.as_json:
            self.document(None, None, ok=False, extra=extra,
                          error={"kind": failure.kind, "message": failure.message, "retryable": failure.retryable})
        else:
            click.echo(f"error: {failure.message}", err=True)
        return failure.exit_code

