"""DeviceMigration: one eUICC from its current profile to the target, or back.

Every step is an engine operation on the card, never interleaved with another operation on the
same card: read the profiles, download the target, switch to it, read the profiles again to
verify, run the optional connectivity-check hook, deliver leftover notifications, delete the old
profile if the policy says so.

Where the card host runs workflows, the migration runs there: it holds the eUICC through its
entity workflow for the whole sequence and runs each operation's body (``workflows.operations``)
in itself, its card and network steps local activities (one workflow per device instead of one
per operation, about a fifth of the server work); the user answers a download's questions here.
Elsewhere each step is submitted to the entity as an operation of its own.

A failure after the download rolls back: the old profile is enabled again and verified. The
device ends in exactly one outcome (``model.Outcome``, decided by the DeviceMigrationOutcome
machine, ``machines/device_migration.py``): migrated, rolled_back (verified back on
the old profile), failed (not attempted, or the old state could not be verified) or skipped
(already on the target; a dry run). The outcome is written to the migration store first and then
signalled to the migration, which may have continued as new meanwhile (signals go to the
workflow id, not the run).
"""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from esimflow import search_attributes
    from esimflow.contract import (
        QUERY_PROGRESS,
        SIGNAL_RELEASE,
        DeleteProfileInput,
        DeviceInfo,
        DownloadProfileInput,
        GetDownloadableProfileMetadataInput,
        ListProfilesInput,
        OperationResult,
        ProcessNotificationsInput,
        Progress,
        SwitchProfileInput,
        euicc_workflow_id,
        operation_name,
    )
    from esimflow.activities.migration import MigrationStep
    from esimflow.machines import DeviceMigrationOutcome
    from esimflow.migration.model import (
        DEVICE_MIGRATION_WORKFLOW,
        SIGNAL_DEVICE_FINISHED,
        SIGNAL_STOP_DEVICE,
        ConnectivityCheckInput,
        DeviceMigrationInput,
        DeviceOutcome,
        HoldCardInput,
        LookupQueueInput,
        RunOperationInput,
    )
    from esimflow.workflows.operations import perform
    from esimflow.workflows.operations.context import OperationContext, UserPrompts
    from esimflow.workflows.migration_policies import (
        CARD_LOOKUP_GIVE_UP,
        CARD_LOOKUP_RETRY,
        CONNECTIVITY_RETRY,
        CONSENT_TIMEOUT_SECONDS,
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        OPERATION_GIVE_UP,
        OPERATION_HEARTBEAT,
        OPERATION_RETRY,
        OPERATION_TIMEOUT,
        ROLLBACK_ATTEMPTS,
        ROLLBACK_BACKOFF,
    )
    from esimflow.workflows.migration_results import (
        enabled_iccids,
        failure_kind,
        failure_message,
        has_undelivered,
        reported_profiles,
    )
    from esimflow.workflows.steps import RunContext, runs_on_card_host
    from esimflow.workflows.user_updates import UserUpdates
    from sgp22.results import OhResultCode, WinStatus

class _Ended(Exception):
    """The device's migration ended with ``outcome`` (as the DeviceMigrationOutcome machine decided)."""

    def __init__(self, outcome: str, reason: str, error_kind: str | None = None) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.error_kind = error_kind


@workflow.defn(name=DEVICE_MIGRATION_WORKFLOW)
class DeviceMigrationWorkflow(UserUpdates):
    """Also answers its operations' questions: under a hold the download runs here, so consent,
    a confirmation code or a decline for it are updates on this workflow (``esimflow migrate
    answer``), and the entity forwards a CancelSession of its session here."""

    def __init__(self) -> None:
        self._stop = False
        self._phase = "starting"
        self._operations = 0
        self._request: DeviceMigrationInput | None = None
        self._target: str | None = None
        self._enabled: str | None = None
        self._old_deleted = False
        self._notifications_pending = False
        self._held: DeviceInfo | None = None
        self._context = RunContext()  # what the operations run here under the hold share
        self._running: OperationContext | None = None  # the operation running here now
        self._ending = DeviceMigrationOutcome()  # decides the one outcome

    @workflow.signal(name=SIGNAL_STOP_DEVICE)
    def stop(self) -> None:
        """The migration was cancelled with rollback: stop before the switch."""
        self._stop = True

    @workflow.query(name="phase")
    def phase(self) -> str:
        return self._phase

    @workflow.query(name=QUERY_PROGRESS)
    def progress(self) -> Progress:
        """The progress of the operation running here under the hold (what it waits for), else
        this device's phase."""
        if self._running is not None:
            return self._running.progress
        return Progress(operation=DEVICE_MIGRATION_WORKFLOW, phase=self._phase)

    def running_prompts(self) -> UserPrompts | None:
        return self._running.prompts if self._running is not None else None

    def nothing_asked(self) -> str:
        if self._held is None:
            return ("this device's operations run through its eUICC entity, not under a hold here: "
                    "answer the operation's own workflow")
        return "no operation of this migration is waiting for the user"

    @workflow.run
    async def run(self, request: DeviceMigrationInput) -> DeviceOutcome:
        self._request = request
        self._ending.subject = request.entry.eid
        started = workflow.now()
        try:
            await self._migrate(request)
        except _Ended as ended:
            outcome = DeviceOutcome(
                migration_id=request.migration_id, index=request.entry.index, eid=request.entry.eid,
                outcome=ended.outcome, reason=ended.reason, old_iccid=request.entry.current_iccid,
                target_iccid=self._target, enabled_iccid=self._enabled, old_deleted=self._old_deleted,
                dry_run=request.policy.dry_run, error_kind=ended.error_kind,
                workflow_id=workflow.info().workflow_id, started_at=started.isoformat(),
                finished_at=workflow.now().isoformat(),
            )
        self._phase = outcome.outcome
        if runs_on_card_host():  # the store is on the migration worker's host
            await workflow.execute_activity(MigrationStep.RECORD_OUTCOME, outcome, task_queue=self._migration_queue(),
                                            start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=LOCAL_RETRY)
        else:
            await workflow.execute_local_activity(MigrationStep.RECORD_OUTCOME, outcome,
                                                  start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=LOCAL_RETRY)
        if request.search_attributes:
            search_attributes.upsert(iccids=[request.entry.current_iccid, self._target], outcome=outcome.outcome)
        try:
            await workflow.get_external_workflow_handle(request.parent_workflow_id).signal(
                SIGNAL_DEVICE_FINISHED, outcome)
        except ApplicationError as error:  # the migration is gone; the store has the outcome
            workflow.logger.info("outcome of device %d not signalled: %s", request.entry.index, error)
        return outcome

    # --- the migration of one device

    async def _migrate(self, request: DeviceMigrationInput) -> NoReturn:
        """Always ends by raising :class:`_Ended` with the device's outcome."""
        entry = request.entry
        self._phase = "locating the card"
        if not runs_on_card_host():
            try:
                card_queue = await workflow.execute_local_activity(
                    MigrationStep.CARD_QUEUE, LookupQueueInput(entry.eid, entry.device), result_type=str,
                    start_to_close_timeout=LOCAL_TIMEOUT, schedule_to_close_timeout=CARD_LOOKUP_GIVE_UP,
                    retry_policy=CARD_LOOKUP_RETRY)
            except (ActivityError, ApplicationError) as error:  # a local activity fails with the error itself
                raise self._end("fail", f"card not reachable: {failure_message(error)}", failure_kind(error)) from None
            await self._steps(request, card_queue)
        info = workflow.info()
        hold = HoldCardInput(entry.eid, entry.device, f"m{info.run_id.replace('-', '')}", info.workflow_id,
                             info.run_id, request.engine_task_queue)
        self._phase = "waiting for the card"
        try:
            self._held = await workflow.execute_activity(
                MigrationStep.HOLD_CARD, hold, result_type=DeviceInfo, task_queue=self._migration_queue(),
                start_to_close_timeout=OPERATION_TIMEOUT, schedule_to_close_timeout=OPERATION_GIVE_UP,
                heartbeat_timeout=OPERATION_HEARTBEAT, retry_policy=CARD_LOOKUP_RETRY)
        except ActivityError as error:
            raise self._end("fail", f"card not reachable: {failure_message(error)}", failure_kind(error)) from None
        try:
            await self._steps(request, info.task_queue)
        finally:
            self._held = None
            try:
                await workflow.get_external_workflow_handle(euicc_workflow_id(entry.eid)).signal(
                    SIGNAL_RELEASE, hold.hold_id)
            except ApplicationError as error:  # the entity is gone, and the hold with it
                workflow.logger.info("hold %s not released: %s", hold.hold_id, error)

    def _end(self, trigger: str, reason: str, error_kind: str | None = None) -> _Ended:
        """The end of this device by ``trigger``, its outcome the machine's answer."""
        return _Ended(str(self._ending.end(trigger, reason)), reason, error_kind)

    def _migration_queue(self) -> str:
        return self._request.migration_task_queue or workflow.info().task_queue

    async def _steps(self, request: DeviceMigrationInput, card_queue: str) -> NoReturn:
        policy, eid, old = request.policy, request.entry.eid, request.entry.current_iccid
        installed = await self._preconditions(request)
        if policy.dry_run:
            await self._dry_run(request, installed)
        if self._stop:
            raise self._end("withdraw", "the migration was cancelled before any change", "migration.cancelled")
        self._ending.start()  # from here a failure rolls back
        if not installed:
            await self._download(request)
        if self._stop:
            await self._roll_back("the migration was cancelled before the switch (target kept, disabled)",
                                  "migration.cancelled")
        await self._switch_and_verify(request, card_queue, self._target)
        if self._notifications_pending:
            self._phase = "delivering notifications"
            await self._operation(ProcessNotificationsInput(eid=eid))
        reason = ""
        if policy.delete_old:
            reason = await self._delete_old(eid, old)
        raise self._end("migrate", reason)

    async def _preconditions(self, request: DeviceMigrationInput) -> bool:
        """The card as the fleet file says: the current profile enabled (or the device is on the
        target already: skipped). True if the target is installed already."""
        entry, policy = request.entry, request.policy
        eid, old = entry.eid, entry.current_iccid
        profiles = await self._read_profiles(eid)
        target = entry.target_iccid or request.known_target_iccid
        self._target = target
        if target is not None and target in enabled_iccids(profiles):
            if policy.delete_old and not policy.dry_run and old in profiles:
                await self._delete_old(eid, old)
            raise self._end("skip", "already on the target profile")
        if old not in profiles:
            raise self._end("fail", f"the current profile {old} is not on the card "
                                         f"(enabled: {', '.join(enabled_iccids(profiles)) or 'none'})",
                         "migration.current_profile_missing")
        if old not in enabled_iccids(profiles):
            raise self._end("fail", f"the current profile {old} is not the enabled one "
                                         f"(enabled: {', '.join(enabled_iccids(profiles)) or 'none'})",
                         "migration.current_profile_not_enabled")
        return target is not None and target in profiles

    async def _download(self, request: DeviceMigrationInput) -> None:
        """The target onto the card (``self._target`` then names what was installed)."""
        entry, policy, target = request.entry, request.policy, self._target
        self._phase = "downloading"
        result = await self._operation(DownloadProfileInput(
            eid=entry.eid, activation_code=entry.activation_code, is_ppr_allowed=policy.accept_policy_rules,
            consent_timeout_seconds=CONSENT_TIMEOUT_SECONDS))
        if not result.ok:
            await self._roll_back(f"download failed: {result.message}", result.error_kind)
        downloaded = (result.data or {}).get("iccid")
        self._notifications_pending |= has_undelivered(result)
        if target is not None and downloaded != target:
            self._target = downloaded
            await self._roll_back(f"the activation code delivered {downloaded}, the fleet expects {target}",
                                  "migration.target_mismatch")
        self._target = downloaded

    async def _switch_and_verify(self, request: DeviceMigrationInput, card_queue: str, target: str) -> None:
        """Enable the target, check the card reports it enabled (and, if asked, that it connects)."""
        eid = request.entry.eid
        self._phase = "switching"
        result = await self._operation(SwitchProfileInput(eid=eid, iccid=target, force_disable_profile=True))
        if not result.ok:
            await self._roll_back(f"switch failed: {result.message}", result.error_kind)
        self._notifications_pending |= has_undelivered(result)

        self._phase = "verifying"
        profiles = await self._read_profiles(eid, final=False)
        enabled = enabled_iccids(profiles) if profiles is not None else None
        if enabled != [target]:
            await self._roll_back(f"verification failed: the card reports {', '.join(enabled or []) or 'nothing'} "
                                  f"enabled, not {target}" if enabled is not None else
                                  "verification failed: the profile list could not be read",
                                  "migration.verification_failed")
        if request.policy.connectivity_check:
            self._phase = "checking connectivity"
            problem = await self._connectivity(request, card_queue, target)
            if problem is not None:
                await self._roll_back(f"connectivity check failed: {problem}", "migration.connectivity")

    async def _dry_run(self, request: DeviceMigrationInput, installed: bool) -> NoReturn:
        """Preconditions held; preview the target without installing it (the SM-DP+ session is
        cancelled with ``postponed``, so the profile stays available)."""
        entry, old = request.entry, request.entry.current_iccid
        then = f", then delete {old}" if request.policy.delete_old else ""
        if installed:
            raise self._end("skip", f"dry run: would switch to the installed {self._target}{then}")
        self._phase = "previewing the target"
        result = await self._operation(GetDownloadableProfileMetadataInput(
            eid=entry.eid, activation_code=entry.activation_code))
        if not result.ok:
            raise self._end("fail", f"dry run: the target cannot be previewed: {result.message}",
                         result.error_kind)
        iccid = ((result.data or {}).get("metadata") or {}).get("iccid")
        if self._target is not None and iccid != self._target:
            raise self._end("fail", f"dry run: the activation code leads to {iccid}, "
                                         f"the fleet expects {self._target}", "migration.target_mismatch")
        self._target = iccid
        raise self._end("skip", f"dry run: would download {iccid} and switch from {old}{then}")

    async def _roll_back(self, reason: str, error_kind: str | None) -> NoReturn:
        """Back to the old profile, verified; always ends the migration of this device."""
        request = self._request
        eid, old = request.entry.eid, request.entry.current_iccid
        if not request.policy.rollback:
            await self._read_profiles(eid, final=False)
            raise self._end("fail", f"{reason}; left as is (rollback is off)", error_kind)
        self._ending.roll_back(reason=reason)
        self._phase = "rolling back"
        problem = ""
        for attempt in range(ROLLBACK_ATTEMPTS):
            if attempt:
                await workflow.sleep(ROLLBACK_BACKOFF * (2 ** (attempt - 1)))
            profiles = await self._read_profiles(eid, final=False)
            if profiles is None:
                problem = "the profile list could not be read"
                continue
            if old in enabled_iccids(profiles):
                raise self._end("restore", reason, error_kind)
            if old not in profiles:
                raise self._end("fail", f"{reason}; the old profile {old} is no longer on the card",
                             error_kind)
            result = await self._operation(SwitchProfileInput(eid=eid, iccid=old, force_disable_profile=True))
            if not result.ok:
                problem = result.message
        raise self._end("fail", f"{reason}; the old profile could not be re-enabled: {problem}", error_kind)

    async def _delete_old(self, eid: str, old: str) -> str:
        self._phase = "deleting the old profile"
        result = await self._operation(DeleteProfileInput(eid=eid, iccid=old))
        if result.ok:
            self._old_deleted = True
            return ""
        return f"the old profile was kept: delete failed: {result.message}"

    async def _connectivity(self, request: DeviceMigrationInput, card_queue: str, iccid: str) -> str | None:
        policy = request.policy
        try:
            await workflow.execute_activity(
                policy.connectivity_check, ConnectivityCheckInput(request.entry.eid, iccid, request.migration_id),
                task_queue=policy.connectivity_task_queue or card_queue,
                start_to_close_timeout=timedelta(seconds=policy.connectivity_timeout_seconds),
                retry_policy=CONNECTIVITY_RETRY)
        except ActivityError as error:
            return failure_message(error)
        return None

    # --- engine operations

    async def _read_profiles(self, eid: str, *, final: bool = True) -> dict[str, dict[str, Any]] | None:
        """The card's profiles; a read failure ends the device as failed (``final``) or is
        returned as None for the caller to judge."""
        result = await self._operation(ListProfilesInput(eid=eid))
        if not result.ok:
            if final:
                raise self._end("fail", f"the profiles could not be read: {result.message}", result.error_kind)
            return None
        profiles = reported_profiles(result)
        enabled = enabled_iccids(profiles)
        self._enabled = enabled[0] if len(enabled) == 1 else None
        return profiles

    async def _operation(self, op_input: Any) -> OperationResult:
        """Run one engine operation: here, on the held card, or through the eUICC's entity; an
        engine that stays unreachable past the retries is reported as a failed operation, like
        any other."""
        self._operations += 1
        operation = operation_name(op_input)
        if self._held is not None:
            self._context.held_device = self._held
            self._running = OperationContext(operation, self._context)
            try:
                return await perform(self._running, op_input)
            finally:
                self._running = None
        # unique per run of this device workflow (the whole run id: its first digits are only a
        # timestamp), identical on replay and on activity retries
        operation_id = f"m{workflow.info().run_id.replace('-', '')}-{self._operations}"
        step = RunOperationInput(operation, operation_id, dataclasses.asdict(op_input),
                                 self._request.engine_task_queue)
        try:
            # a regular activity, not a local one: an operation may wait long at the entity, and
            # its result arriving with a new workflow task lets a stop signalled meanwhile be seen
            return await workflow.execute_activity(
                MigrationStep.RUN_OPERATION, step, result_type=OperationResult,
                start_to_close_timeout=OPERATION_TIMEOUT, schedule_to_close_timeout=OPERATION_GIVE_UP,
                heartbeat_timeout=OPERATION_HEARTBEAT, retry_policy=OPERATION_RETRY,
                summary=f"{operation} ({self._phase})")
        except (ActivityError, ApplicationError) as error:
            return OperationResult.failure(
                operation, op_input.eid, oh_result=OhResultCode.RESULT_SGP_22_OTHER, win_status=WinStatus.Other,
                error_kind=failure_kind(error) or "migration.engine_unreachable",
                message=f"the engine did not run {operation}: {failure_message(error)}")
