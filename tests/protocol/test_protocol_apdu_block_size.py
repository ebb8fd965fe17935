"""STORE DATA block sizes: a session starts with 255-byte blocks (a 30 KB profile in a third
fewer APDUs than 120-byte ones) and falls back to 120 when the card answers 6700 or the driver
refuses a long command, for the rest of the session; a refusal of a block that is already small
is an error like any other. And closing a session releases its transport."""
from __future__ import annotations

import pytest

from carddrivers.local import LocalTransport
from sgp22.apdu import IsdrChannel
from sgp22.status_words import StatusWrongParametersError
from sgp22.errors import CommandRefusedError

from tests.protocol.scripted_card import Es10Applet

REQUEST = bytes.fromhex("BF2D") + bytes([0x82, 0x01, 0x2C]) + bytes(300)  # 305 bytes
ANSWER = "BF2D00"


class ShortBlocksOnly(Es10Applet):
    """An ISD-R that answers ``refusal`` to STORE DATA blocks longer than ``limit``."""

    def __init__(self, limit: int = 120, refusal: str = "6700", raise_instead: bool = False) -> None:
        super().__init__({REQUEST.hex().upper(): ANSWER})
        self.limit, self.refusal, self.raise_instead = limit, refusal, raise_instead
        self.blocks: list[int] = []

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xE2:
            self.blocks.append(apdu[4])
            if apdu[4] > self.limit:
                if self.raise_instead:
                    raise CommandRefusedError("the modem refused the line (+CME ERROR: 50)")
                return bytes.fromhex(self.refusal)
        return super().transmit(apdu)


def test_blocks_of_255_when_the_card_takes_them():
    card = ShortBlocksOnly(limit=255)
    with IsdrChannel(LocalTransport(card)) as isdr:
        assert isdr.store_data(REQUEST) == bytes.fromhex(ANSWER)
    assert card.blocks == [255, 50]


def test_6700_on_a_long_block_falls_back_to_120_for_the_rest_of_the_session():
    card = ShortBlocksOnly(limit=120)
    with IsdrChannel(LocalTransport(card)) as isdr:
        assert isdr.store_data(REQUEST) == bytes.fromhex(ANSWER)
        assert isdr.block_size == 120
        assert isdr.store_data(REQUEST) == bytes.fromhex(ANSWER)
    assert card.blocks == [255, 120, 120, 65, 120, 120, 65]


def test_a_driver_refusing_a_long_command_falls_back_too():
    card = ShortBlocksOnly(limit=120, raise_instead=True)
    with IsdrChannel(LocalTransport(card)) as isdr:
        assert isdr.store_data(REQUEST) == bytes.fromhex(ANSWER)
    assert card.blocks == [255, 120, 120, 65]


def test_6700_on_a_block_already_at_the_fallback_size_is_an_error():
    card = ShortBlocksOnly(limit=100)
    with IsdrChannel(LocalTransport(card)) as isdr, pytest.raises(StatusWrongParametersError) as refused:
        isdr.store_data(REQUEST)
    assert refused.value.sw == 0x6700
    assert card.blocks == [255, 120]


def test_without_a_fallback_size_the_refusal_surfaces():
    card = ShortBlocksOnly(limit=120, raise_instead=True)
    with IsdrChannel(LocalTransport(card), fallback_block_size=None) as isdr, pytest.raises(CommandRefusedError):
        isdr.store_data(REQUEST)
    assert card.blocks == [255]


def test_a_session_started_at_120_never_sends_longer_blocks():
    card = ShortBlocksOnly(limit=120)
    with IsdrChannel(LocalTransport(card), block_size=120) as isdr:
        isdr.store_data(REQUEST)
    assert card.blocks == [120, 120, 65]


def test_closing_the_session_closes_its_transport_unless_told_otherwise():
    transport = LocalTransport(ShortBlocksOnly())
    with IsdrChannel(transport):
        pass
    assert transport.closed
    shared = LocalTransport(ShortBlocksOnly())
    with IsdrChannel(shared, owns_transport=False):
        pass
    assert not shared.closed
