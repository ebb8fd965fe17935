"""Handing a vpcd reader from one virtual eUICC to the next, as consecutive tests, ``lab up`` and
``esimflow lab euicc`` runs do: whoever takes the reader next must find a card that answers."""
from __future__ import annotations

import pytest

from carddrivers.pcsc import PcscTransport

from rsplab.euicc import VirtualEuicc
from rsplab.euicc.vpcd import VpcdBridge
from rsplab.pcscd import vpcd_slot, wait_for_card

from tests.lab.stack_kit import SGP26, free_vpcd_port, stack_pcscd  # noqa: F401 - stack_pcscd is a fixture

pytestmark = pytest.mark.pcsc

TERMINAL_CAPABILITY = bytes.fromhex("80AA00000AA9088100820101830107")


def test_a_card_put_in_right_after_the_last_one_left_answers_its_first_apdu(stack_pcscd):
    """The previous holder leaves without waiting for pcscd to see its card go (a killed
    process cannot wait); the next one still gets a working card, not SCARD_E_NOT_TRANSACTED."""
    port = free_vpcd_port()
    for _ in range(4):
        with vpcd_slot(port) as reader, VpcdBridge(VirtualEuicc(SGP26), port=port) as bridge:
            assert bridge.wait_connected(10)
            wait_for_card(reader)
            with PcscTransport(reader) as transport:
                assert transport.transmit(TERMINAL_CAPABILITY) == b"\x90\x00"
