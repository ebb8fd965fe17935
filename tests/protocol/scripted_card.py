"""Two stand-in cards for protocol tests (the full virtual eUICC lives in rsplab):

- `ScriptedCard`: expects an exact sequence of APDUs and plays back canned answers, for the
  framing rules (segmentation, GET RESPONSE, channels).
- `Es10Applet`: a minimal ISD-R that reassembles STORE DATA sequences (checking P1/P2 the way
  a card does) and answers each whole request from a table or a function, for ES10 tests.
"""
from __future__ import annotations

from collections.abc import Callable

from sgp22 import apdu


class ScriptedCard:
    def __init__(self, script: list[tuple[str, str]]) -> None:
        self.script = [(bytes.fromhex(c.replace(" ", "")), bytes.fromhex(r.replace(" ", ""))) for c, r in script]
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        index = len(self.sent) - 1
        assert index < len(self.script), f"unexpected extra APDU {apdu.hex().upper()}"
        expected, answer = self.script[index]
        assert apdu == expected, f"APDU {index}: sent {apdu.hex().upper()}, expected {expected.hex().upper()}"
        return answer

    @property
    def finished(self) -> bool:
        return len(self.sent) == len(self.script)


class Sw(int):
    """Returned by an answer function: the applet replies with this status word and no data."""


Answer = Callable[[bytes], "bytes | Sw"]


class Es10Applet:
    """Answers ES10 requests; ``answers`` maps a whole request (hex) to the whole response
    (hex), or is a function from request bytes to response bytes."""

    ISDR_AID = apdu.ISDR_AID
    atr = bytes.fromhex("3B9F96803FC7828031E073FE211F574543753130136542")

    def __init__(self, answers: dict[str, str] | Answer, *, chunk: int = 256) -> None:
        if isinstance(answers, dict):
            table = {bytes.fromhex(k): bytes.fromhex(v) for k, v in answers.items()}
            self.answer: Answer = lambda request: table[request]
        else:
            self.answer = answers
        self.chunk = chunk  # answers longer than this come back through 61xx/GET RESPONSE
        self.requests: list[bytes] = []
        self.apdus: list[bytes] = []
        self.open_channels: set[int] = set()
        self.selected: set[int] = set()
        self._blocks: dict[int, tuple[int, bytearray]] = {}
        self._pending = b""

    def reset(self) -> None:
        """Power cycle (what a reader does on insertion): every logical channel closes."""
        self.open_channels.clear()
        self.selected.clear()
        self._blocks.clear()
        self._pending = b""

    @staticmethod
    def _channel(cla: int) -> int:
        return cla & 0x03 if not cla & 0x40 else 4 + (cla & 0x0F)

    def transmit(self, apdu: bytes) -> bytes:
        self.apdus.append(apdu)
        cla, ins, p1, p2 = apdu[:4]
        if ins == 0x70:
            if p1 == 0x00:
                channel = min(set(range(1, 20)) - self.open_channels)
                self.open_channels.add(channel)
                return bytes([channel]) + b"\x90\x00"
            self.open_channels.discard(p2)
            self.selected.discard(p2)
            return b"\x90\x00"
        if ins == 0xAA:
            return b"\x90\x00"
        channel = self._channel(cla)
        if channel and channel not in self.open_channels:
            return b"\x68\x81"
        if ins == 0xA4:
            if apdu[5 : 5 + apdu[4]] != self.ISDR_AID:
                return b"\x6a\x82"
            self.selected.add(channel)
            return b"\x90\x00"
        if ins == 0xC0:
            return self._next_chunk(apdu[4] or 256)
        if ins == 0xE2:
            if channel not in self.selected:
                return b"\x69\x85"
            return self._store_data(channel, p1, p2, apdu)
        return b"\x6d\x00"

    def _store_data(self, channel: int, p1: int, p2: int, apdu: bytes) -> bytes:
        lc = apdu[4]
        block = apdu[5 : 5 + lc]
        assert len(apdu) == 6 + lc and apdu[-1] == 0x00, "STORE DATA must be CLA E2 P1 P2 Lc data 00"
        expected_number, data = self._blocks.get(channel, (0, bytearray()))
        if p2 != expected_number:
            self._blocks.pop(channel, None)
            return b"\x6a\x86"
        data += block
        if p1 == 0x11:
            self._blocks[channel] = (expected_number + 1, data)
            return b"\x90\x00"
        if p1 != 0x91:
            self._blocks.pop(channel, None)
            return b"\x6a\x86"
        self._blocks.pop(channel, None)
        request = bytes(data)
        self.requests.append(request)
        answer = self.answer(request)
        if isinstance(answer, Sw):
            return int(answer).to_bytes(2, "big")
        self._pending = answer
        return self._next_chunk(self.chunk)

    def _next_chunk(self, size: int) -> bytes:
        part, self._pending = self._pending[:size], self._pending[size:]
        if self._pending:
            return part + bytes([0x61, min(len(self._pending), 256) & 0xFF])
        return part + b"\x90\x00"
