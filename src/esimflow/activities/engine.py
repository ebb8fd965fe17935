"""Engine steps: the device registry and the profile status history.

Run as local activities on the workflow worker: both are files on that host (or a shared
volume), cheap to read, and a local activity costs no extra round trip through the server.
"""
from __future__ import annotations

from datetime import datetime

from temporalio import activity

from esimflow.activities.errors import esim_errors_as_application_errors
from esimflow.activities.types import (
    EngineStep,
    FindDeviceInput,
    LastProfileStatusInput,
    LookupDeviceInput,
    RecordProfileStatusInput,
)
from esimflow.api import DeviceInfo, ListDevicesInput
from esimflow.devices import DeviceRegistry
from esimflow.history import HistoryStore, StatusChange


class EngineActivities:
    def __init__(self, registry: DeviceRegistry, history: HistoryStore) -> None:
        self.registry = registry
        self.history = history

    def activities(self) -> list:
        return [self.lookup_device, self.find_device, self.list_devices, self.record_profile_status,
                self.last_profile_status]

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
    def record_profile_status(self, step: RecordProfileStatusInput) -> None:
        self.history.record(StatusChange(
            iccid=step.iccid, eid=step.eid, from_status=step.from_status, to_status=step.to_status,
            operation=step.operation, workflow_id=step.workflow_id, at=datetime.fromisoformat(step.at),
            sequence=step.sequence, error_reason=step.error_reason,
        ))

    @activity.defn(name=EngineStep.LAST_PROFILE_STATUS)
    @esim_errors_as_application_errors
    def last_profile_status(self, step: LastProfileStatusInput) -> str:
        changes = self.history.history(step.iccid)
        return str(changes[-1].to_status) if changes else ""
