"""Submitting one operation to the engine and following it to its result.

The event loop runs only between the user's questions (``asyncio.Runner``), so a prompt reads
the terminal like any other program and Ctrl-C behaves: at a prompt it declines, while waiting
it leaves the durable operation running and says so.
"""
from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from esimflow import contract
from esimflow.client import OperationHandle, start_operation
from sgp22.errors import EsimError

from esimcli.connection import ConnectionFlags, connect, owned_runtime
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure
from esimcli.progress import ProgressDisplay
from esimcli.questions import Responder

T = TypeVar("T")

POLL_SECONDS = 0.5
QUERY_SECONDS = 2.0
# After this long without being accepted or started, the likeliest cause is no worker serving
# the eUICC; say so instead of sitting silent until --timeout.
HINT_AFTER_SECONDS = 10.0

_UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED}


class OperationDriver:
    def __init__(self, connection: ConnectionFlags, *, display: ProgressDisplay, responder: Responder,
                 timeout: float) -> None:
        self._connection = connection
        self._display = display
        self._responder = responder
        self._timeout = timeout
        self._workflow_id = ""

    def run(self, op_input: Any) -> contract.OperationResult:
        try:
            return self._run(op_input, owned_runtime())
        finally:
            # The client and its runtime are unreachable now; collect them (and any cycle
            # through a finished task) while Python can still shut their threads down.
            gc.collect()

    def _run(self, op_input: Any, runtime) -> contract.OperationResult:
        deadline = time.monotonic() + self._timeout
        with asyncio.Runner() as runner:
            try:
                client = runner.run(connect(self._connection, runtime))
                handle = runner.run(self._submit(client, op_input, deadline))
                self._workflow_id = handle.workflow_id
                return self._follow(runner, handle, deadline)
            except KeyboardInterrupt:
                raise CliFailure(
                    ExitCode.INTERRUPTED, "cli.interrupted",
                    "interrupted: the operation keeps running in Temporal" if self._workflow_id
                    else "interrupted before the operation was accepted",
                    workflow_id=self._workflow_id,
                ) from None
            finally:
                self._display.finish()

    async def _submit(self, client, op_input: Any, deadline: float) -> OperationHandle:
        submit = asyncio.ensure_future(engine_call(start_operation(client, op_input)))
        if not await self._wait(submit, deadline, HINT_AFTER_SECONDS):
            self._display.note(
                "no worker has accepted the operation yet: is `esimflow worker` running "
                "for this eUICC, on this namespace?"
            )
            if not await self._wait(submit, deadline, None):
                submit.cancel()
                raise CliFailure(ExitCode.TIMED_OUT, "cli.timeout",
                                 f"no worker accepted the operation within {self._timeout:g} s",
                                 retryable=True)
        return submit.result()

    def _follow(self, runner: asyncio.Runner, handle: OperationHandle, deadline: float) -> contract.OperationResult:
        result = runner.run(_spawn(engine_call(handle.result())))
        queued_since = time.monotonic()
        hinted = False
        while True:
            progress = runner.run(self._next_progress(handle, result, deadline))
            if progress is None:
                return result.result()
            self._display.show(progress)
            if progress.phase != "queued":
                queued_since = time.monotonic()
            elif not hinted and time.monotonic() - queued_since > HINT_AFTER_SECONDS:
                self._display.note("still queued: another operation holds this eUICC, or no worker serves it")
                hinted = True
            if progress.awaiting:
                self._display.finish()  # a prompt starts on a line of its own
            answer = self._responder.answer(progress)  # may prompt: outside the event loop
            if answer is not None:
                try:
                    runner.run(engine_call(answer(handle)))
                except CliFailure as failure:
                    if failure.exit_code == ExitCode.TEMPORAL_UNREACHABLE:
                        raise
                    # The operation moved on (or ended) before the answer arrived: its result says how.
                    self._display.note(f"answer not taken: {failure.message}")

    async def _next_progress(self, handle: OperationHandle, result: asyncio.Future,
                             deadline: float) -> contract.Progress | None:
        """The current progress, or None once the result is in."""
        if await self._wait(result, deadline, POLL_SECONDS):
            return None
        if deadline <= time.monotonic():
            raise CliFailure(ExitCode.TIMED_OUT, "cli.timeout",
                             f"no result within {self._timeout:g} s; the operation may still finish",
                             retryable=True, workflow_id=handle.workflow_id)
        try:
            return await asyncio.wait_for(handle.progress(), QUERY_SECONDS)
        except (asyncio.TimeoutError, RPCError):
            # No worker answered the query in time (busy, or between tasks): keep waiting.
            return contract.Progress(operation=handle.operation, phase="waiting for a worker")

    @staticmethod
    async def _wait(future: asyncio.Future, deadline: float, at_most: float | None) -> bool:
        remaining = max(deadline - time.monotonic(), 0.0)
        done, _ = await asyncio.wait({future}, timeout=remaining if at_most is None else min(at_most, remaining))
        return bool(done)


async def _spawn(awaitable: Awaitable[T]) -> asyncio.Future:
    """A task that keeps running across ``Runner.run`` calls."""
    return asyncio.ensure_future(awaitable)


async def engine_call(awaitable: Awaitable[T]) -> T:
    """Temporal's exceptions, as exit codes a user can act on."""
    try:
        return await awaitable
    except RPCError as error:
        if error.status in _UNREACHABLE or (error.status == RPCStatusCode.NOT_FOUND and "namespace" in error.message.lower()):
            raise CliFailure(ExitCode.TEMPORAL_UNREACHABLE, "temporal.unreachable",
                             f"Temporal refused the call: {error.message}", retryable=True) from None
        raise CliFailure(ExitCode.ENGINE_FAILURE, "temporal.rpc", f"Temporal call failed: {error.message}") from None
    except (WorkflowFailureError, WorkflowUpdateFailedError) as error:
        cause = error.cause
        message = getattr(cause, "message", None) or str(cause or error)
        raise CliFailure(ExitCode.ENGINE_FAILURE, getattr(cause, "type", None) or "engine.failed",
                         f"the engine ended the operation without a result: {message}") from None
    except EsimError as error:  # e.g. no worker polls the entity's queue: one line, no traceback
        raise CliFailure(ExitCode.ENGINE_FAILURE, error.kind, error.message, retryable=error.retryable) from None
    except ApplicationError as error:  # the submit itself failed (codec.unknown_key)
        raise CliFailure(ExitCode.ENGINE_FAILURE, error.type or "engine.failed", error.message) from None
