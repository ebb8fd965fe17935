"""Engine steps: the device registry, the profile status history, whether a workflow still
runs, and whether the namespace has esimflow's search attributes.

Run as local activities on the workflow worker: the files are on that host (or a shared
volume), cheap to read, and a local activity costs no extra round trip through the server.
"""
from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from esimflow.activities.errors import esim_errors_as_application_errors
from esimflow.activities.types import (
    CheckRouteInput,
    EngineStep,
    FindDeviceInput,
    LookupDeviceInput,
    RecordProfileStatusInput,
    RouteCheck,
    SearchAttributesInput,
    WorkflowRunInput,
)
from esimflow import search_attributes
from esimflow.contract import DeviceInfo, ListDevicesInput
from esimflow.devices import DeviceNotFoundError, DeviceRegistry
from esimflow.history import HistoryStore, StatusChange
from esimflow.machines import ProfileStatus, Status


class EngineActivities:
    def __init__(self, registry: DeviceRegistry, history: HistoryStore) -> None:
        self.registry = registry
        self.history = history

    def activities(self) -> list:
        return [self.lookup_device, self.find_device, self.list_devices, self.record_profile_status,
                self.workflow_running, self.search_attributes_usable, self.check_route]

    @activity.defn(name=EngineStep.SEARCH_ATTRIBUTES_USABLE)
    async def search_attributes_usable(self, step: SearchAttributesInput) -> bool:
        """Registers esimflow's search attributes if the worker may; False when it may not
        (operations then run without them)."""
        return await search_attributes.ensure_registered(activity.client())

    @activity.defn(name=EngineStep.WORKFLOW_RUNNING)
    async def workflow_running(self, step: WorkflowRunInput) -> bool:
        """A workflow that holds an eUICC but was terminated or reset never releases it."""
        handle = activity.client().get_workflow_handle(step.workflow_id, run_id=step.run_id)
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.status == WorkflowExecutionStatus.RUNNING

    @activity.defn(name=EngineStep.CHECK_ROUTE)
    @esim_errors_as_application_errors
    async def check_route(self, step: CheckRouteInput) -> RouteCheck:
        """An operation waiting on a card host's queue that no worker has taken up: if the card
        is still routed there, the host is slow (or died less than a lease ago), so it may
        wait on; if the host is gone or the card is elsewhere, it never will run there, so it
        is terminated, before any of its steps ran, for the entity to route it again or fail
        it. It is looked at again just before the termination, which a host that took it up
        meanwhile does not suffer (the operation ends by itself)."""
        handle = activity.client().get_workflow_handle(step.workflow_id, run_id=step.run_id or None)
        if await _has_run(handle):
            return RouteCheck(started=True)
        device: DeviceInfo | None = None
        try:
            device = await asyncio.to_thread(self.registry.lookup, step.eid)
        except DeviceNotFoundError as error:
            reason = error.message
        else:
            if device.card_host == step.card_host:
                return RouteCheck()
            reason = f"eUICC {step.eid} moved to card host {device.card_host}"
        if await _has_run(handle):
            return RouteCheck(started=True)
        try:
            await handle.terminate(reason=f"not taken up by card host {step.card_host}: {reason}")
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            return RouteCheck(started=True)  # it ended meanwhile, with its own result
        return RouteCheck(withdrawn=True, reason=reason, device=device)

    @activity.defn(name=EngineStep.LOOKUP_DEVICE)
    @esim_errors_as_application_errors
    def lookup_device(self, step: LookupDeviceInput) -> DeviceInfo:
        return self.registry.lookup(step.eid)

    @activity.defn(name=EngineStep.FIND_DEVICE)
    @esim_errors_as_application_errors
    def find_device(self, step: FindDeviceInput) -> DeviceInfo:
        return self.registry.find(step.device)

    @activity.defn(name=EngineStep.LIST_DEVICES)
    @esim_errors_as_application_errors
    def list_devices(self, step: ListDevicesInput) -> list[DeviceInfo]:
        return self.registry.all()

    @activity.defn(name=EngineStep.RECORD_PROFILE_STATUS)
    @esim_errors_as_application_errors
    def record_profile_status(self, step: RecordProfileStatusInput) -> str:
        """Move the profile's ProfileStatus machine with ``trigger`` and record the machine's
        Change; returns the status it moved to. A move the machine refuses from the recorded
        status is the card's truth all the same: it is recorded as drift (the refusal named), so
        the Logs page shows it, never as a legal change. Read, move and write are one step: each
        local activity costs a fixed SDK overhead a download pays several times."""
        changes = self.history.history(step.iccid)
        if changes and changes[-1].workflow_id == step.workflow_id and changes[-1].sequence == step.sequence:
            return str(changes[-1].to_status)  # written by an attempt whose answer was lost
        last = step.known if step.known is not None else (str(changes[-1].to_status) if changes else step.fallback)
        change = ProfileStatus(Status(last), iccid=step.iccid).drift(step.trigger, reason=step.error_reason)
        self.history.record(StatusChange.from_machine(
            change, iccid=step.iccid, operation=step.operation, at=datetime.fromisoformat(step.at), eid=step.eid,
            workflow_id=step.workflow_id, sequence=step.sequence, error_reason=step.error_reason,
        ))
        return str(change.to_state)


async def _has_run(handle: WorkflowHandle) -> bool:
    """Whether a worker has completed one of the workflow's tasks (so its steps may have run)."""
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return True
    return False

