"""One entity workflow per eUICC (``euicc-<EID>``): the only place operations on a card start.

Clients submit operations with update-with-start (``submit``); the entity runs them one at a
time, in arrival order, as child workflows, and answers each update with the operation's
result. Temporal guarantees one running workflow per id, so operations on one eUICC never
interleave, across clients, workers and restarts.

A hold (``hold`` update, then the ``release`` signal) takes its turn like an operation and keeps
the card for one holder until it releases it (its lifecycle is the CardHold machine,
``machines/card_hold.py``): a device's migration runs its steps itself, under
the hold, instead of submitting each one. A holder that ends without releasing (terminated) is
noticed within ``HOLDER_CHECK`` and its hold dropped.

A CancelSession for the session of the download running now cannot wait its turn (the download
may be waiting for the very user who cancels): it is forwarded to that download at once (to the
holder, when the download runs under a hold); when its turn comes it only reports what the
download did.

The entity continues as new when Temporal suggests it (history size) or after
``EntityInput.continue_after`` operations, only when idle so no caller waits across the
boundary, and ends after ``EntityInput.idle_seconds`` without work (the next submit starts it
again). A submit asking for another workflow queue than the entity's moves it there (continue
as new onto that queue) once it is idle.

Idempotent per operation id: the client sends the operation id as the update id, and the
entity keeps the results of its latest ``ANSWERED_KEPT`` operations across continue-as-new, so
a submit repeating an id gets the first result without touching the card; operations start
with ``REJECT_DUPLICATE``, so an id is never run twice.

Never wedged: an operation ends with a result whatever happens inside it (``conclude``), each
has an execution timeout derived from its own limits, and a child that failed, timed out or
collided with an existing workflow id ends as a typed failure while the entity goes on. An
operator sees the entity with ``admin entity show``, ends its current operation with ``skip``
and lets it finish its queue and end with ``drain``.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import deque
from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.exceptions import TimeoutError as TemporalTimeout
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from esimflow import search_attributes
    from esimflow.contract import (
        ENTITY_WORKFLOW,
        HOLD,
        INPUT_OF_OPERATION,
        QUERY_QUEUE,
        SIGNAL_RELEASE,
        SIGNAL_SKIP,
        ANSWERED_KEPT,
        UNSERIALISED_OPERATIONS,
        UPDATE_DRAIN,
        UPDATE_HOLD,
        UPDATE_SKIP,
        UPDATE_SUBMIT,
        DeviceInfo,
        EntityInput,
        EntityStatus,
        HoldGrant,
        HoldRequest,
        Operation,
        OperationRequest,
        OperationResult,
        SkipRequest,
        operation_workflow_id,
    )
    from esimflow.activities.types import (
        CheckRouteInput,
        EngineStep,
        LookupDeviceInput,
        RouteCheck,
        SearchAttributesInput,
        WorkflowRunInput,
    )
    from esimflow.devices import CardHostUnreachableError
    from esimflow.machines import CardHold
    from esimflow.workflows import policies
    from esimflow.workflows.user_updates import SIGNAL_CANCEL_SESSION
    from esimflow.workflows.steps import DEVICE_MEMO, StepFailed, engine_call
    from sgp22.results import OhResultCode, WinStatus

OPERATION_TASK_TIMEOUT = timedelta(seconds=5)
"""Workflow task timeout of operations. Their card and network steps run as local activities
inside workflow tasks; the worker heartbeats a long task at 80% of this, which is when a
progress query gets answered during a long step (a slow LoadBoundProfilePackage), and a
worker that died is noticed after it."""
ROUTE_CHECK = timedelta(seconds=5)
"""How long an operation sent to a card host's queue may wait to be taken up before the entity
asks whether the host can still run it (it is gone, or the card moved: the operation is then
routed again or fails with ``device.unreachable``, instead of waiting for its own timeout)."""
ROUTES_TRIED = 3
PATCH_ROUTE_CHECK = "entity-checks-stranded-operations"
SESSION_OPERATIONS = (Operation.DOWNLOAD_PROFILE, Operation.GET_DOWNLOADABLE_PROFILE_METADATA)
HOLDER_CHECK = timedelta(minutes=1)
PATCH_CANCEL_TO_HOLDER = "forward-cancel-session-to-holder"


@workflow.defn(name=ENTITY_WORKFLOW)
class EuiccEntityWorkflow:
    @workflow.init
    def __init__(self, state: EntityInput) -> None:
        # set here, not in run(): with update-with-start the first update is validated first
        self._eid = state.eid
        self._state = state
        self._queue: deque[OperationRequest] = deque()
        self._answered: dict[str, OperationResult] = dict(state.answered)
        self._running: OperationRequest | None = None
        self._running_child: workflow.ChildWorkflowHandle | None = None
        self._completed = state.completed
        self._cancelled_transactions: set[str] = set()
        self._grants: dict[str, HoldGrant] = {}
        self._holds: dict[str, CardHold] = {}  # each hold queued or running, by hold id: what it may do next
        self._requested_queue = state.requested_task_queue
        self._draining = False

    @workflow.run
    async def run(self, state: EntityInput) -> None:
        ran_this_run = 0
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._queue) or self._should_move() or self._draining,
                                              timeout=timedelta(seconds=self._state.idle_seconds))
            except asyncio.TimeoutError:  # the builtin one (TimeoutError here is temporalio's)
                if not self._queue and workflow.all_handlers_finished():
                    return
                continue
            if not self._queue:  # drained, or asked to live on another queue: once every caller has its answer
                await workflow.wait_condition(lambda: bool(self._queue) or workflow.all_handlers_finished())
                if not self._queue:
                    if self._draining:
                        return
                    self._continue_as_new()
                continue
            request = self._queue.popleft()
            self._running = request
            if request.operation == HOLD:
                await self._hold(request)
            else:
                self._remember(request.operation_id, await self._run_one(request))
            self._running = None
            self._completed += 1
            ran_this_run += 1
            if (ran_this_run >= self._state.continue_after or workflow.info().is_continue_as_new_suggested()
                    or self._should_move()) and not self._queue:
                await workflow.wait_condition(lambda: bool(self._queue) or workflow.all_handlers_finished())
                if not self._queue:
                    self._continue_as_new()

    def _should_move(self) -> bool:
        return bool(self._requested_queue) and self._requested_queue != workflow.info().task_queue \
            and not self._draining

    def _continue_as_new(self) -> None:
        workflow.continue_as_new(
            dataclasses.replace(self._state, completed=self._completed, answered=self._answered,
                                requested_task_queue=self._requested_queue),
            task_queue=self._requested_queue or None)

    def _remember(self, operation_id: str, result: OperationResult) -> None:
        self._answered[operation_id] = result
        while len(self._answered) > ANSWERED_KEPT:
            del self._answered[next(iter(self._answered))]

    async def _run_one(self, request: OperationRequest) -> OperationResult:
        workflow_id = operation_workflow_id(request.operation, self._eid, request.operation_id)
        if (request.operation == Operation.CANCEL_SESSION
                and request.input.get("transaction_id") in self._cancelled_transactions):
            return OperationResult.success(request.operation, self._eid,
                                           {"transaction_id": request.input["transaction_id"],
                                            "cancelled_by": "the download that owned the session"},
                                           workflow_id=workflow_id)
        device = await self._device()
        if self._state.search_attributes is None:
            self._state = dataclasses.replace(self._state, search_attributes=await self._search_attributes_usable())
        try:
            reuse = WorkflowIDReusePolicy.REJECT_DUPLICATE
            for _ in range(ROUTES_TRIED):
                self._running_child = await self._start(request, workflow_id, device, reuse)
                stranded = await self._stranded(self._running_child, device)
                if stranded is None:
                    result = await self._running_child
                    break
                # terminated before it ran: route it again (the same id, now free; here when its
                # new host runs only card steps), or fail it
                stranded_on, device = (device.card_host if device else ""), stranded.device
                reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
                if device is None:
                    result = self._unreachable(request, workflow_id, stranded_on, stranded.reason)
                    break
            else:
                result = self._unreachable(request, workflow_id, stranded_on, "the card kept moving")
        except WorkflowAlreadyStartedError:
            # a workflow with this operation's id exists already (started by an earlier run of
            # this entity whose record of it is gone, or by someone else): never run it twice
            result = self._failed(request, workflow_id, "engine.duplicate_operation",
                                  f"an operation with id {request.operation_id} was started before; "
                                  f"its result is that of workflow {workflow_id}")
        except ChildWorkflowError as error:  # the operation itself broke (terminated, timed out)
            workflow.logger.warning("operation %s failed: %s", workflow_id, type(error.cause).__name__)
            if isinstance(error.cause, TemporalTimeout):
                result = self._failed(request, workflow_id, "engine.operation_timeout",
                                      f"{request.operation} did not end within its execution timeout")
            else:
                result = self._failed(request, workflow_id, "engine.operation_failed",
                                      f"the operation ended abnormally ({type(error.cause).__name__})")
        finally:
            self._running_child = None
        cancelled = result.data.get("cancelled_transaction_id") if result.data else None
        if cancelled:
            self._cancelled_transactions = {cancelled}
        return result

    async def _start(self, request: OperationRequest, workflow_id: str, device: DeviceInfo | None,
                     reuse: WorkflowIDReusePolicy) -> workflow.ChildWorkflowHandle:
        return await workflow.start_child_workflow(
            request.operation, request.input, id=workflow_id, result_type=OperationResult,
            task_queue=(device.workflow_task_queue or None) if device else None,
            memo={DEVICE_MEMO: device} if device else None, task_timeout=OPERATION_TASK_TIMEOUT,
            execution_timeout=policies.operation_execution_timeout(request.operation, request.input),
            id_reuse_policy=reuse,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            cancellation_type=ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
            static_summary=f"{request.operation} on {self._eid}",
            search_attributes=search_attributes.attributes(
                eid=self._eid, iccids=[request.input.get("iccid")], operation=request.operation)
            if self._state.search_attributes else None,
        )

    async def _stranded(self, child: workflow.ChildWorkflowHandle, device: DeviceInfo | None) -> RouteCheck | None:
        """Wait for an operation sent to a card host's queue until it ends or has started there;
        every ``ROUTE_CHECK`` until then, ask whether it is stranded (the host gone, or the card
        moved, before any worker took it up: it was then terminated) and say so. None: it ran
        (its result is awaited as usual). An operation the entity runs itself needs no check:
        its steps on another host's queue see a gone host themselves (``Card.call``)."""
        if device is None or device.workflow_task_queue in ("", workflow.info().task_queue):
            return None
        if not workflow.patched(PATCH_ROUTE_CHECK):
            return None
        ended = asyncio.ensure_future(_ended(child))
        check = CheckRouteInput(self._eid, child.id, child.first_execution_run_id or "", device.card_host)
        while not ended.done():
            try:
                await workflow.wait_condition(ended.done, timeout=ROUTE_CHECK)
            except asyncio.TimeoutError:
                try:
                    found = await engine_call(EngineStep.CHECK_ROUTE, check, RouteCheck)
                except StepFailed as failure:  # cannot tell: look again at the next check
                    workflow.logger.warning("route of %s not checked: %s", child.id, failure.message)
                    continue
                if found.started:
                    break
                if found.withdrawn:
                    with contextlib.suppress(ChildWorkflowError):
                        await child  # its termination, so the id is free for the next start
                    return found
        return None

    def _unreachable(self, request: OperationRequest, workflow_id: str, card_host: str, reason: str) -> OperationResult:
        error = CardHostUnreachableError(f"{request.operation} on eUICC {self._eid} was not taken up by card host "
                                         f"{card_host} ({reason}); nothing ran on the card: submit it again")
        return OperationResult.failure(request.operation, self._eid, oh_result=error.oh_result,
                                       win_status=error.win_status, error_kind=error.kind, message=error.message,
                                       data={"retryable": error.retryable}, workflow_id=workflow_id)

    def _failed(self, request: OperationRequest, workflow_id: str, kind: str, message: str) -> OperationResult:
        return OperationResult.failure(request.operation, self._eid, oh_result=OhResultCode.RESULT_SGP_22_OTHER,
                                       win_status=WinStatus.Other, error_kind=kind, message=message,
                                       workflow_id=workflow_id)

    async def _hold(self, request: OperationRequest) -> None:
        """Grant the hold and wait for its release (or its holder's end); the CardHold machine
        says where the hold stands."""
        hold_id = request.operation_id
        hold = self._holds[hold_id]
        if hold.waiting:  # else the holder gave up while it waited (withdrawn)
            device = await self._device()
            if hold.waiting:  # (withdrawn during the lookup: never granted)
                hold.grant()
                self._grants[hold_id] = HoldGrant(device)
            holder = WorkflowRunInput(request.input["holder_workflow_id"], request.input["holder_run_id"])
            while hold.granted:
                try:
                    await workflow.wait_condition(lambda: not hold.granted, timeout=HOLDER_CHECK)
                except asyncio.TimeoutError:
                    if not await self._holder_running(holder):
                        hold.drop(reason=f"holder {holder.workflow_id} ended without releasing it")
                        workflow.logger.warning("hold %s dropped: its holder %s ended without releasing it",
                                                hold_id, holder.workflow_id)
        self._grants.pop(hold_id, None)
        del self._holds[hold_id]

    async def _search_attributes_usable(self) -> bool:
        try:
            return await engine_call(EngineStep.SEARCH_ATTRIBUTES_USABLE, SearchAttributesInput(), bool)
        except StepFailed as failure:  # this entity's operations then run without them
            workflow.logger.warning("search attributes not checked: %s", failure.message)
            return False

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
            self._holds[hold_id] = CardHold(hold_id)
        await workflow.wait_condition(lambda: hold_id in self._grants or not self._is_queued(hold_id))
        if hold_id not in self._grants:
            raise ApplicationError(f"hold {hold_id} was released before it was granted", type="entity.hold_released",
                                   non_retryable=True)
        return self._grants[hold_id]

    @hold.validator
    def _validate_hold(self, request: HoldRequest) -> None:
        if request.eid != self._eid:
            raise ValueError(f"hold of eUICC {request.eid} sent to the entity of {self._eid}")
        if self._draining and request.hold_id not in self._grants and not self._is_queued(request.hold_id):
            raise ValueError(f"the entity of {self._eid} is draining: it grants no new hold")

    @workflow.signal(name=SIGNAL_RELEASE)
    def release(self, hold_id: str) -> None:
        self._release(hold_id, "released by its holder")

    def _release(self, hold_id: str, reason: str) -> None:
        """Release a granted hold, or withdraw one still waiting its turn; a hold that is not
        queued or running here (ended, or never asked for) has nothing to release."""
        hold = self._holds.get(hold_id)
        if hold is not None and self._is_queued(hold_id) and hold.can("release"):
            hold.release(reason=reason)

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
        if request.task_queue:
            self._requested_queue = request.task_queue
        if request.operation_id not in self._answered and not self._is_queued(request.operation_id):
            self._queue.append(request)
            self._forward_cancel(request)
        await workflow.wait_condition(lambda: request.operation_id in self._answered)
        return self._answered[request.operation_id]

    @submit.validator
    def _validate(self, request: OperationRequest) -> None:
        if request.operation not in INPUT_OF_OPERATION or request.operation in UNSERIALISED_OPERATIONS:
            raise ValueError(f"{request.operation!r} is not an operation an eUICC entity runs")
        if request.input.get("eid") != self._eid:
            raise ValueError(f"operation for eUICC {request.input.get('eid')} sent to the entity of {self._eid}")
        if self._draining and request.operation_id not in self._answered and not self._is_queued(request.operation_id):
            raise ValueError(f"the entity of {self._eid} is draining: it accepts no new operation")

    @workflow.update(name=UPDATE_SKIP)
    async def skip(self, request: SkipRequest) -> EntityStatus:
        """End the current operation as failed: cancel it (it stops once the card step in
        flight has finished) or drop the hold; the result then names ``reason``."""
        running = self._running
        if running is None:
            raise ApplicationError("nothing is running on this eUICC", type="entity.nothing_to_skip",
                                   non_retryable=True)
        if running.operation == HOLD:
            self._release(running.operation_id, f"skipped: {request.reason or 'no reason given'}")
        elif self._running_child is not None:
            try:
                await self._running_child.signal(SIGNAL_SKIP, request.reason or "no reason given")
            except Exception as error:  # it ended meanwhile: its own result stands
                workflow.logger.info("skip not delivered: %s", type(error).__name__)
            else:
                self._running_child.cancel()
        await workflow.wait_condition(lambda: self._running is not running)
        return self.queue()

    @workflow.update(name=UPDATE_DRAIN)
    async def drain(self) -> EntityStatus:
        """Accept no new operation, finish those queued, then end (the next submit starts the
        entity afresh)."""
        self._draining = True
        return self.queue()

    def _is_queued(self, operation_id: str) -> bool:
        return any(r.operation_id == operation_id for r in self._queue) or (
            self._running is not None and self._running.operation_id == operation_id)

    def _forward_cancel(self, request: OperationRequest) -> None:
        running = self._running
        if request.operation != Operation.CANCEL_SESSION or running is None:
            return
        if running.operation == HOLD and workflow.patched(PATCH_CANCEL_TO_HOLDER):
            target = running.input["holder_workflow_id"]  # it runs its download in itself
        elif running.operation in SESSION_OPERATIONS:
            target = operation_workflow_id(running.operation, self._eid, running.operation_id)
        else:
            return
        child = workflow.get_external_workflow_handle(target)

        async def forward() -> None:
            try:
                await child.signal(SIGNAL_CANCEL_SESSION, request.input)
            except Exception as error:  # the download just ended: the queued cancel reports it
                workflow.logger.info("cancel not forwarded: %s", error)

        asyncio.get_running_loop().create_task(forward())

    @workflow.query(name=QUERY_QUEUE)
    def queue(self) -> EntityStatus:
        running = self._running
        here = workflow.info().task_queue
        return EntityStatus(
            eid=self._eid,
            running=operation_workflow_id(running.operation, self._eid, running.operation_id) if running else None,
            queued=[operation_workflow_id(r.operation, self._eid, r.operation_id) for r in self._queue],
            completed=self._completed,
            task_queue=here,
            requested_task_queue=self._requested_queue if self._requested_queue != here else "",
            holds=sorted(self._grants),
            draining=self._draining,
        )


async def _ended(child: workflow.ChildWorkflowHandle) -> None:
    """Once the child has ended, however (its result or failure is taken where it is awaited)."""
    with contextlib.suppress(Exception):
        await child
