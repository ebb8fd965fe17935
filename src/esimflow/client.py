"""Submitting and following operations: the client side of :mod:`esimflow.contract`.

``start_operation``/``run_operation`` send an operation to its eUICC's entity workflow
(update-with-start of ``euicc-<EID>``), which runs it in turn; ``OperationHandle`` awaits its
result, reads its progress and answers its questions. Never imported by workflow code: it is
the Temporal client's side.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from sgp22.errors import EsimError
from sgp22.masking import check_no_secret

from esimflow.contract import (
    ENTITY_WORKFLOW, LOAD_STEP, QUERY_PROGRESS, QUERY_QUEUE, UNSERIALISED_OPERATIONS, UPDATE_DECLINE,
    UPDATE_DRAIN, UPDATE_GIVE_CONSENT, UPDATE_HOLD, UPDATE_PROVIDE_CONFIRMATION_CODE, UPDATE_SKIP,
    UPDATE_SUBMIT, WORKFLOW_TASK_QUEUE, CancelReason, ConfirmationCodeInput, ConsentInput, DeclineInput,
    EntityInput, EntityStatus, HoldGrant, HoldRequest, OperationRequest, OperationResult, Progress, SkipRequest,
    euicc_workflow_id, operation_name, operation_workflow_id,
)


class OperationHandle:
    """A submitted operation: await its result, watch its progress, answer its questions."""

    def __init__(self, client: Client, operation: str, eid: str, workflow_id: str,
                 await_result: Callable[[], Awaitable[OperationResult]]) -> None:
        self.client = client
        self.operation = operation
        self.eid = eid
        self.workflow_id = workflow_id
        self._await_result = await_result

    async def result(self) -> OperationResult:
        return await self._await_result()

    async def progress(self) -> Progress:
        """The operation's progress; ``phase == "queued"`` while it waits for its turn."""
        handle = self.client.get_workflow_handle(self.workflow_id)
        try:
            progress: Progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return Progress(operation=self.operation)
            raise
        if progress.phase == "installing":
            live = await _segments_reported(self.client, handle)
            if live is not None:
                progress.segments_done, progress.segments_total = live
        return progress

    async def provide_confirmation_code(self, code: str) -> Progress:
        return await self._update(UPDATE_PROVIDE_CONFIRMATION_CODE, ConfirmationCodeInput(code))

    async def give_consent(self, accept_policy_rules: bool = True) -> Progress:
        return await self._update(UPDATE_GIVE_CONSENT, ConsentInput(accept_policy_rules))

    async def decline(self, reason: CancelReason = CancelReason.END_USER_REJECTION) -> Progress:
        return await self._update(UPDATE_DECLINE, DeclineInput(int(reason)))

    async def _update(self, name: str, arg: Any) -> Progress:
        handle = self.client.get_workflow_handle(self.workflow_id)
        try:
            answer: Progress = await handle.execute_update(name, arg, result_type=Progress)
            return answer
        except WorkflowUpdateFailedError as error:
            cause = getattr(error.cause, "message", None) or str(error.cause)
            raise AnswerRefusedError(f"{self.operation} refused {name}: {cause}") from None


async def _segments_reported(client: Client, handle: WorkflowHandle[Any, Any]) -> tuple[int, int] | None:
    """The segment count LoadBoundProfilePackage last reported in its heartbeat (the server
    keeps it with the pending activity), or None while it has reported none."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name == LOAD_STEP and pending.heartbeat_details.payloads:
            details = await client.data_converter.decode(pending.heartbeat_details.payloads, [int, int])
            if len(details) == 2:
                return int(details[0]), int(details[1])
    return None


class AnswerRefusedError(EsimError):
    """The operation was not waiting for that answer (already answered, or never asked)."""

    kind = "engine.answer_refused"


async def start_operation(client: Client, op_input: Any, *, operation_id: str | None = None,
                          task_queue: str = WORKFLOW_TASK_QUEUE, accept_timeout: float | None = None,
                          ) -> OperationHandle:
    """Submit an operation to its eUICC's entity workflow (starting the entity if needed).

    Returns once the entity has accepted it; the operation itself may still be queued behind
    others on the same eUICC. Submitting an ``operation_id`` again (a retry after a lost
    answer) never runs the operation twice: it gets the first result.
    """
    operation = operation_name(op_input)
    # the workflow and update ids are plain text on the server: no matching ID in them
    operation_id = check_no_secret(operation_id, "operation id") if operation_id else uuid.uuid4().hex[:12]
    if operation in UNSERIALISED_OPERATIONS:
        key = check_no_secret(getattr(op_input, "device", "") or "all", "device name")
        workflow_id = operation_workflow_id(operation, key, operation_id)
        handle = await client.start_workflow(
            operation, op_input, id=workflow_id, task_queue=task_queue, result_type=OperationResult
        )
        return OperationHandle(client, operation, key, workflow_id, handle.result)

    eid = check_no_secret(op_input.eid, "EID")
    workflow_id = operation_workflow_id(operation, eid, operation_id)
    request = OperationRequest(operation, operation_id, dataclasses.asdict(op_input), task_queue=task_queue)
    # the operation id is the update id: a retried submit (a lost answer) is the same update
    update = await _accepted(client, eid, task_queue, accept_timeout, lambda start, rpc_timeout: (
        client.start_update_with_start_workflow(
            UPDATE_SUBMIT, request, id=operation_id, start_workflow_operation=start,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=OperationResult, rpc_timeout=rpc_timeout)))
    return OperationHandle(client, operation, eid, workflow_id,
                           lambda: _first_result(client, workflow_id, update.result))


async def hold_euicc(client: Client, request: HoldRequest, *,
                     task_queue: str = WORKFLOW_TASK_QUEUE, accept_timeout: float | None = None) -> HoldGrant:
    """Wait for exclusive use of the eUICC (starting its entity if needed); release it with the
    ``release`` signal to ``euicc-<EID>`` carrying the hold id."""
    update = await _accepted(client, request.eid, task_queue, accept_timeout, lambda start, rpc_timeout: (
        client.start_update_with_start_workflow(
            UPDATE_HOLD, request, id=request.hold_id, start_workflow_operation=start,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=HoldGrant, rpc_timeout=rpc_timeout)))
    grant: HoldGrant = await update.result()
    return grant


async def entity_status(client: Client, eid: str) -> EntityStatus:
    """``admin entity show``: the eUICC entity's queue, current operation, waiting operations
    and holds."""
    status: EntityStatus = await client.get_workflow_handle(euicc_workflow_id(eid)).query(
        QUERY_QUEUE, result_type=EntityStatus)
    return status


async def skip_current(client: Client, eid: str, reason: str) -> EntityStatus:
    """``admin entity skip``: end the operation running on the eUICC as failed with ``reason``
    (once its card step in flight has finished), or drop the hold it is in; returns the
    entity's status afterwards."""
    status: EntityStatus = await client.get_workflow_handle(euicc_workflow_id(eid)).execute_update(
        UPDATE_SKIP, SkipRequest(reason), result_type=EntityStatus)
    return status


async def drain_entity(client: Client, eid: str) -> EntityStatus:
    """``admin entity drain``: the entity accepts nothing new, finishes its queue and ends."""
    status: EntityStatus = await client.get_workflow_handle(euicc_workflow_id(eid)).execute_update(
        UPDATE_DRAIN, result_type=EntityStatus)
    return status


ACCEPT_TIMEOUT_ENV = "ESIMFLOW_ACCEPT_TIMEOUT"
DEFAULT_ACCEPT_TIMEOUT = 60.0


class EntityUnreachableError(EsimError):
    """No worker took the submit: the eUICC's entity lives on a task queue nobody polls (a
    worker gone, or a queue that never had one). Retrying the same call cannot help; starting a
    worker on that queue does."""

    kind = "engine.queue_unpolled"
    retryable = False


EntityStart = WithStartWorkflowOperation[Any, Any]
Submit = Callable[[EntityStart, timedelta], Awaitable[WorkflowUpdateHandle[Any]]]


async def _accepted(client: Client, eid: str, requested_queue: str, timeout: float | None,
                    submit: Submit) -> WorkflowUpdateHandle[Any]:
    """``submit(entity start, rpc timeout)``'s update handle once the entity accepted it, or
    :class:`EntityUnreachableError` after ``timeout`` seconds (default ``ESIMFLOW_ACCEPT_TIMEOUT``
    or 60): an entity whose queue no worker polls would keep the caller waiting forever."""
    if timeout is None:
        timeout = float(os.environ.get(ACCEPT_TIMEOUT_ENV) or DEFAULT_ACCEPT_TIMEOUT)
    start = await _entity_start(client, eid, requested_queue)
    try:
        return await asyncio.wait_for(
            _with_entity_start_failure(client, eid, start, submit(start, timedelta(seconds=timeout))), timeout)
    except (asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        with contextlib.suppress(BaseException):  # the start's own outcome: taken, not left unretrieved
            await asyncio.wait_for(start.workflow_handle(), 1)
        queue = await _entity_queue(client, eid) or requested_queue
        raise EntityUnreachableError(
            f"no worker took the request for eUICC {eid} within {timeout:g} s: its entity runs on task queue "
            f"{queue!r}, which no worker polls; start a worker on {queue!r}") from None


async def _entity_queue(client: Client, eid: str) -> str | None:
    try:
        return (await client.get_workflow_handle(euicc_workflow_id(eid)).describe()).task_queue
    except Exception:  # not there (never started), or the server cannot tell: name the requested queue
        return None


async def _entity_start(client: Client, eid: str, task_queue: str) -> EntityStart:
    """The eUICC's entity workflow, started with the submit or hold if it is not running."""
    return WithStartWorkflowOperation(
        ENTITY_WORKFLOW, EntityInput(eid),
        id=euicc_workflow_id(eid), id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, task_queue=task_queue)


async def _with_entity_start_failure(client: Client, eid: str, start: EntityStart, submit: Awaitable[Any]) -> Any:
    """The submit, or, when the entity it started failed at once (input under a payload key the
    workers lack: ``codec.unknown_key``), that failure instead of the server's "update aborted"."""
    try:
        return await submit
    except RPCError:
        with contextlib.suppress(RPCError):  # the start's own outcome, the same error
            await start.workflow_handle()
        entity = client.get_workflow_handle(euicc_workflow_id(eid))
        try:
            failed = (await entity.describe()).status == WorkflowExecutionStatus.FAILED
            if failed:
                await entity.result()
        except WorkflowFailureError as failure:
            if failure.cause is not None:
                raise failure.cause from None
        except RPCError:
            pass
        raise


OWN_RESULT_FIRST_POLL = 0.002
OWN_RESULT_MAX_POLL = 0.5


async def _first_result(client: Client, workflow_id: str,
                        entity_answer: Callable[[], Awaitable[OperationResult]]) -> OperationResult:
    """The operation's result, from whichever comes first: the operation workflow's own
    completion, or the entity's answer to the submit (the same result, one entity workflow task
    later: about 7 ms on a quiet dev server). The entity's answer stands whenever the operation
    did not end with a result of its own (terminated, or answered by the entity alone)."""
    answer = asyncio.ensure_future(entity_answer())
    own = asyncio.ensure_future(_own_result(client, workflow_id))
    try:
        done, _ = await asyncio.wait({answer, own}, return_when=asyncio.FIRST_COMPLETED)
        mine = own.result() if own in done and own.exception() is None else None
        return mine if mine is not None else await answer
    finally:
        for task in (answer, own):
            if not task.done():
                task.cancel()
                task.add_done_callback(_consume)


def _consume(task: asyncio.Future[Any]) -> None:
    """A race's loser ends in a cancellation error nobody needs to see."""
    if not task.cancelled():
        task.exception()


async def _own_result(client: Client, workflow_id: str) -> OperationResult | None:
    """The operation workflow's result once it ends; None when it ends without one. While it is
    queued at the entity (not started yet) it is looked for again with a growing pause."""
    handle = client.get_workflow_handle(workflow_id, result_type=OperationResult)
    pause = OWN_RESULT_FIRST_POLL
    while True:
        try:
            result: OperationResult = await handle.result()
            return result
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                return None
        except WorkflowFailureError:
            return None
        await asyncio.sleep(pause)
        pause = min(pause * 2, OWN_RESULT_MAX_POLL)


async def run_operation(client: Client, op_input: Any, **kwargs: Any) -> OperationResult:
    """Submit an operation and wait for its ``OperationResult``."""
    handle = await start_operation(client, op_input, **kwargs)
    return await handle.result()
