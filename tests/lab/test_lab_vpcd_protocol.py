"""The vpcd wire protocol and reconnection, against a stand-in for pcscd's vpcd listener."""
from __future__ import annotations

import socket
import struct

import pytest

from sgp22.errors import BadInputError

from rsplab.euicc import Faults, VirtualEuicc
from rsplab.euicc.vpcd import VpcdBridge, parse_address
from tests.lab.euicc_kit import SGP26


class FakeVpcd:
    """Listens like vpcd does and speaks its length-prefixed messages."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(10)
        self.port = self.server.getsockname()[1]
        self.connection: socket.socket | None = None

    def accept(self) -> None:
        self.connection, _ = self.server.accept()
        self.connection.settimeout(10)

    def send(self, payload: bytes) -> None:
        self.connection.sendall(struct.pack(">H", len(payload)) + payload)

    def receive(self) -> bytes:
        length = struct.unpack(">H", self._exactly(2))[0]
        return self._exactly(length)

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.connection.recv(size - len(data))
            if not chunk:
                raise ConnectionError("card side closed")
            data += chunk
        return data

    def exchange(self, apdu: bytes) -> bytes:
        self.send(apdu)
        return self.receive()

    def drop(self) -> None:
        self.connection.close()

    def close(self) -> None:
        if self.connection:
            self.connection.close()
        self.server.close()


@pytest.fixture
def vpcd():
    fake = FakeVpcd()
    yield fake
    fake.close()


def test_controls_and_apdus(vpcd):
    card = VirtualEuicc(SGP26)
    with VpcdBridge(card, port=vpcd.port, retry_interval=0.05):
        vpcd.accept()
        vpcd.send(b"\x01")                  # power on: no answer
        assert vpcd.exchange(b"\x04") == card.atr
        assert vpcd.exchange(bytes.fromhex("0070000001")) == b"\x01\x90\x00"
        vpcd.send(b"\x02")                  # reset closes the channel
        assert vpcd.exchange(bytes.fromhex("0070800100")) == b"\x68\x81"


def test_the_bridge_reconnects_when_vpcd_drops_it(vpcd):
    card = VirtualEuicc(SGP26)
    with VpcdBridge(card, port=vpcd.port, retry_interval=0.05) as bridge:
        vpcd.accept()
        assert vpcd.exchange(b"\x04") == card.atr
        vpcd.drop()
        vpcd.accept()
        assert vpcd.exchange(b"\x04") == card.atr
        assert bridge.wait_connected(5)


def test_a_pulled_card_disconnects_and_comes_back_when_reinserted(vpcd):
    card = VirtualEuicc(SGP26, faults=Faults(remove_after=1))
    with VpcdBridge(card, port=vpcd.port, retry_interval=0.05, reinsert_after=0.0):
        vpcd.accept()
        assert vpcd.exchange(bytes.fromhex("80AA00000AA9088100820101830107")) == b"\x90\x00"
        vpcd.send(bytes.fromhex("80AA00000AA9088100820101830107"))
        with pytest.raises(ConnectionError):
            vpcd.receive()
        card.faults.remove_after = None
        vpcd.accept()                        # the card is back in the reader
        assert vpcd.exchange(b"\x04") == card.atr


def test_stop_takes_the_card_out(vpcd):
    card = VirtualEuicc(SGP26)
    bridge = VpcdBridge(card, port=vpcd.port).start()
    vpcd.accept()
    assert vpcd.exchange(b"\x04") == card.atr
    bridge.stop()
    with pytest.raises(ConnectionError):
        vpcd.receive()


def test_addresses():
    assert parse_address("127.0.0.1:35964") == ("127.0.0.1", 35964)
    assert parse_address("35963") == ("127.0.0.1", 35963)
    for bad in ("host:port", "127.0.0.1:0", "127.0.0.1:70000"):
        with pytest.raises(BadInputError):
            parse_address(bad)
