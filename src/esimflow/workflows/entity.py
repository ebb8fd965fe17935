"""One entity workflow per eUICC (``euicc-<EID>``): the only place operations on a card start.

Clients submit operations with update-with-start (``submit``); the entity runs them one at a
time, in arrival order, as child workflows, and answers each update with the operation's
result. Temporal guarantees one running workflow per id, so operations on one eUICC never
interleave, across clients, workers and restarts.

A hold (``hold`` update, then the ``release`` signal) takes its turn like an operation and keeps
the card for one holder until it releases it: a device's migration runs its steps itself, under
the hold, instead of submitting each one. A holder that ends without releasing (terminated) is
noticed within ``HOLDER_CHECK`` and its hold dropped.

A CancelSession for the session of the download running now cannot wait its turn (the download
may be waiting for the very user who cancels): it is forwarded to that download at once; when
its turn comes it only reports what the download did.

The entity continues as new when Temporal suggests it (history size) or after
``EntityInput.continue_after`` operations, only when idle so no caller waits across the
boundary, and ends after ``EntityInput.idle_seconds`` without work (the next submit starts it
again).
"""
from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from esimflow import search_attributes
    from esimflow.api import (
        ENTITY_WORKFLOW,
        HOLD,
        INPUT_OF_OPERATION,
        QUERY_QUEUE,
        SIGNAL_RELEASE,
        UNSERIALISED_OPERATIONS,
        UPDATE_HOLD,
        UPDATE_SUBMIT,
        DeviceInfo,
        EntityInput,
        EntityStatus,
        HoldGrant,
        HoldRequest,
        Operation,
        OperationRequest,
        OperationResult,
        operation_workflow_id,
    )
    from esimflow.activities.types import EngineStep, LookupDeviceInput, WorkflowRunInput
    from esimflow.workflows.download import SIGNAL_CANCEL_SESSION
    from esimflow.workflows.steps import DEVICE_MEMO, StepFailed, engine_call
    from sgp22.results import OhResultCode, WinStatus

OPERATION_TASK_TIMEOUT = timedelta(seconds=5)
"""Workflow task timeout of operations. Their card and network steps run as local activities
inside workflow tasks; the worker heartbeats a long task at 80% of this, which is when a
progress query gets answered during a long step (a slow LoadBoundProfilePackage), and a
worker that died is noticed after it."""
SESSION_OPERATIONS = (Operation.DOWNLOAD_PROFILE, Operation.GET_DOWNLOADABLE_PROFILE_METADATA)
HOLDER_CHECK = timedelta(minutes=1)


@workflow.defn(name=ENTITY_WORKFLOW)
class EuiccEntityWorkflow:
    @workflow.init
    def __init__(self, state: EntityInput) -> None:
        # set here, not in run(): with update-with-start the first update is validated first
        self._eid = state.eid
        self._state = state
        self._queue: deque[OperationRequest] = deque()
        self._results: dict[str, OperationResult] = {}
        self._running: OperationRequest | None = None
        self._completed = state.completed
        self._cancelled_transactions: set[str] = set()
        self._grants: dict[str, HoldGrant] = {}
        self._released: set[str] = set()

    @workflow.run
    async def run(self, state: EntityInput) -> None:
        ran_this_run = 0
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._queue),
                                              timeout=timedelta(seconds=self._state.idle_seconds))
            except TimeoutError:
                if not self._queue and workflow.all_handlers_finished():
                    return
                continue
            request = self._queue.popleft()
            self._running = request
            if request.operation == HOLD:
                await self._hold(request)
            else:
                self._results[request.operation_id] = await self._run_one(request)
            self._running = None
            self._completed += 1
            ran_this_run += 1
            if (ran_this_run >= self._state.continue_after or workflow.info().is_continue_as_new_suggested()) \
                    and not self._queue:
                await workflow.wait_condition(lambda: bool(self._queue) or workflow.all_handlers_finished())
                if not self._queue:
                    workflow.continue_as_new(dataclasses.replace(self._state, completed=self._completed))

    async def _run_one(self, request: OperationRequest) -> OperationResult:
        workflow_id = operation_workflow_id(request.operation, self._eid, request.operation_id)
        if (request.operation == Operation.CANCEL_SESSION
                and request.input.get("transaction_id") in self._cancelled_transactions):
            return OperationResult.success(request.operation, self._eid,
                                           {"transaction_id": request.input["transaction_id"],
                                            "cancelled_by": "the download that owned the session"},
                                           workflow_id=workflow_id)
        device = await self._device()
        try:
            result = await workflow.execute_child_workflow(
                request.operation, request.input, id=workflow_id, result_type=OperationResult,
                task_queue=(device.workflow_task_queue or None) if device else None,
                memo={DEVICE_MEMO: device} if device else None, task_timeout=OPERATION_TASK_TIMEOUT,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                static_summary=f"{request.operation} on {self._eid}",
                search_attributes=search_attributes.attributes(
                    eid=self._eid, iccids=[request.input.get("iccid")], operation=request.operation)
                if self._state.search_attributes else None,
            )
        except ChildWorkflowError as error:  # the operation itself broke (a bug, or terminated)
            workflow.logger.warning("operation %s failed: %s", workflow_id, error.cause)
            result = OperationResult.failure(
                request.operation, self._eid, oh_result=OhResultCode.RESULT_SGP_22_OTHER,
                win_status=WinStatus.Other, error_kind="engine.operation_failed",
                message=f"the operation ended abnormally: {error.cause}", workflow_id=workflow_id,
            )
        cancelled = result.data.get("cancelled_transaction_id") if result.data else None
        if cancelled:
            self._cancelled_transactions = {cancelled}
        return result

    async def _hold(self, request: OperationRequest) -> None:
        """Grant the hold and wait for its release (or its holder's end)."""
        hold_id = request.operation_id
        if hold_id not in self._released:  # the holder gave up while it waited
            self._grants[hold_id] = HoldGrant(await self._device())
            holder = WorkflowRunInput(request.input["holder_workflow_id"], request.input["holder_run_id"])
            while hold_id not in self._released:
                try:
                    await workflow.wait_condition(lambda: hold_id in self._released, timeout=HOLDER_CHECK)
                except TimeoutError:
                    if not await self._holder_running(holder):
                        workflow.logger.warning("hold %s dropped: its holder %s ended without releasing it",
                                                hold_id, holder.workflow_id)
                        break
        self._grants.pop(hold_id, None)
        self._released.discard(hold_id)

    async def _holder_running(self, holder: WorkflowRunInput) -> bool:
        try:
            return await engine_call(EngineStep.WORKFLOW_RUNNING, holder, bool)
        except StepFailed as failure:  # cannot tell: keep the hold, look again later
            workflow.logger.warning("holder %s not checked: %s", holder.workflow_id, failure.message)
            return True

    @workflow.update(name=UPDATE_HOLD)
    async def hold(self, request: HoldRequest) -> HoldGrant:
        hold_id = request.hold_id
        if hold_id not in self._grants and not self._is_queued(hold_id):
            self._queue.append(OperationRequest(HOLD, hold_id, dataclasses.asdict(request)))
        await workflow.wait_condition(lambda: hold_id in self._grants or not self._is_queued(hold_id))
        if hold_id not in self._grants:
            raise ApplicationError(f"hold {hold_id} was released before it was granted", type="entity.hold_released",
                                   non_retryable=True)
        return self._grants[hold_id]

    @hold.validator
    def _validate_hold(self, request: HoldRequest) -> None:
        if request.eid != self._eid:
            raise ValueError(f"hold of eUICC {request.eid} sent to the entity of {self._eid}")

    @workflow.signal(name=SIGNAL_RELEASE)
    def release(self, hold_id: str) -> None:
        if self._is_queued(hold_id):
            self._released.add(hold_id)

    async def _device(self) -> DeviceInfo | None:
        """The card's registry entry: where the operation runs (on the card host when it runs
        workflows, its steps then local to the card, else here) and, handed over in a memo, the
        card the operation works on. An unknown eUICC runs here and the operation says so."""
        try:
            return await engine_call(EngineStep.LOOKUP_DEVICE, LookupDeviceInput(self._eid), DeviceInfo)
        except StepFailed:
            return None

    @workflow.update(name=UPDATE_SUBMIT)
    async def submit(self, request: OperationRequest) -> OperationResult:
        if request.operation_id not in self._results and not self._is_queued(request.operation_id):
            self._queue.append(request)
            self._forward_cancel(request)
        await workflow.wait_condition(lambda: request.operation_id in self._results)
        return self._results.pop(request.operation_id)

    @submit.validator
    def _validate(self, request: OperationRequest) -> None:
        if request.operation not in INPUT_OF_OPERATION or request.operation in UNSERIALISED_OPERATIONS:
            raise ValueError(f"{request.operation!r} is not an operation an eUICC entity runs")
        if request.input.get("eid") != self._eid:
            raise ValueError(f"operation for eUICC {request.input.get('eid')} sent to the entity of {self._eid}")

    def _is_queued(self, operation_id: str) -> bool:
        return any(r.operation_id == operation_id for r in self._queue) or (
            self._running is not None and self._running.operation_id == operation_id)

    def _forward_cancel(self, request: OperationRequest) -> None:
        running = self._running
        if request.operation != Operation.CANCEL_SESSION or running is None:
            return
        if running.operation not in SESSION_OPERATIONS:
            return
        child = workflow.get_external_workflow_handle(
            operation_workflow_id(running.operation, self._eid, running.operation_id))

        async def forward() -> None:
            try:
                await child.signal(SIGNAL_CANCEL_SESSION, request.input)
            except Exception as error:  # the download just ended: the queued cancel reports it
                workflow.logger.info("cancel not forwarded: %s", error)

        asyncio.get_running_loop().create_task(forward())

    @workflow.query(name=QUERY_QUEUE)
    def queue(self) -> EntityStatus:
        running = self._running
        return EntityStatus(
            eid=self._eid,
            running=operation_workflow_id(running.operation, self._eid, running.operation_id) if running else None,
            queued=[operation_workflow_id(r.operation, self._eid, r.operation_id) for r in self._queue],
            completed=self._completed,
        )
