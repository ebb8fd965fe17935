"""The migration's activities: the fleet store, the device registry check, and engine
operations submitted through each eUICC's entity workflow.

A workflow cannot send an update to another workflow, so an engine operation is submitted by
an activity with the worker's client (``client.start_operation``: update-with-start on
``euicc-<EID>``), which keeps the guarantee that operations on one eUICC never interleave,
whoever submits them. The activity heartbeats while it waits; a retry (the worker died while
waiting) first looks for the operation submitted before, by its deterministic workflow id, and
waits for that one instead of submitting it twice.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from esimflow.activities.errors import esim_errors_as_application_errors
from esimflow.client import hold_euicc, start_operation
from esimflow.contract import (
    INPUT_OF_OPERATION,
    QUERY_QUEUE,
    DeviceInfo,
    EntityStatus,
    HoldRequest,
    OperationResult,
    card_task_queue,
    euicc_workflow_id,
    operation_workflow_id,
)
from esimflow.devices import DeviceRegistry
from esimflow.migration.fleet import load_fleet
from esimflow.migration.model import (
    DeviceOutcome,
    FinishMigrationInput,
    HoldCardInput,
    ImportFleetInput,
    ImportResult,
    LookupQueueInput,
    Outcome,
    PageEntry,
    ReadPageInput,
    ReconcileInput,
    RunOperationInput,
)
from esimflow.migration.store import MigrationStore
from sgp22.errors import BadInputError
from sgp22.results import OhResultCode, WinStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

HEARTBEAT_EVERY_SECONDS = 5.0
QUEUED_POLL_SECONDS = 1.0


class MigrationStep:
    IMPORT_FLEET = "migration_import_fleet"
    READ_PAGE = "migration_read_page"
    RECORD_OUTCOME = "migration_record_outcome"
    FINISH = "migration_finish"
    RECONCILE = "migration_reconcile"
    CARD_QUEUE = "migration_card_queue"
    HOLD_CARD = "migration_hold_card"
    RUN_OPERATION = "migration_run_operation"


class FleetChangedError(BadInputError):
    """The fleet file is not the one the client validated (edited in between)."""

    kind = "migration.fleet_changed"


class DeviceAddressMismatchError(BadInputError):
    """The fleet says the card is somewhere the device registry does not put it."""

    kind = "migration.device_mismatch"


def device_matches(address: str, card_host: str, reader: str, name: str) -> bool:
    """A fleet ``device`` names a card by registry name, reader spec, or ``host/reader``."""
    return address in {name, reader, f"{card_host}/{reader}", f"{card_host}/{name}"} - {""}


class MigrationActivities:
    def __init__(self, store: MigrationStore, registry: DeviceRegistry, client: Client | None = None) -> None:
        self.store = store
        self.registry = registry
        self._client = client

    def activities(self) -> list:
        return [self.import_fleet, self.read_page, self.record_outcome, self.finish, self.card_queue,
                self.hold_card, self.reconcile, self.run_operation]

    def client(self) -> Client:
        return self._client or activity.client()

    @activity.defn(name=MigrationStep.IMPORT_FLEET)
    @esim_errors_as_application_errors
    def import_fleet(self, step: ImportFleetInput) -> ImportResult:
        """Validate the fleet file again, on the worker (the client's check may be stale or
        bypassed), and keep it in the store under the migration id."""
        fleet = load_fleet(step.fleet_path)
        if fleet.sha256 != step.fleet_sha256:
            raise FleetChangedError(f"{step.fleet_path} changed after it was validated "
                                    f"(sha256 {fleet.sha256[:12]}…, expected {step.fleet_sha256[:12]}…)")
        return self.store.import_fleet(step.migration_id, fleet, step.policy)

    @activity.defn(name=MigrationStep.READ_PAGE)
    @esim_errors_as_application_errors
    def read_page(self, step: ReadPageInput) -> list[PageEntry]:
        """The next devices, each with the queue its card's operations run on (the device's
        migration runs there too, holding the card)."""
        page = self.store.page(step.migration_id, step.start, step.limit)
        found = self.registry.lookup_many(entry.entry.eid for entry in page)
        for entry in page:
            device = found.get(entry.entry.eid)
            entry.workflow_task_queue = device.workflow_task_queue if device else ""
        return page

    @activity.defn(name=MigrationStep.RECORD_OUTCOME)
    @esim_errors_as_application_errors
    def record_outcome(self, outcome: DeviceOutcome) -> None:
        self.store.record_outcome(outcome)

    @activity.defn(name=MigrationStep.FINISH)
    @esim_errors_as_application_errors
    def finish(self, step: FinishMigrationInput) -> None:
        self.store.finish(step.migration_id, step.state, step.abort_reason, step.counters)

    @activity.defn(name=MigrationStep.CARD_QUEUE)
    @esim_errors_as_application_errors
    def card_queue(self, step: LookupQueueInput) -> str:
        """The task queue of the host that holds the card (the connectivity hook runs there),
        after checking the fleet's device address against the registry."""
        return card_task_queue(self._checked_device(step.eid, step.device).card_host)

    @activity.defn(name=MigrationStep.HOLD_CARD)
    @esim_errors_as_application_errors
    async def hold_card(self, step: HoldCardInput) -> DeviceInfo:
        """Exclusive use of the card for the device's migration, once the fleet's device
        address matches the registry; waits (heartbeating) while other operations run on it."""
        device = await asyncio.to_thread(self._checked_device, step.eid, step.device)
        request = HoldRequest(step.eid, step.hold_id, step.holder_workflow_id, step.holder_run_id)
        grant = await _heartbeating(hold_euicc(self.client(), request, task_queue=step.engine_task_queue))
        return grant.device or device

    def _checked_device(self, eid: str, address: str) -> DeviceInfo:
        device = self.registry.lookup(eid)
        if address and not device_matches(address, device.card_host, device.reader, device.name):
            raise DeviceAddressMismatchError(
                f"the fleet puts eUICC {eid} at {address!r}, the device registry at "
                f"{device.card_host}/{device.reader}")
        return device

    @activity.defn(name=MigrationStep.RECONCILE)
    async def reconcile(self, step: ReconcileInput) -> list[DeviceOutcome]:
        """Outcomes of device workflows that ended without their signal reaching the migration
        (terminated by hand, or a signal lost to a bug): from the store if the device recorded
        one, else a ``failed`` outcome saying the device workflow ended without one."""
        recorded = await asyncio.to_thread(self.store.outcomes, step.migration_id, list(step.in_flight.values()))
        found: list[DeviceOutcome] = []
        for workflow_id, index in step.in_flight.items():
            try:
                description = await self.client().get_workflow_handle(workflow_id).describe()
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                description = None
            if description is not None and description.status == WorkflowExecutionStatus.RUNNING:
                continue
            outcome = recorded.get(index)
            if outcome is not None and outcome.workflow_id == workflow_id:
                found.append(outcome)
                continue
            status = description.status.name.lower() if description and description.status else "missing"
            lost = DeviceOutcome(
                migration_id=step.migration_id, index=index, eid="", outcome=Outcome.FAILED,
                reason=f"the device workflow ended ({status}) without an outcome; check the card",
                error_kind="migration.device_workflow_" + status, workflow_id=workflow_id)
            await asyncio.to_thread(self.store.record_outcome, lost)
            found.append(lost)
        return found

    @activity.defn(name=MigrationStep.RUN_OPERATION)
    async def run_operation(self, step: RunOperationInput) -> OperationResult:
        try:
            op_type = INPUT_OF_OPERATION[step.operation]
            op_input = op_type(**step.input)
        except (KeyError, TypeError):
            raise ApplicationError(f"not an engine operation: {step.operation}", type="input.invalid",
                                   non_retryable=True) from None
        client = self.client()
        workflow_id = operation_workflow_id(step.operation, op_input.eid, step.operation_id)
        if activity.info().attempt > 1:
            earlier = await self._earlier_result(client, workflow_id, step.operation, op_input.eid)
            if earlier is not None:
                return earlier
        try:
            handle = await start_operation(client, op_input, operation_id=step.operation_id,
                                           task_queue=step.engine_task_queue)
            return await _heartbeating(handle.result())
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            message = getattr(cause, "message", None) or str(cause or error)
            raise ApplicationError(f"the eUICC's entity refused {step.operation}: {message}",
                                   type="migration.operation_refused", non_retryable=True) from None

    async def _earlier_result(self, client: Client, workflow_id: str, operation: str,
                              eid: str) -> OperationResult | None:
        """The result of the operation an earlier attempt submitted, or None if it never reached
        the entity. Never submits again while it may be queued there: the entity forgets an
        operation once its result is handed out, so a second submission racing the first one's
        completion would run it twice (a second download of the same activation code)."""
        handle = client.get_workflow_handle(workflow_id, result_type=OperationResult)
        entity = client.get_workflow_handle(euicc_workflow_id(eid))
        while True:
            if await _exists(handle):
                try:
                    return await _heartbeating(handle.result())
                except WorkflowFailureError as error:  # as the entity reports an abnormal end
                    return OperationResult.failure(
                        operation, eid, oh_result=OhResultCode.RESULT_SGP_22_OTHER, win_status=WinStatus.Other,
                        error_kind="engine.operation_failed",
                        message=f"the operation ended abnormally: {error.cause}", workflow_id=workflow_id)
            try:
                queue = await entity.query(QUERY_QUEUE, result_type=EntityStatus)
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                queue = None  # no entity (it ended idle): nothing of ours can be queued there
            waiting = queue is not None and (queue.running == workflow_id or workflow_id in queue.queued)
            if not waiting:
                # not queued, not running: it started meanwhile (look again) or never arrived
                return await _heartbeating(handle.result()) if await _exists(handle) else None
            activity.heartbeat()
            await asyncio.sleep(QUEUED_POLL_SECONDS)


async def _exists(handle) -> bool:
    try:
        await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _heartbeating(awaitable: Awaitable[T]) -> T:
    """Wait, heartbeating, so a worker that dies while waiting is noticed within the heartbeat
    timeout and the wait resumes on another worker."""
    task = asyncio.ensure_future(awaitable)
    local = activity.info().is_local  # a local activity cannot heartbeat (its workflow task does)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY_SECONDS)
            if done:
                return task.result()
            if not local:
                activity.heartbeat()
    finally:
        if not task.done():
            task.cancel()
