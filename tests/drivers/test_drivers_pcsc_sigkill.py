"""A worker process SIGKILLed while it holds a logical channel on an eUICC over real PC/SC
(pcscd, a vpcd reader, the virtual eUICC) does not cost the card: the next worker gets it back
and the interrupted download, run again, completes.

pcscd resets a card whose last client dies, which closes every channel; but when another
application keeps a connection to the same card (shared mode: a monitoring tool, a second
service), the card stays powered and the killed worker's channel stays open, so the next worker
must close it itself (and say so in its log)."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from carddrivers.pcsc import PcscTransport
from esimflow.activities.card_access import CardPool
from esimflow.workers.run import served_cards
from rsplab import pcscd
from rsplab.euicc import VirtualEuicc
from rsplab.euicc.vpcd import VpcdBridge
from sgp22 import es10
from sgp22.apdu import MAX_CHANNEL, cla_for_channel
from tests.lab.euicc_kit import SGP26, Lpa, Smdp, iccid_for, pir_result

pytestmark = pytest.mark.pcsc

CHILD = Path(__file__).with_name("pcsc_killed_worker.py")
ROOT = Path(__file__).parents[2]


@pytest.fixture
def card_in_reader(tmp_path):
    """A virtual eUICC (SGP.26 identities) in the first vpcd reader, taken exclusively."""
    handle = pcscd.ensure_pcscd()
    port = pcscd.VPCD_PORTS[0]
    try:
        with pcscd.vpcd_slot(port) as reader, VirtualEuicc(SGP26, tmp_path / "euicc.json") as card:
            with VpcdBridge(card, port=port):
                pcscd.wait_for_card(reader)
                yield card, reader
            pcscd.wait_for_card(reader, present=False)
    finally:
        handle.stop()


def kill_worker_mid_download(reader: str, iccid: str) -> tuple[int, str]:
    """Start a worker process on ``reader``, SIGKILL it once it is in the middle of loading a
    profile; the logical channel it held and what its start logged."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    child = subprocess.Popen([sys.executable, str(CHILD), reader, iccid], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        lines = []
        for line in child.stdout:
            lines.append(line)
            if line.startswith("MID-DOWNLOAD"):
                break
        else:
            pytest.fail(f"the worker ended before the download: {''.join(lines)}{child.stderr.read()}")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert child.returncode == -signal.SIGKILL
        return int(line.split()[1]), child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def open_channels(transport: PcscTransport) -> list[int]:
    """The logical channels open on the card: asked for its EID on a closed one, a card answers
    6881 (logical channel not supported)."""
    get_eid = bytes.fromhex("E29100" "06" "BF3E035C015A")
    return [channel for channel in range(1, MAX_CHANNEL + 1)
            if transport.transmit(bytes([cla_for_channel(channel)]) + get_eid)[-2:] != b"\x68\x81"]


def complete_download(pool: CardPool, spec: str, eid: str, iccid: str) -> str:
    """The download again, start to end, in the next worker's session; the final result."""
    smdp = Smdp()
    with pool.session(spec, eid) as channel:
        lpa = Lpa(channel=channel)
        download = lpa.prepare(smdp, lpa.authenticate(smdp))
        bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid)
        kind, _ = pir_result(lpa.load(bpp))
        return kind


@pytest.mark.parametrize("bystander", [False, True], ids=["alone-on-the-reader", "card-kept-powered"])
def test_the_next_worker_gets_the_card_back_and_the_download_completes(card_in_reader, caplog, bystander):
    card, reader = card_in_reader
    spec, iccid = f"pcsc:{reader}", iccid_for(11)
    other_application = PcscTransport(reader) if bystander else None
    pool = CardPool()
    try:
        held, _ = kill_worker_mid_download(reader, iccid)
        if other_application is not None:
            assert open_channels(other_application) == [held], "the killed worker's channel should still be open"

        with caplog.at_level(logging.WARNING, logger="esimflow.workers.run"):
            (device,) = served_cards(pool, "host-next", [spec])
        assert device.eid == card.eid
        with pool.session(spec, card.eid) as channel, PcscTransport(reader) as probe:
            assert open_channels(probe) == [channel.channel]  # the new worker's session, nothing left over
        if other_application is not None:  # alone, pcscd may have reset the card first
            assert f"closed logical channel(s) {held} that an earlier process left open on {spec}" in caplog.text

        assert complete_download(pool, spec, card.eid, iccid) == "successResult"
        with pool.session(spec, card.eid) as channel:
            assert [p.iccid for p in es10.get_profiles_info(channel)] == [iccid]
    finally:
        pool.close()
        if other_application is not None:
            other_application.close()


def test_workers_killed_again_and_again_leave_one_channel_at_most(card_in_reader):
    """Another application keeping the card powered, each kill leaves one channel open and each
    worker's start closes it: what the kills leave never adds up to a card out of channels."""
    card, reader = card_in_reader
    with PcscTransport(reader) as other_application:
        for attempt in range(4):
            held, log_text = kill_worker_mid_download(reader, iccid_for(20 + attempt))
            assert open_channels(other_application) == [held], f"after kill {attempt}"
            if attempt:
                assert f"closed logical channel(s) {held} that an earlier process left open" in log_text

        pool = CardPool()
        (device,) = served_cards(pool, "host-next", [f"pcsc:{reader}"])
        assert device.eid == card.eid
        assert complete_download(pool, f"pcsc:{reader}", card.eid, iccid_for(99)) == "successResult"
        pool.close()
