"""Leaving the reader to other tools: closing a PC/SC session disconnects from the card
(SCardDisconnect), so a tool that connects exclusively (as most vendor tools and lpac do) gets
it at once; a card host holding per operation lets go between operations, one holding for its
life does not."""
from __future__ import annotations

import time

import pytest
from smartcard.Exceptions import CardConnectionException
from smartcard.scard import SCARD_SHARE_EXCLUSIVE
from smartcard.System import readers

from carddrivers.pcsc import PcscTransport
from esimflow.activities.card_access import CardHold, CardPool
from rsplab.euicc.vpcd import VpcdBridge
from rsplab.pcscd import VPCD_PORTS, ensure_pcscd, vpcd_slot, wait_for_card
from sgp22 import es10
from sgp22.apdu import IsdrChannel

from tests.protocol.scripted_card import Es10Applet

pytestmark = pytest.mark.pcsc

EID = "89049032123451234512345678901235"


@pytest.fixture
def reader():
    handle = ensure_pcscd()
    try:
        with vpcd_slot(VPCD_PORTS[0]) as name:
            wait_for_card(name, present=False)
            bridge = VpcdBridge(Es10Applet({"BF3E035C015A": "BF3E125A10" + EID}), port=VPCD_PORTS[0]).start()
            try:
                assert bridge.wait_connected(10)
                wait_for_card(name)
                yield name
            finally:
                bridge.stop()
                wait_for_card(name, present=False)
    finally:
        handle.stop()


def exclusive_connect(name: str) -> bool:
    """Whether another tool could take the card for itself right now."""
    connection = next(r for r in readers() if str(r) == name).createConnection()
    try:
        connection.connect(mode=SCARD_SHARE_EXCLUSIVE)
    except CardConnectionException:
        return False
    connection.disconnect()
    connection.release()
    return True


def test_closing_the_isdr_session_releases_the_card(reader):
    assert exclusive_connect(reader), "another process holds the card"
    with IsdrChannel(PcscTransport(reader)) as isdr:
        assert es10.get_eid(isdr) == EID
        assert not exclusive_connect(reader)
    assert exclusive_connect(reader)


def test_a_card_host_holding_per_operation_lets_other_tools_in_between(reader):
    spec = f"pcsc:{reader}"
    held = CardPool(hold=CardHold.WORKER)
    assert held.eid_of(spec) == EID
    time.sleep(0.3)
    assert not exclusive_connect(reader)  # held for the worker's life
    held.close()

    per_operation = CardPool(hold=CardHold.OPERATION, release_after=0.2)
    assert per_operation.eid_of(spec) == EID
    deadline = time.monotonic() + 5
    while not exclusive_connect(reader) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not per_operation.is_connected(spec)
    assert exclusive_connect(reader)
    with per_operation.session(spec, EID) as isdr:  # the next operation reconnects
        assert es10.get_eid(isdr) == EID
    per_operation.close()
