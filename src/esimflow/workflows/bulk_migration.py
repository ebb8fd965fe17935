"""BulkMigration: a whole fleet, device by device, under one policy.

The first run imports the fleet file into the migration store (validated again on the worker);
from then on the workflow holds only a cursor, counters and the devices in flight, reading the
fleet in pages, so its history stays small for fleets of any size: it continues as new every
``continue_after_starts`` devices (or when Temporal suggests it) with that state.

Each device runs as a ``DeviceMigration`` child (on its card host when that host runs
workflows) that outlives the run that started it
(``ParentClosePolicy.ABANDON``) and reports its outcome with a signal to the migration's
workflow id, which reaches whichever run is current. Starts are paced by the concurrency limit
and a token bucket (``max_starts_per_second``); a canary batch may wait for ``approve``; a
failure rate above the threshold over the last ``failure_window`` devices aborts. Pause,
resume, cancel, approve and a change of concurrency are updates; ``status`` is a query.
Cancelling (an update, or a Temporal cancel request) is graceful: nothing new starts and the
devices in flight finish, or roll back when asked to.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from esimflow import search_attributes
    from esimflow.migration import policy as pacing
    from esimflow.workflows.migration_status import migration_status
    from esimflow.workflows.migration_policies import PAGE_SIZE, STORE_RETRY, STORE_TIMEOUT
    from esimflow.activities.migration import MigrationStep
    from esimflow.migration.model import (
        BULK_MIGRATION_WORKFLOW,
        DEVICE_MIGRATION_WORKFLOW,
        MIGRATION_OPERATION,
        QUERY_STATUS,
        SIGNAL_DEVICE_FINISHED,
        SIGNAL_STOP_DEVICE,
        UPDATE_APPROVE,
        UPDATE_CANCEL,
        UPDATE_PAUSE,
        UPDATE_RESUME,
        UPDATE_SET_CONCURRENCY,
        BulkMigrationInput,
        CancelRequest,
        CarriedState,
        ConcurrencyRequest,
        Counters,
        DeviceMigrationInput,
        DeviceOutcome,
        DevicePolicy,
        FinishMigrationInput,
        ImportFleetInput,
        ImportResult,
        MigrationState,
        MigrationStatus,
        Outcome,
        PageEntry,
        ReadPageInput,
        ReconcileInput,
        device_workflow_id,
    )

@workflow.defn(name=BULK_MIGRATION_WORKFLOW)
class BulkMigrationWorkflow:
    @workflow.init
    def __init__(self, request: BulkMigrationInput) -> None:
        # the carried state is in place before the first signal handler runs: outcomes
        # signalled to the previous run's devices arrive with this run's first task
        self._input = request
        self._s: CarriedState | None = request.carried
        if self._s is not None:
            self._s.runs += 1
        self._state = MigrationState.IMPORTING
        self._errors = []
        self._buffer: deque[PageEntry] = deque()
        self._read_to = 0  # fleet index after the last entry read into the buffer
        self._starts_this_run = 0
        self._finishes = 0  # in this run: lets the reconcile check see progress
        self._approval: str | None = None  # "approved" | "rejected"

    # --- run

    @workflow.run
    async def run(self, request: BulkMigrationInput) -> MigrationStatus:
        if self._s is None:
            imported = await self._import(request)
            if imported is None:
                return self.status()
        self._read_to = self._s.cursor
        self._state = MigrationState.RUNNING
        try:
            await self._dispatch()
        except asyncio.CancelledError:  # a Temporal cancel request: the same as a graceful cancel
            self._s.cancelling = True
        await self._drain()
        s = self._s
        self._state = (MigrationState.ABORTED if s.abort_reason else
                       MigrationState.CANCELLED if s.cancelling else MigrationState.COMPLETED)
        await self._store(MigrationStep.FINISH, FinishMigrationInput(request.migration_id, self._state,
                                                                      s.abort_reason, s.counters))
        if request.search_attributes:
            search_attributes.upsert(outcome=self._state)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    async def _import(self, request: BulkMigrationInput) -> ImportResult | None:
        policy = request.policy
        refusal = None
        try:
            imported = await self._store(
                MigrationStep.IMPORT_FLEET,
                ImportFleetInput(request.migration_id, request.fleet_path, request.fleet_sha256, policy),
                ImportResult)
        except (ActivityError, ApplicationError) as error:  # unreadable, changed, another fleet under this id
            failure = error.cause if isinstance(error, ActivityError) else error
            refusal = getattr(failure, "message", None) or str(failure)
            imported = ImportResult(total=0, invalid=0, created=False, rejected=True)
        self._errors = imported.errors
        self._s = CarriedState(
            total=imported.total, cursor=0, counters=Counters(), in_flight={},
            concurrency=policy.max_concurrency, paused=False, cancelling=False, cancel_rollback=False,
            abort_reason=None, canary_indices=[], canary_finished=0, canary_failed=0,
            canary_approved=policy.canary_size == 0, recent_failures=[], recent_finish_times=[],
            first_start_time=None, tokens=0.0, tokens_at=None, runs=1, invalid_lines=imported.invalid)
        if imported.rejected:
            self._state = MigrationState.REJECTED
            self._s.abort_reason = refusal or f"the fleet file has {imported.invalid} invalid line(s)"
            # nothing of this fleet is in the store (and a row there may belong to another fleet)
            if request.search_attributes:
                search_attributes.upsert(outcome=self._state)
            return None
        return imported

    async def _dispatch(self) -> None:
        """Start every device not done yet, within the policy's limits."""
        s, policy = self._s, self._input.policy
        while not self._stopping():
            if s.cursor >= s.total:
                return
            if s.paused:
                await self._wait(lambda: not s.paused or self._stopping())
                continue
            if not s.canary_approved and len(s.canary_indices) >= policy.canary_size:
                await self._canary_gate()
                continue
            if len(s.in_flight) >= s.concurrency:
                await self._wait(lambda: len(s.in_flight) < s.concurrency or self._stopping() or s.paused)
                continue
            now = workflow.now().timestamp()
            s.tokens, s.tokens_at = pacing.refill(s.tokens, s.tokens_at, now, policy.max_starts_per_second)
            if s.tokens < 1.0:
                delay = pacing.seconds_until_token(s.tokens, policy.max_starts_per_second)
                await self._wait(lambda: self._stopping() or s.paused, timeout=timedelta(seconds=delay))
                continue
            entry = await self._next_entry()
            if entry is None:  # never skip devices silently: stop and say so
                s.abort_reason = f"the migration store holds no device {s.cursor} of {s.total}"
                return
            s.cursor += 1
            if entry.done:
                s.counters.already_done += 1
                continue
            s.tokens -= 1.0
            await self._start(entry)
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry())

    async def _next_entry(self) -> PageEntry | None:
        if not self._buffer:
            page = await self._store(MigrationStep.READ_PAGE,
                                     ReadPageInput(self._input.migration_id, self._read_to, PAGE_SIZE),
                                     list[PageEntry])
            if not page:
                return None
            self._buffer.extend(page)
            self._read_to = page[-1].entry.index + 1
        return self._buffer.popleft()

    async def _start(self, page: PageEntry) -> None:
        s, request = self._s, self._input
        entry = page.entry
        workflow_id = device_workflow_id(request.migration_id, entry.index)
        s.in_flight[workflow_id] = entry.index
        if not s.canary_approved:
            s.canary_indices.append(entry.index)
        if s.first_start_time is None:
            s.first_start_time = workflow.now().timestamp()
        self._starts_this_run += 1
        child_input = DeviceMigrationInput(
            migration_id=request.migration_id, parent_workflow_id=workflow.info().workflow_id, entry=entry,
            policy=DevicePolicy.of(request.policy), engine_task_queue=request.engine_task_queue,
            search_attributes=request.search_attributes, known_target_iccid=page.known_target_iccid,
            migration_task_queue=workflow.info().task_queue)
        attributes = search_attributes.attributes(
            eid=entry.eid, iccids=[entry.current_iccid, entry.target_iccid], operation=MIGRATION_OPERATION,
            migration_id=request.migration_id) if request.search_attributes else None
        try:
            await workflow.start_child_workflow(
                DEVICE_MIGRATION_WORKFLOW, child_input, id=workflow_id,
                # on the card host when it runs workflows: the device then holds the card and
                # runs its steps there (see DeviceMigration)
                task_queue=page.workflow_task_queue or workflow.info().task_queue,
                parent_close_policy=ParentClosePolicy.ABANDON, search_attributes=attributes,
                static_summary=f"device {entry.index} (line {entry.line}) of {request.migration_id}",
            )
        except WorkflowAlreadyStartedError:
            # still running from an earlier run of this migration: it signals this workflow id
            workflow.logger.info("device %d already in flight", entry.index)

    async def _canary_gate(self) -> None:
        s, policy = self._s, self._input.policy
        await self._wait(lambda: not s.in_flight or self._stopping())
        if self._stopping():
            return
        if policy.canary_approval:
            self._state = MigrationState.AWAITING_APPROVAL
            self._approval = None
            await self._wait(lambda: self._approval is not None or self._stopping())
            if self._approval == "rejected":
                s.abort_reason = (f"the canary batch was rejected ({s.canary_failed} of "
                                  f"{s.canary_finished} devices failed or rolled back)")
        elif s.canary_finished and s.canary_failed / s.canary_finished > policy.failure_threshold:
            s.abort_reason = (f"canary batch: {s.canary_failed} of {s.canary_finished} devices failed or "
                              f"rolled back, above the {policy.failure_threshold:.0%} threshold")
        if not self._stopping():
            s.canary_approved = True
            self._state = MigrationState.RUNNING

    async def _drain(self) -> None:
        """Wait for every device in flight to report (cancelled or not, they finish)."""
        while self._s.in_flight:
            try:
                await self._wait(lambda: not self._s.in_flight)
            except asyncio.CancelledError:
                self._s.cancelling = True

    async def _wait(self, condition: Callable[[], bool], timeout: timedelta | None = None) -> None:
        """Wait for ``condition`` (at most ``timeout``); while devices are in flight and none
        finishes for ``reconcile_after_seconds``, ask the store and Temporal whether some of them
        ended without their signal reaching this workflow."""
        deadline = workflow.now() + timeout if timeout is not None else None
        while not condition():
            finishes = self._finishes
            step = timedelta(seconds=self._input.reconcile_after_seconds)
            if deadline is not None:
                step = min(step, deadline - workflow.now())
                if step <= timedelta(0):
                    return
            try:
                await workflow.wait_condition(condition, timeout=step)
                return
            except asyncio.TimeoutError:
                if deadline is not None and workflow.now() >= deadline:
                    return
                if self._s.in_flight and self._finishes == finishes:
                    await self._reconcile()

    async def _reconcile(self) -> None:
        try:
            outcomes = await workflow.execute_activity(
                MigrationStep.RECONCILE, ReconcileInput(self._input.migration_id, dict(self._s.in_flight)),
                result_type=list[DeviceOutcome], start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(maximum_attempts=3))
        except ActivityError as error:
            workflow.logger.warning("reconcile failed: %s", error.cause)
            return
        for outcome in outcomes:
            self.device_finished(outcome)

    def _stopping(self) -> bool:
        return self._s.cancelling or self._s.abort_reason is not None

    def _should_continue_as_new(self) -> bool:
        return (self._starts_this_run >= self._input.continue_after_starts
                or workflow.info().is_continue_as_new_suggested())

    def _carry(self) -> BulkMigrationInput:
        request = self._input
        return BulkMigrationInput(migration_id=request.migration_id, fleet_path=request.fleet_path,
                                  fleet_sha256=request.fleet_sha256, policy=request.policy,
                                  engine_task_queue=request.engine_task_queue,
                                  search_attributes=request.search_attributes,
                                  continue_after_starts=request.continue_after_starts,
                                  reconcile_after_seconds=request.reconcile_after_seconds, carried=self._s)

    async def _store(self, step: str, arg, result_type=None):
        return await workflow.execute_local_activity(step, arg, result_type=result_type,
                                                     start_to_close_timeout=STORE_TIMEOUT, retry_policy=STORE_RETRY)

    # --- device outcomes

    @workflow.signal(name=SIGNAL_DEVICE_FINISHED)
    def device_finished(self, outcome: DeviceOutcome) -> None:
        s = self._s
        index = s.in_flight.pop(outcome.workflow_id, None) if s is not None else None
        if index is None:
            return  # delivered twice (a reconcile and a late signal), or not ours
        s.counters.add(outcome.outcome)
        failed = outcome.outcome in Outcome.FAILURES
        policy = self._input.policy
        now = workflow.now().timestamp()
        s.recent_failures = pacing.window_after(s.recent_failures, failed, policy.failure_window)
        s.recent_finish_times = pacing.finish_times_after(s.recent_finish_times, now)
        self._finishes += 1
        if index in s.canary_indices:
            s.canary_finished += 1
            s.canary_failed += int(failed)
        if (s.abort_reason is None and not s.cancelling
                and pacing.should_abort(s.recent_failures, policy.failure_window, policy.failure_threshold)):
            s.abort_reason = (f"{pacing.failure_rate(s.recent_failures):.0%} of the last {len(s.recent_failures)} "
                              f"devices failed or rolled back, above the {policy.failure_threshold:.0%} threshold")

    # --- control

    @workflow.update(name=UPDATE_PAUSE)
    def pause(self) -> MigrationStatus:
        self._s.paused = True
        return self.status()

    @pause.validator
    def _validate_pause(self) -> None:
        self._require_active()
        if self._s.paused:
            raise ValueError("the migration is already paused")

    @workflow.update(name=UPDATE_RESUME)
    def resume(self) -> MigrationStatus:
        self._s.paused = False
        return self.status()

    @resume.validator
    def _validate_resume(self) -> None:
        self._require_active()
        if not self._s.paused:
            raise ValueError("the migration is not paused")

    @workflow.update(name=UPDATE_APPROVE)
    def approve(self, approved: bool = True) -> MigrationStatus:
        self._approval = "approved" if approved else "rejected"
        return self.status()

    @approve.validator
    def _validate_approve(self, approved: bool = True) -> None:
        if self._state != MigrationState.AWAITING_APPROVAL or self._approval is not None:
            raise ValueError(f"the migration is not waiting for approval (it is {self.status().state})")

    @workflow.update(name=UPDATE_SET_CONCURRENCY)
    def set_concurrency(self, request: ConcurrencyRequest) -> MigrationStatus:
        self._s.concurrency = request.max_concurrency
        return self.status()

    @set_concurrency.validator
    def _validate_concurrency(self, request: ConcurrencyRequest) -> None:
        self._require_active()
        if request.max_concurrency < 1:
            raise ValueError("the concurrency must be at least 1")

    @workflow.update(name=UPDATE_CANCEL)
    async def cancel(self, request: CancelRequest) -> MigrationStatus:
        s = self._s
        s.cancelling = True
        s.cancel_rollback = s.cancel_rollback or request.rollback
        if request.rollback:
            for workflow_id in list(s.in_flight):
                try:
                    await workflow.get_external_workflow_handle(workflow_id).signal(SIGNAL_STOP_DEVICE)
                except Exception as error:  # it just finished: its outcome stands
                    workflow.logger.info("stop not delivered to %s: %s", workflow_id, error)
        return self.status()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        self._require_active()
        if self._s.cancelling and not request.rollback:
            raise ValueError("the migration is already being cancelled")

    def _require_active(self) -> None:
        if self._s is None or self._state in MigrationState.FINAL:
            raise ValueError(f"the migration is {self._state}")

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> MigrationStatus:
        return migration_status(self._input, self._s, self._state, self._errors, workflow.now().timestamp())
