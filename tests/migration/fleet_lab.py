"""A fleet in one process, for the migration's end-to-end test and benchmark: a generated PKI,
the lab SM-DP+ holding one target profile per device, N in-process virtual eUICCs each with its
current profile enabled, the engine's workers serving them, and a migration worker.

Faults: a card can be pulled out a few APDUs into LoadBoundProfilePackage (it loses power, the
RSP session is gone, and it is back a moment later, as when a modem resets); a target profile
can be too large for its card (the install fails); the SM-DP+ can answer 5xx at random.
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client

from esimflow.config import TemporalConfig
from esimflow.devices import DeviceRegistry
from esimflow.migration.store import MigrationStore, open_store
from esimflow.workers.migration import migration_worker
from esimflow.workers.run import EsimflowWorker, WorkerOptions
from rsplab import pki
from rsplab.euicc.card import VirtualEuicc
from rsplab.euicc.config import EuiccConfig
from rsplab.euicc.installation import isdp_aid
from rsplab.euicc.state import Profile
from rsplab.smdp.server import LabSmdp
from sgp22.errors import CardRemovedError
from sgp22.identifiers import Iccid

from tests.migration.migration_helpers import KEYRING

EIN = "89049032"
SEEDED_PROFILE_SIZE = 4_000
TARGET_SIZE = 6_000
TOO_BIG = 60_000  # a target that cannot install: more than its card has left
CARD_HOST = "fleet"


def fleet_iccid(number: int, operator: int) -> str:
    return str(Iccid.with_check_digit(f"8944{operator:03d}{number:011d}"))


class PullableCard:
    """A virtual eUICC that can be pulled out a few APDUs into LoadBoundProfilePackage, once;
    it loses power (``reset``) and answers again ``away_seconds`` later."""

    def __init__(self, card: VirtualEuicc, *, pull_during_load: bool = False, away_seconds: float = 0.5) -> None:
        self.card = card
        self.pull_during_load = pull_during_load
        self.away_seconds = away_seconds
        self.pulled = False
        self._loading: int | None = None
        self._away_since: float | None = None
        self._lock = threading.Lock()

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            if self._away_since is not None:
                if time.monotonic() - self._away_since < self.away_seconds:
                    raise CardRemovedError("the card is out of the device (fault injection)")
                self._away_since = None
            if self.pull_during_load and not self.pulled:
                if len(apdu) > 7 and apdu[1] == 0xE2 and apdu[3] == 0 and apdu[5:7] == b"\xBF\x36":
                    self._loading = 0
                if self._loading is not None:
                    self._loading += 1
                    if self._loading > 3:
                        self.pulled = True
                        self._loading = None
                        self._away_since = time.monotonic()
                        self.card.reset()
                        raise CardRemovedError("the card was pulled during LoadBoundProfilePackage")
        return self.card.transmit(apdu)


@dataclass
class Device:
    number: int
    eid: str
    old_iccid: str
    target_iccid: str
    activation_code: str = ""
    pull_during_load: bool = False
    cannot_install: bool = False
    card: VirtualEuicc | None = None
    pullable: PullableCard | None = None

    def profiles(self) -> dict[str, bool]:
        """What the card itself holds: ICCID -> enabled."""
        return {str(Iccid.from_bytes(bytes.fromhex(p.iccid))): p.enabled for p in self.card.store.state.profiles}


@dataclass
class FleetLab:
    """``smdp`` is None in a process that only serves the cards (it reaches the SM-DP+ by
    ``ca_file`` and ``connect_overrides``)."""

    root: Path
    smdp: LabSmdp | None
    ca_file: Path
    connect_overrides: dict[str, str]
    devices: list[Device] = field(default_factory=list)

    @property
    def pki_root(self) -> Path:
        return self.root / "pki"

    @property
    def registry_path(self) -> Path:
        return self.root / "devices.sqlite3"

    @property
    def history_path(self) -> Path:
        return self.root / "history.sqlite3"

    def fleet_rows(self) -> list[dict]:
        return [{"eid": d.eid, "device": f"{CARD_HOST}/local:{d.eid}", "current_iccid": d.old_iccid,
                 "activation_code": d.activation_code} for d in self.devices]

    @classmethod
    def attach(cls, root: Path, size: int, ca_file: str, connect_overrides: dict[str, str]) -> FleetLab:
        """The fleet another process built (same numbering), to serve its cards here."""
        return cls(root, None, Path(ca_file), dict(connect_overrides), _devices(size, set(), set()))

    def close(self) -> None:
        if self.smdp is not None:
            self.smdp.stop()
        for device in self.devices:
            if device.card is not None:
                device.card.close()


def _devices(size: int, pulled: set[int], cannot_install: set[int], first: int = 0) -> list[Device]:
    return [Device(number, pki.eid_for(EIN, number + 1), fleet_iccid(number, 1), fleet_iccid(number, 2),
                   pull_during_load=number in pulled, cannot_install=number in cannot_install)
            for number in range(first, first + size)]


def build_fleet_lab(root: Path, size: int, *, pulled: set[int] = frozenset(),
                    cannot_install: set[int] = frozenset(), with_cards: bool = True, first: int = 0,
                    **target_options) -> FleetLab:
    """``size`` devices numbered from ``first`` (``pulled``/``cannot_install`` pick the faulty
    ones): a PKI with one eUICC identity each, the lab SM-DP+ holding each one's target profile,
    and (``with_cards``) the cards themselves, each with its current profile enabled; the target
    profiles get ``target_options`` (as the lab SM-DP+'s ``add_profile``: a confirmation code,
    policy rules). Two fleets
    on one Temporal server need numbers of their own (an eUICC's entity workflow outlives a test)."""
    root.mkdir(parents=True, exist_ok=True)
    devices = _devices(size, set(pulled), set(cannot_install), first)
    pki.generate(root / "pki", eids=[device.eid for device in devices])
    smdp = LabSmdp(root / "pki", root / "smdp.db").start()
    lab = FleetLab(root, smdp, smdp.ca_file, smdp.connect_overrides, devices)
    try:
        for device in devices:
            device.activation_code = smdp.add_profile(
                device.target_iccid, eid=device.eid, profile_name=f"target {device.number}",
                size=TOO_BIG if device.cannot_install else TARGET_SIZE, **target_options)
        if with_cards:
            serve_cards(lab)
    except BaseException:
        lab.close()
        raise
    return lab


def serve_cards(lab: FleetLab) -> None:
    """A virtual eUICC per device, in memory, with its current profile enabled."""
    for device in lab.devices:
        card = VirtualEuicc(lab.pki_root, None, eid=device.eid,
                            config=EuiccConfig(capacity=SEEDED_PROFILE_SIZE + 2 * TARGET_SIZE))
        _seed_enabled_profile(card, device.old_iccid)
        device.card = card
        device.pullable = PullableCard(card, pull_during_load=device.pull_during_load)


def _seed_enabled_profile(card: VirtualEuicc, iccid: str) -> None:
    """The profile the device shipped with, enabled (as a factory would leave it)."""
    with card.store.transaction() as state:
        index = state.next_isdp_index
        state.next_isdp_index += 1
        state.profiles.append(Profile(
            iccid=Iccid(iccid).to_bytes().hex().upper(), isdp_aid=isdp_aid(index).hex().upper(), profile_class=2,
            service_provider_name="Old Operator", profile_name="factory profile", enabled=True,
            size=SEEDED_PROFILE_SIZE, ci_pkid=card.identity.credentials[0].ci_pkid.hex().upper()))


@dataclass
class RunningWorkers:
    engine: EsimflowWorker
    stop: asyncio.Event
    tasks: list[asyncio.Task]
    executor: ThreadPoolExecutor


@contextlib.asynccontextmanager
async def fleet_workers(client: Client, lab: FleetLab, store: MigrationStore, *, engine_queue: str,
                        migration_queue: str, card_threads: int = 16,
                        cards: dict[str, object] | None = None,
                        max_cached_workflows: int = WorkerOptions.max_cached_workflows,
                        ) -> AsyncIterator[RunningWorkers]:
    """The engine's workers (workflows, network, and the card host serving every card) and the
    migration worker, until the block ends; the cards and servers outlive them. ``cards``: what
    the card host serves by EID, when not this process's own cards (``card_lab.remote_cards``)."""
    config = TemporalConfig(address="unused", device_registry=lab.registry_path, history_path=lab.history_path)
    options = WorkerOptions(
        config=config, net=True, card_host=CARD_HOST, task_queue=engine_queue,
        local_cards=cards if cards is not None else {device.eid: device.pullable for device in lab.devices},
        ca_file=lab.ca_file, connect_overrides=lab.connect_overrides, card_threads=card_threads,
        max_cached_workflows=max_cached_workflows,
        graceful_shutdown=timedelta(seconds=1),
    )
    engine = EsimflowWorker(client, options)
    engine.build()
    stop = asyncio.Event()
    executor = ThreadPoolExecutor(max_workers=200, thread_name_prefix="migration-store")
    migration = migration_worker(client, store, DeviceRegistry(lab.registry_path), task_queue=migration_queue,
                                 executor=executor, graceful_shutdown=timedelta(seconds=1),
                                 max_cached_workflows=max_cached_workflows)

    async def run_migration_worker() -> None:
        async with migration:
            await stop.wait()

    running = RunningWorkers(engine, stop, [asyncio.create_task(engine.run(stop)),
                                            asyncio.create_task(run_migration_worker())], executor)
    try:
        yield running
    finally:
        stop.set()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        executor.shutdown(wait=False)


def open_lab_store(lab: FleetLab) -> MigrationStore:
    return open_store(lab.root / "migrations.sqlite3", KEYRING)
