"""The PC/SC transport through the real pcscd and a vpcd virtual reader, with a stand-in ISD-R
inserted as the virtual card: reader choice, the ES10 session, and the errors for an empty
reader and for a card pulled out mid-session."""
from __future__ import annotations

import pytest

from rsplab.euicc.vpcd import VpcdBridge
from rsplab.pcscd import VPCD_PORTS, ensure_pcscd, vpcd_slot, wait_for_card
from sgp22 import es10
from sgp22.apdu import IsdrChannel
from sgp22.errors import BadInputError, CardRemovedError, TransportError
from carddrivers.pcsc import PcscTransport, choose_reader, list_readers

from tests.protocol.scripted_card import Es10Applet

pytestmark = pytest.mark.pcsc

EID = "89049032123451234512345678901235"
LONG_ANSWER = bytes.fromhex("BF2D") + bytes([0x82, 0x01, 0x2C]) + bytes(300)


@pytest.fixture(scope="module")
def pcscd():
    handle = ensure_pcscd()
    yield
    handle.stop()


@pytest.fixture
def inserted(pcscd):
    """A stand-in ISD-R in the first vpcd reader; yields (reader name, applet, bridge)."""
    with vpcd_slot(VPCD_PORTS[0]) as name:
        wait_for_card(name, present=False)  # the previous holder's card must be gone first
        applet = Es10Applet({"BF3E035C015A": "BF3E125A10" + EID, "BF2D00": LONG_ANSWER.hex()})
        bridge = VpcdBridge(applet, port=VPCD_PORTS[0]).start()
        try:
            assert bridge.wait_connected(10)
            wait_for_card(name)
            yield name, applet, bridge
        finally:
            bridge.stop()
            wait_for_card(name, present=False)


def test_readers_are_listed_in_pcscd_order(pcscd):
    names = list_readers()
    assert "Virtual PCD 00 00" in names and "Virtual PCD 00 01" in names


def test_es10_session_over_pcsc(inserted):
    name, applet, _ = inserted
    with PcscTransport(name) as transport:
        assert transport.atr == applet.atr
        with IsdrChannel(transport) as isdr:
            assert es10.get_eid(isdr) == EID
            assert isdr.store_data(bytes.fromhex("BF2D00")) == LONG_ANSWER  # through 61xx / GET RESPONSE
    assert applet.open_channels == set()


def test_reader_by_index_and_by_part_of_its_name(inserted):
    name, _, _ = inserted
    index = list_readers().index(name)
    for wanted in (index, str(index), "pcd 00 00"):
        with PcscTransport(wanted) as transport:
            assert transport.reader_name == name


def test_card_pulled_out_mid_session_is_card_removed(inserted):
    name, _, bridge = inserted
    with PcscTransport(name) as transport:
        isdr = IsdrChannel(transport).open()
        bridge.stop()
        wait_for_card(name, present=False)
        with pytest.raises(CardRemovedError) as raised:
            es10.get_eid(isdr)
        assert raised.value.kind == "card.removed" and raised.value.retryable
        isdr.close()  # closing after removal is quiet


def test_empty_reader_is_reported_as_no_card(pcscd):
    with vpcd_slot(VPCD_PORTS[1]) as name:
        with pytest.raises(CardRemovedError) as raised:
            PcscTransport(name)
    assert raised.value.kind == "card.absent"
    assert name in raised.value.message


@pytest.mark.parametrize(
    "names,wanted,error",
    [([], None, TransportError), ([], "x", TransportError), (["A", "B"], None, BadInputError),
     (["Reader A", "Reader B"], "reader", BadInputError), (["A"], 1, TransportError), (["A"], -1, TransportError),
     (["A"], "zzz", TransportError)],
)
def test_reader_choice_errors(names, wanted, error):
    with pytest.raises(error):
        choose_reader(names, wanted)


def test_reader_choice_prefers_an_exact_name():
    assert choose_reader(["Reader 1", "Reader 10"], "Reader 1") == 0
    assert choose_reader(["Reader 1"], None) == 0
    assert choose_reader(["0", "1"], "1") == 1
