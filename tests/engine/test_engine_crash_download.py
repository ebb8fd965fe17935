"""A worker process killed with SIGKILL in the middle of a download, then started again: the
download finishes with exactly one installed profile, and the SM-DP+ says what the card says.

The virtual eUICC sits in a vpcd reader served by this test process, so like a real card it
outlives the worker; the worker is a separate process reaching it through pcscd."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from esimflow import api
from tests.conftest import TEST_PAYLOAD_KEY
from tests.engine.engine_stack import engine_config, new_iccid

pytestmark = [pytest.mark.temporal, pytest.mark.pcsc, pytest.mark.slow]

WORKER_SCRIPT = """
import asyncio, json, sys
from esimflow.config import TemporalConfig
from esimflow.workers.run import WorkerOptions, serve

args = json.loads(sys.argv[1])
config = TemporalConfig.from_env(address=args["address"], device_registry=args["registry"],
                                 history_path=args["history"])
options = WorkerOptions(config=config, card_host=args["queue"], readers=[args["reader"]], task_queue=args["queue"],
                        ca_file=args["ca_file"], connect_overrides=args["overrides"])

def ready(worker):
    print("ready", [device.eid for device in worker.devices], flush=True)

asyncio.run(serve(options, on_ready=ready))
"""


@pytest.fixture(scope="module")
def smdp(lab_pki):
    from rsplab.smdp.server import LabSmdp

    with LabSmdp(lab_pki.root) as server:
        yield server


class TappedCard:
    """The virtual eUICC as the reader sees it, noting when a bound profile package starts to
    arrive and how many APDUs followed, so a test can kill the worker in the middle of it."""

    def __init__(self, card) -> None:
        self._card = card
        self.apdus_into_load = 0
        self._loading = False

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xE2 and apdu[3] == 0 and apdu[5:7] == b"\xbf\x36":
            self._loading = True
        elif self._loading:
            self.apdus_into_load += 1
        return self._card.transmit(apdu)

    def __getattr__(self, name):
        return getattr(self._card, name)


@pytest.fixture
def card_in_reader(lab_pki, fresh_eid, tmp_path):
    from rsplab import pcscd
    from rsplab.euicc.card import VirtualEuicc
    from rsplab.euicc.vpcd import VpcdBridge

    handle = pcscd.ensure_pcscd()
    port = pcscd.VPCD_PORTS[0]
    try:
        with pcscd.vpcd_slot(port) as reader, VirtualEuicc(lab_pki.root, tmp_path / "euicc.json",
                                                           eid=fresh_eid) as card:
            tapped = TappedCard(card)
            with VpcdBridge(tapped, port=port):
                pcscd.wait_for_card(reader)
                yield tapped, reader
    finally:
        handle.stop()


class WorkerProcess:
    """``esimflow`` workers (net + card host) in a child process that a test can kill."""

    def __init__(self, arguments: dict) -> None:
        self.arguments = arguments
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "ESIMFLOW_CODEC_KEY": TEST_PAYLOAD_KEY.hex()}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, json.dumps(self.arguments)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        deadline = time.monotonic() + timeout
        line = self.process.stdout.readline()  # blocks until the worker says it is ready (or dies)
        assert line.startswith("ready"), f"worker did not start (exit {self.process.poll()}): {line!r}"
        assert time.monotonic() < deadline

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def worker_process(temporal_dev_server, tmp_path, unique_task_queue, smdp, card_in_reader):
    _, reader = card_in_reader
    config = engine_config(tmp_path)
    worker = WorkerProcess({
        "address": temporal_dev_server.address, "registry": str(config.device_registry),
        "history": str(config.history_path), "queue": unique_task_queue, "reader": reader,
        "ca_file": str(smdp.ca_file), "overrides": smdp.connect_overrides,
    })
    worker.start()
    yield worker
    worker.stop()


async def wait_for(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def assert_one_install(dev_client, engine_queue: str, card, smdp, iccid: str, result: api.OperationResult):
    assert result.ok, result
    listed = await api.run_operation(dev_client, api.ListProfilesInput(card.eid), task_queue=engine_queue)
    assert [profile["iccid"] for profile in listed.data["profiles"]] == [iccid]
    assert str(smdp.status(iccid)) == "INSTALLED"
    installs = [change for change in smdp.history(iccid) if change.to_status == "INSTALLED"]
    assert len(installs) == 1


async def test_worker_killed_after_prepare_download(dev_client, worker_process, unique_task_queue, smdp,
                                                    card_in_reader):
    card, _ = card_in_reader
    iccid = new_iccid()
    code = smdp.add_profile(iccid)
    # getBoundProfilePackage (the step after PrepareDownload) answers slowly: the kill lands in it
    rule = smdp.add_fault("getBoundProfilePackage", "delay", seconds=3, count=1)
    handle = await api.start_operation(dev_client, api.DownloadProfileInput(card.eid, code),
                                       task_queue=unique_task_queue)

    async def fetching() -> bool:
        return any(entry["id"] == rule and entry["seen"] >= 1 for entry in smdp.faults.rules())

    await wait_for(fetching, what="getBoundProfilePackage after PrepareDownload")
    worker_process.kill()
    assert card.apdus_into_load == 0
    worker_process.start()
    result = await handle.result()
    smdp.faults.remove(rule)
    await assert_one_install(dev_client, unique_task_queue, card, smdp, iccid, result)


async def test_worker_killed_during_load_bound_profile_package(dev_client, worker_process, unique_task_queue,
                                                               smdp, card_in_reader):
    card, _ = card_in_reader
    iccid = new_iccid()
    code = smdp.add_profile(iccid, size=30_000)  # about 250 STORE DATA blocks
    card.faults.delay_s = 0.02  # a LoadBoundProfilePackage long enough to be interrupted
    handle = await api.start_operation(dev_client, api.DownloadProfileInput(card.eid, code),
                                       task_queue=unique_task_queue)

    async def loading() -> bool:
        return card.apdus_into_load >= 20

    await wait_for(loading, what="LoadBoundProfilePackage segments reaching the card")
    worker_process.kill()
    card.faults.delay_s = 0.0
    worker_process.start()
    result = await handle.result()
    await assert_one_install(dev_client, unique_task_queue, card, smdp, iccid, result)
