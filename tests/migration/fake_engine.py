"""An engine stand-in for the migration's control logic: the one activity through which the
migration reaches the engine (``migration_run_operation``), answering from an in-memory table
of cards, with faults per EID. The real engine is exercised by the fleet end-to-end test."""
from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from esimflow.contract import DeviceInfo, OperationResult, ProfileState
from esimflow.devices import DeviceRegistry
from esimflow.activities.migration import MigrationActivities, MigrationStep
from esimflow.workflows.bulk_migration import BulkMigrationWorkflow
from esimflow.workflows.device_migration import DeviceMigrationWorkflow
from esimflow.migration.model import ConnectivityCheckInput, RunOperationInput
from esimflow.migration.store import open_store
from esimflow.workers.sandbox import workflow_runner
from sgp22.results import OhResultCode, WinStatus

from tests.migration.migration_helpers import KEYRING

CONNECTIVITY_CHECK = "fake_connectivity_check"


@dataclass
class FakeCard:
    profiles: dict[str, bool]  # iccid -> enabled
    faults: set[str] = field(default_factory=set)
    # download: the SM-DP+ refuses; switch: EnableProfile refuses; no_effect: the switch answers
    # ok but nothing changes; switch_back: switching to anything but the target fails;
    # no_connectivity: the connectivity check fails; unreadable: the profile list fails

    @property
    def enabled(self) -> list[str]:
        return [iccid for iccid, on in self.profiles.items() if on]


class FakeEngine:
    def __init__(self) -> None:
        self.cards: dict[str, FakeCard] = {}
        self.codes: dict[str, str] = {}  # activation code -> ICCID it delivers
        self.operations: list[tuple[str, str]] = []  # (operation, eid)
        self.inputs: list[RunOperationInput] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.waiting = 0

    def add(self, eid: str, iccids: list[str], enabled: str, faults: set[str] | None = None) -> None:
        self.cards[eid] = FakeCard({iccid: iccid == enabled for iccid in iccids}, set(faults or ()))

    def _ok(self, operation: str, eid: str, data: dict | None = None) -> OperationResult:
        return OperationResult.success(operation, eid, data or {})

    def _fail(self, operation: str, eid: str, kind: str, message: str) -> OperationResult:
        return OperationResult.failure(operation, eid, oh_result=OhResultCode.RESULT_SGP_22_OTHER,
                                       win_status=WinStatus.Other, error_kind=kind, message=message)

    @activity.defn(name=MigrationStep.RUN_OPERATION)
    async def run_operation(self, step: RunOperationInput) -> OperationResult:
        self.waiting += 1
        try:
            await self.hold.wait()
        finally:
            self.waiting -= 1
        eid = step.input["eid"]
        self.operations.append((step.operation, eid))
        self.inputs.append(step)
        card = self.cards[eid]
        name = step.operation
        if name == "ListProfiles":
            if "unreadable" in card.faults:
                return self._fail(name, eid, "card.removed", "the card does not answer")
            return self._ok(name, eid, {"profiles": [
                {"iccid": iccid, "state": int(ProfileState.PROFILE_STATE_ENABLED if on
                                              else ProfileState.PROFILE_STATE_DISABLED)}
                for iccid, on in card.profiles.items()]})
        if name in ("DownloadProfile", "GetDownloadableProfileMetadata"):
            if "download" in card.faults:
                return self._fail(name, eid, "es9.8.2/3.7", "the SM-DP+ refused the download")
            iccid = self.codes[step.input["activation_code"]]
            if name == "GetDownloadableProfileMetadata":
                return self._ok(name, eid, {"metadata": {"iccid": iccid}})
            card.profiles[iccid] = False
            return self._ok(name, eid, {"iccid": iccid, "notifications": {"delivered": [1], "failed": []}})
        if name == "SwitchProfile":
            target = step.input["iccid"]
            is_target = target not in self.original_iccids(eid)
            if "switch" in card.faults or ("switch_back" in card.faults and not is_target):
                return self._fail(name, eid, "es10.enable.catBusy", "the card is busy")
            if "no_effect" not in card.faults:
                for iccid in card.profiles:
                    card.profiles[iccid] = iccid == target
            return self._ok(name, eid, {"iccid": target, "notifications": {"delivered": [], "failed": [2]}})
        if name == "DeleteProfile":
            card.profiles.pop(step.input["iccid"], None)
            return self._ok(name, eid, {"iccid": step.input["iccid"]})
        if name == "ProcessNotifications":
            return self._ok(name, eid, {"delivered": [2], "failed": []})
        raise ApplicationError(f"the fake engine does not run {name}", non_retryable=True)

    def original_iccids(self, eid: str) -> set[str]:
        return {iccid for iccid in self.cards[eid].profiles if iccid not in self.codes.values()}

    @activity.defn(name=CONNECTIVITY_CHECK)
    async def connectivity_check(self, check: ConnectivityCheckInput) -> None:
        if "no_connectivity" in self.cards[check.eid].faults:
            raise ApplicationError(f"{check.iccid} does not attach", non_retryable=True)


@contextlib.asynccontextmanager
async def fake_migration_worker(client: Client, tmp_path: Path, engine: FakeEngine, *, task_queue: str):
    """A migration worker on ``task_queue`` whose engine operations go to ``engine``; yields the
    migration store."""
    registry = DeviceRegistry(tmp_path / "devices.sqlite3")
    for eid in engine.cards:
        registry.register(DeviceInfo(eid=eid, card_host="fakehost", reader=f"local:{eid[-6:]}", name=eid[-6:]))
    store = open_store(tmp_path / "migrations.sqlite3", KEYRING)
    real = MigrationActivities(store, registry)
    activities = [a for a in real.activities() if a != real.run_operation]
    executor = ThreadPoolExecutor(max_workers=4)
    try:
        async with Worker(client, task_queue=task_queue, workflows=[BulkMigrationWorkflow, DeviceMigrationWorkflow],
                          activities=[*activities, engine.run_operation, engine.connectivity_check],
                          activity_executor=executor, workflow_runner=workflow_runner()):
            yield store
    finally:
        engine.hold.set()
        executor.shutdown(wait=False)
        store.close()
