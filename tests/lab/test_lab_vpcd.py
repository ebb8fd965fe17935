"""The virtual eUICC in a real PC/SC reader: pcscd -> vpcd -> virtual eUICC, driven by pyscard."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sgp22 import codec
from sgp22.errors import CardRemovedError, TransportError
from sgp22.profile_package import encode_iccid
from carddrivers.pcsc import PcscTransport

from rsplab.euicc import Faults, VirtualEuicc
from rsplab.euicc.vpcd import VpcdBridge
from rsplab.pcscd import ensure_pcscd, vpcd_slot, wait_for_card
from tests.lab.euicc_kit import SGP26, Lpa, Smdp, iccid_for, pir_result

pytestmark = pytest.mark.pcsc

PORT = 35963
EID = "89049032123451234512345678901235"


@pytest.fixture(scope="module")
def pcscd():
    handle = ensure_pcscd()
    yield handle
    handle.stop()


@pytest.fixture
def reader(pcscd):
    with vpcd_slot(PORT) as name:
        yield name


def test_an_lpa_downloads_through_pcsc_with_120_byte_blocks_and_61xx(reader):
    card = VirtualEuicc(SGP26)
    with VpcdBridge(card, port=PORT):
        assert wait_for_card(reader) == card.atr
        transport = PcscTransport(reader)
        try:
            lpa = Lpa(transport=transport, block_size=120)
            eid = codec.decode("GetEuiccDataResponse", lpa.es10(bytes.fromhex("BF3E035C015A")))["eidValue"]
            assert eid.hex() == EID
            # AuthenticateServer answers ~1 KB: it only arrives through 61xx / GET RESPONSE
            pir = lpa.install(Smdp(), iccid_for(1), size=3000)
            assert pir_result(pir)[0] == "successResult"
            enable = codec.encode("EnableProfileRequest", {
                "profileIdentifier": ("iccid", encode_iccid(iccid_for(1))), "refreshFlag": True})
            assert codec.decode("EnableProfileResponse", lpa.es10(enable))["enableResult"] == 0
            # the enable notification carries two certificates: far over 256 bytes
            channel = lpa.channel.channel
            raw = transport.transmit(bytes([0x80 | channel, 0xE2, 0x91, 0x00, 0x03]) + bytes.fromhex("BF2B00") + b"\x00")
            assert raw[-2] == 0x61 and len(raw) == 258
        finally:
            lpa.channel.close()
            transport.close()
    assert wait_for_card(reader, present=False) is None


def test_a_pulled_card_is_card_removed_for_the_lpa(reader):
    card = VirtualEuicc(SGP26, faults=Faults(remove_after=4))
    with VpcdBridge(card, port=PORT):
        wait_for_card(reader)
        transport = PcscTransport(reader)
        capability = bytes.fromhex("80AA00000AA9088100820101830107")
        for _ in range(4):
            assert transport.transmit(capability) == b"\x90\x00"
        with pytest.raises(TransportError) as in_flight:  # the APDU the card vanished under
            transport.transmit(capability)
        assert in_flight.value.retryable
        assert wait_for_card(reader, present=False) is None
        with pytest.raises(CardRemovedError):
            transport.transmit(capability)


def test_the_lab_euicc_command_serves_a_durable_card_until_terminated(pcscd, tmp_path):
    esimflow = shutil.which("esimflow") or str(Path(sys.executable).parent / "esimflow")
    state = tmp_path / "card.json"
    command = [esimflow, "lab", "euicc", "--vpcd", f"127.0.0.1:{PORT}", "--state", str(state),
               "--identities", str(SGP26), "--wait-reader", "300", "--no-start-pcscd"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == f"virtual eUICC {EID}"
        reader = process.stdout.readline().split(":", 1)[1].strip()
        wait_for_card(reader)
        transport = PcscTransport(reader)
        lpa = Lpa(transport=transport)
        assert pir_result(lpa.install(Smdp(), iccid_for(2)))[0] == "successResult"
        lpa.channel.close()
        transport.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, process.stderr.read()
    card = VirtualEuicc(SGP26, state)
    assert len(card.store.state.profiles) == 1
    card.close()
