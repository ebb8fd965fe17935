"""Exactly once at every kill point: the worker process (a real separate process serving the
workflows and the card and network steps of one card host) is killed with SIGKILL at each step
boundary of an operation and inside its long steps, then started again; the operation ends as
if nothing had happened.

The virtual eUICC sits in a vpcd reader served by this test process, so like a real card it
outlives the worker, and the test kills the worker from inside the card's APDU handling: before
the card runs a command, or right after it ran one and before its answer reaches the worker
(nothing of it recorded anywhere). SM-DP+ kill points hold the function with a delay fault and
kill while it is held. The lab card is fast: a whole download fits in one workflow task, whose
local activities are recorded only when the task completes.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from esimflow import contract
from esimflow.client import run_operation, start_operation
from sgp22.es10_types import iccid_digits
from tests.conftest import TEST_PAYLOAD_KEY
from tests.engine.engine_stack import engine_config, new_iccid

pytestmark = [pytest.mark.temporal, pytest.mark.pcsc, pytest.mark.slow]

WORKER_SCRIPT = """
import asyncio, json, sys
from datetime import timedelta
from pathlib import Path
from esimflow.config import TemporalConfig
from esimflow.workers.run import WorkerOptions, serve

args = json.loads(sys.argv[1])
config = TemporalConfig.from_env(address=args["address"], device_registry=args["registry"],
                                 history_path=args["history"])
options = WorkerOptions(config=config, card_host=args["queue"], readers=[args["reader"]], task_queue=args["queue"],
                        ca_file=args["ca_file"], connect_overrides=args["overrides"],
                        os_image_dir=Path(args["os_images"]),
                        # a restarted worker takes the dead one's workflows after 2 s, not 10
                        sticky_queue_timeout=timedelta(seconds=2))

def ready(worker):
    print("ready", [device.eid for device in worker.devices], flush=True)

asyncio.run(serve(options, on_ready=ready))
"""

STORE_DATA = 0xE2
PREPARE_DOWNLOAD = b"\xbf\x21"
BOUND_PROFILE_PACKAGE = b"\xbf\x36"
PROFILE_INSTALLATION_RESULT = b"\xbf\x37"
ENABLE_PROFILE = b"\xbf\x31"
DELETE_PROFILE = b"\xbf\x33"
MEMORY_RESET = b"\xbf\x34"
OS_UPDATE, OS_UPDATE_FINISH = 0x3C, 0x80


@dataclass(frozen=True)
class KillPoint:
    """Where the worker dies. ``before``: a command with this ES10 tag reaches the card (the
    card does not run it); ``after``: the card ran the command with this tag (its last block);
    ``installed``: the card answered with its installation result; ``into_load``: this many
    blocks of the bound profile package reached the card; ``smdp``: the SM-DP+ holds this ES9+
    function."""

    name: str
    before: bytes | None = None
    after: bytes | None = None
    installed: bool = False
    into_load: int | None = None
    smdp: str | None = None
    os_update_finished: bool = False


class TappedCard:
    """The virtual eUICC as the reader sees it; kills the worker at an armed kill point."""

    def __init__(self, card) -> None:
        self._card = card
        self._point: KillPoint | None = None
        self._kill: Callable[[], None] | None = None
        self._tag = b""
        self._load_blocks: int | None = None  # blocks of the bound profile package so far
        self.killed = threading.Event()

    def arm(self, point: KillPoint, kill: Callable[[], None]) -> None:
        self._point, self._kill = point, kill
        self.killed.clear()

    def fire(self) -> None:
        """Kill now (from the reader's thread: the card's answer never reaches the worker)."""
        self._point = None
        self._kill()
        self.killed.set()

    def transmit(self, apdu: bytes) -> bytes:
        point = self._point
        store_data = apdu[1] == STORE_DATA
        if store_data and apdu[3] == 0:  # the first block of an ES10 command
            self._tag = bytes(apdu[5:7])
            if self._tag == BOUND_PROFILE_PACKAGE:  # the package's segments follow until the PIR
                self._load_blocks = 0
        if store_data and self._load_blocks is not None:
            self._load_blocks += 1
        if point is not None:
            if point.before is not None and store_data and apdu[3] == 0 and self._tag == point.before:
                self.fire()
                return b"\x6f\x00"
            if point.into_load is not None and (self._load_blocks or 0) > point.into_load:
                self.fire()
                return b"\x6f\x00"
        response = self._card.transmit(apdu)
        if response[:2] == PROFILE_INSTALLATION_RESULT:
            self._load_blocks = None
        if point is not None and self._point is point:
            if point.after is not None and store_data and apdu[2] & 0x80 and self._tag == point.after:
                self.fire()
            elif point.installed and response[:2] == PROFILE_INSTALLATION_RESULT:
                self.fire()
            elif point.os_update_finished and apdu[1] == OS_UPDATE and apdu[2] == OS_UPDATE_FINISH:
                self.fire()
        return response

    def __getattr__(self, name):
        return getattr(self._card, name)


class WorkerProcess:
    """``esimflow`` workers (net + card host) in a child process that a test can kill."""

    def __init__(self, arguments: dict) -> None:
        self.arguments = arguments
        self.history_path = arguments["history"]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "ESIMFLOW_CODEC_KEY": TEST_PAYLOAD_KEY.hex()}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, json.dumps(self.arguments)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        line = self.process.stdout.readline()  # blocks until the worker says it is ready (or dies)
        assert line.startswith("ready"), f"worker did not start (exit {self.process.poll()}): {line!r}"

    def kill(self) -> None:
        """SIGKILL, safe to call from the card's thread (the test reaps the process)."""
        os.kill(self.process.pid, signal.SIGKILL)

    def restart(self) -> None:
        self.process.wait()
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def smdp(lab_pki):
    from rsplab.smdp.server import LabSmdp

    with LabSmdp(lab_pki.root) as server:
        yield server


@pytest.fixture(scope="module")
def card_in_reader(lab_pki, _unused_eids, tmp_path_factory):
    from rsplab import pcscd
    from rsplab.euicc.card import VirtualEuicc
    from rsplab.euicc.vpcd import VpcdBridge

    handle = pcscd.ensure_pcscd()
    port = pcscd.VPCD_PORTS[0]
    state = tmp_path_factory.mktemp("crash-card") / "euicc.json"
    try:
        with pcscd.vpcd_slot(port) as reader, VirtualEuicc(lab_pki.root, state, eid=next(_unused_eids)) as card:
            tapped = TappedCard(card)
            with VpcdBridge(tapped, port=port):
                pcscd.wait_for_card(reader)
                yield tapped, reader
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def queue() -> str:
    return f"t-crash-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def os_images(tmp_path_factory, lab_pki):
    from rsplab.euicc.osu import build_os_image

    images = tmp_path_factory.mktemp("os-images")
    (images / "os-1.2.0.img").write_bytes(build_os_image((1, 2, 0), b"\x5a" * 6000, lab_pki.eum.private_key))
    return images


@pytest.fixture(scope="module")
def worker(temporal_dev_server, tmp_path_factory, queue, smdp, card_in_reader, os_images):
    _, reader = card_in_reader
    config = engine_config(tmp_path_factory.mktemp("crash-engine"))
    process = WorkerProcess({
        "address": temporal_dev_server.address, "registry": str(config.device_registry),
        "history": str(config.history_path), "queue": queue, "reader": reader,
        "ca_file": str(smdp.ca_file), "overrides": smdp.connect_overrides, "os_images": str(os_images),
    })
    process.start()
    yield process
    process.stop()


async def crashed_run(dev_client, queue: str, worker: WorkerProcess, card: TappedCard, smdp, point: KillPoint,
                      op_input) -> contract.OperationResult:
    """Run ``op_input`` with ``point`` armed: the worker dies there and is started again; the
    operation's result once it ends."""
    card.arm(point, worker.kill)
    rule = smdp.add_fault(point.smdp, "delay", seconds=3, count=1) if point.smdp else None
    handle = await start_operation(dev_client, op_input, task_queue=queue)
    deadline = time.monotonic() + 60
    while not card.killed.is_set():
        assert time.monotonic() < deadline, f"the operation never reached the kill point {point.name}"
        if rule is not None and any(entry["id"] == rule and entry["seen"] >= 1 for entry in smdp.faults.rules()):
            card.fire()
            break
        await asyncio.sleep(0.02)
    worker.restart()
    result = await asyncio.wait_for(handle.result(), 120)
    if rule is not None:
        smdp.faults.remove(rule)
    return result


def statuses(smdp, iccid: str) -> list[str]:
    """The statuses the SM-DP+ moved the profile to, in order (rows that changed nothing, such
    as a notification delivered again, left out: the SM-DP+ ignored those)."""
    return [str(change.to_status) for change in smdp.history(iccid)
            if change.error is None and change.from_status != change.to_status]


def recorded(worker: WorkerProcess, iccid: str) -> list[str]:
    """The statuses the engine recorded for the profile (its own status history)."""
    from esimflow.history import open_history

    return [str(change.to_status) for change in open_history(worker.history_path).history(iccid)]


def pending_on_card(card: TappedCard) -> list:
    return list(card.store.state.notifications)


def profiles_on_card(card: TappedCard, *, enabled: bool = False) -> list[str]:
    """The ICCIDs the card's own state holds (``enabled``: only the enabled ones)."""
    return [iccid_digits(profile.iccid_bytes) for profile in card.store.state.profiles
            if not enabled or profile.enabled]


DOWNLOAD_KILL_POINTS = [
    KillPoint("after authenticateClient", before=PREPARE_DOWNLOAD),
    KillPoint("after PrepareDownload", after=PREPARE_DOWNLOAD),
    KillPoint("during getBoundProfilePackage", smdp="getBoundProfilePackage"),
    KillPoint("before LoadBoundProfilePackage", before=BOUND_PROFILE_PACKAGE),
    KillPoint("during LoadBoundProfilePackage", into_load=12),
    KillPoint("right after the card installed", installed=True),
    KillPoint("during the install-result delivery", smdp="handleNotification"),
    KillPoint("during enable", after=ENABLE_PROFILE),
]


@pytest.mark.parametrize("point", DOWNLOAD_KILL_POINTS, ids=lambda point: point.name.replace(" ", "-"))
async def test_download_is_exactly_once_at_every_kill_point(dev_client, worker, queue, smdp, card_in_reader,
                                                            point):
    card, _ = card_in_reader
    iccid = new_iccid()
    switch = point.after == ENABLE_PROFILE
    code = smdp.add_profile(iccid, size=6_000)  # about 50 blocks of bound profile package
    result = await crashed_run(dev_client, queue, worker, card, smdp, point, contract.DownloadProfileInput(
        card.eid, code, switch_after_download=switch, force_disable_profile=switch))
    assert result.ok, result
    assert result.data["iccid"] == iccid
    assert profiles_on_card(card).count(iccid) == 1
    history = statuses(smdp, iccid)
    assert "CANCELED" not in history, history
    assert history.count("INSTALLED") == 1, history
    assert str(smdp.status(iccid)) == ("ENABLED" if switch else "INSTALLED"), history
    if switch:
        assert result.data["enabled"] is True
        assert history.count("ENABLED") == 1, history
    engine_records = recorded(worker, iccid)
    assert engine_records.count("INSTALLED") == 1 and engine_records.count("ENABLED") == int(switch), engine_records
    assert pending_on_card(card) == [], "a notification was left undelivered"


async def installed_profile(dev_client, queue: str, card: TappedCard, smdp) -> str:
    iccid = new_iccid()
    result = await run_operation(dev_client, contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid)),
                                     task_queue=queue)
    assert result.ok, result
    return iccid


async def test_switch_is_exactly_once_when_killed_right_after_the_card_enabled(dev_client, worker, queue, smdp,
                                                                             card_in_reader):
    card, _ = card_in_reader
    enabled_before = next(iter(profiles_on_card(card, enabled=True)), None)
    target = await installed_profile(dev_client, queue, card, smdp)
    result = await crashed_run(dev_client, queue, worker, card, smdp, KillPoint("after enable", after=ENABLE_PROFILE),
                               contract.SwitchProfileInput(card.eid, target, force_disable_profile=True))
    assert result.ok and not result.data.get("already_enabled"), result
    assert profiles_on_card(card, enabled=True) == [target]
    assert statuses(smdp, target).count("ENABLED") == 1 and str(smdp.status(target)) == "ENABLED"
    assert recorded(worker, target).count("ENABLED") == 1, recorded(worker, target)
    if enabled_before is not None:
        assert result.data["disabled_iccid"] == enabled_before
        assert str(smdp.status(enabled_before)) == "DISABLED"
        assert statuses(smdp, enabled_before).count("DISABLED") == 1
    assert pending_on_card(card) == []


async def test_delete_is_exactly_once_when_killed_right_after_the_card_deleted(dev_client, worker, queue, smdp,
                                                                             card_in_reader):
    card, _ = card_in_reader
    target = await installed_profile(dev_client, queue, card, smdp)
    result = await crashed_run(dev_client, queue, worker, card, smdp, KillPoint("after delete", after=DELETE_PROFILE),
                               contract.DeleteProfileInput(card.eid, target))
    assert result.ok, result
    assert target not in profiles_on_card(card)
    assert statuses(smdp, target).count("DELETED") == 1, statuses(smdp, target)
    assert recorded(worker, target).count("DELETED") == 1, recorded(worker, target)
    assert pending_on_card(card) == []


async def test_os_update_is_successful_when_killed_right_after_the_card_applied_it(dev_client, worker, queue,
                                                                                 smdp, card_in_reader):
    card, _ = card_in_reader
    result = await crashed_run(dev_client, queue, worker, card, smdp,
                               KillPoint("after the OS update finished", os_update_finished=True),
                               contract.OsUpdateInput(card.eid, start=True))
    assert result.ok, result
    assert (result.data["osu_status_name"], result.data["os_version"]) == ("EUICC_UPGRADE_SUCCESSFUL", "1.2.0")


async def test_reset_is_exactly_once_when_killed_right_after_the_card_reset(dev_client, worker, queue, smdp,
                                                                          card_in_reader):
    card, _ = card_in_reader
    await installed_profile(dev_client, queue, card, smdp)
    before = profiles_on_card(card)
    result = await crashed_run(dev_client, queue, worker, card, smdp, KillPoint("after reset", after=MEMORY_RESET),
                               contract.ResetMemoryInput(card.eid))
    assert result.ok, result
    assert profiles_on_card(card) == []
    assert sorted(result.data["deleted"]) == sorted(before)
    for iccid in before:  # (eUICCMemoryReset sends no notifications: the engine's history tells)
        assert recorded(worker, iccid).count("DELETED") == 1, (iccid, recorded(worker, iccid))
    assert pending_on_card(card) == []
