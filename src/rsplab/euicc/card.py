"""The virtual eUICC as a card: APDUs in, response data and status words out.

This layer is what any PC/SC LPA sees: a T=0 ATR, logical channels, SELECT of the ISD-R,
STORE DATA reassembled per channel, answers longer than 256 bytes handed out with ``61xx`` and
GET RESPONSE, TERMINAL CAPABILITY, and the vendor OS-update commands. The ES10 functions behind
the ISD-R live in :mod:`rsplab.euicc.es10_server`; nothing here knows what they mean.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
from dataclasses import dataclass

from sgp22 import codec
from sgp22.apdu import ISDR_AID
from sgp22.errors import CardRemovedError, EsimError
from sgp22.tlv import build

from rsplab.euicc.apdu_io import (
    MAX_CHANNEL,
    SHORT_RESPONSE_MAX,
    SW_CHANNEL_NOT_SUPPORTED,
    SW_CLA_NOT_SUPPORTED,
    SW_CONDITIONS_NOT_SATISFIED,
    SW_FILE_NOT_FOUND,
    SW_FUNCTION_NOT_SUPPORTED,
    SW_INS_NOT_SUPPORTED,
    SW_NOT_ENOUGH_MEMORY,
    SW_OK,
    SW_TECHNICAL_PROBLEM,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    ApduStatus,
    CommandApdu,
    parse_command,
    sw_bytes,
)
from rsplab.euicc.config import EuiccConfig
from rsplab.euicc.es10_server import Es10Server
from rsplab.euicc.faults import FaultInjector, Faults
from rsplab.euicc.identity import EuiccIdentity
from rsplab.euicc.osu import OsuService
from rsplab.euicc.state import StateStore

log = logging.getLogger(__name__)

ECASD_AID = bytes.fromhex("A0000005591010FFFFFFFF8900000200")
DEFAULT_ATR = bytes.fromhex("3B9F96803FC7828031E073FE211F574543753130136542")
"""T=0 first (TD1 = 80), then T=15 global bytes (clock stop, class A/B/C voltages), historical
bytes of a UICC; the last byte is the TCK that makes the XOR of T0..TCK zero."""

MAX_STORE_DATA = 4 * 1024 * 1024
"""Largest ES10 command reassembled from STORE DATA blocks (a whole BPP sent as one command)."""

_INS_MANAGE_CHANNEL = 0x70
_INS_SELECT = 0xA4
_INS_GET_RESPONSE = 0xC0
_INS_STORE_DATA = 0xE2
_INS_TERMINAL_CAPABILITY = 0xAA


@dataclass
class _Channel:
    selected: bytes | None = None
    assembling: bytearray | None = None
    next_block: int = 0
    pending: bytes = b""


class VirtualEuicc:
    """A GSMA SGP.22 v2.2 eUICC in software, answering APDUs with real cryptography.

    ``identity`` holds CERT.EUICC + SK.EUICC, CERT.EUM and the CI certificates it trusts (an
    :class:`EuiccIdentity`, or a directory in the SGP.26 layout). ``state_path`` makes it
    durable (None keeps everything in memory). ``capacity`` bounds the bytes of installed
    profile packages. ``faults`` injects slowness, removal, catBusy and corrupted answers.
    """

    def __init__(
        self,
        identity,
        state_path: str | os.PathLike | None = None,
        *,
        eid: str | None = None,
        capacity: int | None = None,
        faults: Faults | None = None,
        config: EuiccConfig | None = None,
        atr: bytes = DEFAULT_ATR,
    ) -> None:
        self.identity = EuiccIdentity.coerce(identity, eid=eid)
        self.config = config or EuiccConfig()
        if capacity is not None:
            self.config = dataclasses.replace(self.config, capacity=capacity)
        self.atr = bytes(atr)
        self._injector = FaultInjector(faults)
        self.store = StateStore(state_path, self.identity.eid, initial=self.config.initial_state(self.identity.eid))
        self.es10 = Es10Server(self.identity, self.store, self.config, self._injector.faults)
        self.osu = OsuService(self.identity, self.store, self.config, self._injector.faults)
        self._lock = threading.RLock()
        self._channels: dict[int, _Channel] = {}
        self.reset()

    # --- the card contract

    @property
    def eid(self) -> str:
        return self.identity.eid

    @property
    def faults(self) -> Faults:
        return self._injector.faults

    def transmit(self, apdu: bytes) -> bytes:
        """One command APDU in, response data followed by SW1 SW2 out.

        Raises :class:`CardRemovedError` once fault injection has pulled the card.
        """
        with self._lock:
            self._injector.before()
            response = self._answer(bytes(apdu))
            return self._injector.after(response)

    def reset(self) -> bytes:
        """Cold or warm reset: channels close, the RSP session and partial commands are lost."""
        with self._lock:
            self._channels = {0: _Channel()}
            self.es10.reset()
            self.osu.reset()
            self._injector.power_on()
            return self.atr

    def reinsert(self) -> bytes:
        """Put back a card that fault injection removed, as a fresh power-on."""
        with self._lock:
            self._injector.reinsert()
            return self.reset()

    @property
    def removed(self) -> bool:
        return self._injector.removed

    @property
    def apdu_count(self) -> int:
        """APDUs answered since the last power-on (what ``remove_after`` and ``corrupt_apdus`` count)."""
        return self._injector.apdu_count

    def close(self) -> None:
        """Release the state file lock (the state itself is always committed)."""
        self.store.close()

    def __enter__(self) -> "VirtualEuicc":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VirtualEuicc(eid={self.eid}, state={self.store.path or 'memory'})"

    # --- dispatch

    def _answer(self, raw: bytes) -> bytes:
        try:
            command = parse_command(raw)
            channel = self._channels.get(command.channel)
            if channel is None:
                raise ApduStatus(SW_CHANNEL_NOT_SUPPORTED, f"channel {command.channel} is not open")
            if command.ins != _INS_GET_RESPONSE:
                channel.pending = b""
            return self._dispatch(command, channel)
        except ApduStatus as status:
            return sw_bytes(status.sw)
        except CardRemovedError:
            raise
        except EsimError as error:
            log.warning("virtual eUICC refused an APDU: %s", error)
            return sw_bytes(SW_TECHNICAL_PROBLEM)
        except Exception:  # a card answers 6F00 instead of dying; the log keeps the bug visible
            log.exception("virtual eUICC failed on an APDU")
            return sw_bytes(SW_TECHNICAL_PROBLEM)

    def _dispatch(self, command: CommandApdu, channel: _Channel) -> bytes:
        ins = command.ins
        if ins == _INS_GET_RESPONSE:
            return self._get_response(command, channel)
        if not command.proprietary:
            if ins == _INS_MANAGE_CHANNEL:
                return self._manage_channel(command, channel)
            if ins == _INS_SELECT:
                return self._select(command, channel)
            if ins in (_INS_STORE_DATA, _INS_TERMINAL_CAPABILITY) or self.osu.handles(ins):
                raise ApduStatus(SW_CLA_NOT_SUPPORTED, f"INS {ins:02X} needs a proprietary class")
            raise ApduStatus(SW_INS_NOT_SUPPORTED, f"INS {ins:02X}")
        if ins == _INS_STORE_DATA:
            return self._store_data(command, channel)
        if ins == _INS_TERMINAL_CAPABILITY:
            return self._terminal_capability(command)
        if self.osu.handles(ins):
            return self._respond(command, channel, self.osu.handle(command))
        if ins in (_INS_MANAGE_CHANNEL, _INS_SELECT):
            raise ApduStatus(SW_CLA_NOT_SUPPORTED, f"INS {ins:02X} needs an interindustry class")
        raise ApduStatus(SW_INS_NOT_SUPPORTED, f"INS {ins:02X}")

    # --- responses and GET RESPONSE

    def _respond(self, command: CommandApdu, channel: _Channel, data: bytes | None) -> bytes:
        data = data or b""
        first = command.le if command.le is not None and command.le < SHORT_RESPONSE_MAX else SHORT_RESPONSE_MAX
        if len(data) <= first:
            return data + sw_bytes(SW_OK)
        channel.pending = data[first:]
        return data[:first] + self._more_available(channel.pending)

    @staticmethod
    def _more_available(pending: bytes) -> bytes:
        return bytes([0x61, min(len(pending), SHORT_RESPONSE_MAX) & 0xFF])

    def _get_response(self, command: CommandApdu, channel: _Channel) -> bytes:
        if command.p1 or command.p2:
            raise ApduStatus(SW_WRONG_P1P2, "GET RESPONSE takes P1 P2 = 00 00")
        if command.has_data:
            raise ApduStatus(SW_WRONG_LENGTH, "GET RESPONSE carries no data")
        if not channel.pending:
            raise ApduStatus(SW_CONDITIONS_NOT_SATISFIED, "no response data is waiting")
        size = command.le or SHORT_RESPONSE_MAX
        chunk, channel.pending = channel.pending[:size], channel.pending[size:]
        if channel.pending:
            return chunk + self._more_available(channel.pending)
        return chunk + sw_bytes(SW_OK)

    # --- MANAGE CHANNEL

    def _manage_channel(self, command: CommandApdu, origin: _Channel) -> bytes:
        if command.has_data:
            raise ApduStatus(SW_WRONG_LENGTH, "MANAGE CHANNEL carries no data")
        if command.p1 == 0x00:
            if command.p2 == 0:
                number = next((n for n in range(1, MAX_CHANNEL + 1) if n not in self._channels), None)
                if number is None:
                    raise ApduStatus(SW_FUNCTION_NOT_SUPPORTED, "no logical channel left")
            elif 1 <= command.p2 <= MAX_CHANNEL:
                number = command.p2
                if number in self._channels:
                    raise ApduStatus(SW_CONDITIONS_NOT_SATISFIED, f"channel {number} is already open")
            else:
                raise ApduStatus(SW_WRONG_P1P2, f"channel {command.p2} does not exist")
            inherited = origin.selected if command.channel != 0 else None
            self._channels[number] = _Channel(selected=inherited)
            return (bytes([number]) if command.p2 == 0 else b"") + sw_bytes(SW_OK)
        if command.p1 == 0x80:
            number = command.p2 or command.channel
            if number == 0:
                raise ApduStatus(SW_WRONG_P1P2, "the basic channel cannot be closed")
            if number > MAX_CHANNEL or number not in self._channels:
                raise ApduStatus(SW_CHANNEL_NOT_SUPPORTED, f"channel {number} is not open")
            del self._channels[number]
            return sw_bytes(SW_OK)
        raise ApduStatus(SW_WRONG_P1P2, "MANAGE CHANNEL P1 must be 00 (open) or 80 (close)")

    # --- SELECT

    def _select(self, command: CommandApdu, channel: _Channel) -> bytes:
        if command.p1 == 0x00 or command.p1 in (0x01, 0x02, 0x03, 0x08, 0x09):
            raise ApduStatus(SW_FILE_NOT_FOUND, "no file system is selectable outside an enabled profile")
        if command.p1 != 0x04:
            raise ApduStatus(SW_WRONG_P1P2, f"SELECT P1 {command.p1:02X}")
        if command.p2 not in (0x00, 0x04, 0x0C):
            raise ApduStatus(SW_WRONG_P1P2, f"SELECT P2 {command.p2:02X}")
        if not command.has_data or len(command.data) < 5:
            raise ApduStatus(SW_WRONG_LENGTH, "SELECT by name needs an AID of 5..16 bytes")
        aid = next((candidate for candidate in (ISDR_AID, ECASD_AID) if candidate.startswith(command.data)), None)
        if aid is None:
            raise ApduStatus(SW_FILE_NOT_FOUND, "no application with that AID")
        channel.selected = aid
        channel.assembling = None
        if command.p2 == 0x0C:
            return sw_bytes(SW_OK)
        return self._respond(command, channel, self._fci(aid))

    def _fci(self, aid: bytes) -> bytes:
        proprietary = b""
        if aid == ISDR_AID:
            proprietary = codec.encode("ISDRProprietaryApplicationTemplate", {"svn": self.config.svn})
        return build(0x6F, build(0x84, aid) + build(0xA5, proprietary))

    # --- STORE DATA

    def _store_data(self, command: CommandApdu, channel: _Channel) -> bytes:
        if channel.selected != ISDR_AID:
            raise ApduStatus(SW_CONDITIONS_NOT_SATISFIED, "STORE DATA needs the ISD-R selected on this channel")
        if command.p1 & 0x70 != 0x10 or command.p1 & 0x0E:
            raise ApduStatus(SW_WRONG_P1P2, f"STORE DATA P1 {command.p1:02X}: only BER-TLV blocks (11/91)")
        if not command.has_data:
            raise ApduStatus(SW_WRONG_LENGTH, "STORE DATA without data")
        if len(command.data) > self.config.max_store_data_block:
            raise ApduStatus(SW_WRONG_LENGTH, f"STORE DATA block over {self.config.max_store_data_block} bytes")
        if command.p2 == 0:
            channel.assembling = bytearray()
            channel.next_block = 0
        if channel.assembling is None or command.p2 != channel.next_block:
            expected = channel.next_block if channel.assembling is not None else 0
            channel.assembling = None
            raise ApduStatus(SW_WRONG_P1P2, f"STORE DATA block {command.p2}, expected {expected}")
        if len(channel.assembling) + len(command.data) > MAX_STORE_DATA:
            channel.assembling = None
            raise ApduStatus(SW_NOT_ENOUGH_MEMORY, "ES10 command too large")
        channel.assembling += command.data
        channel.next_block = (channel.next_block + 1) & 0xFF
        if not command.p1 & 0x80:
            return sw_bytes(SW_OK)
        request = bytes(channel.assembling)
        channel.assembling = None
        return self._respond(command, channel, self.es10.handle(request))

    # --- TERMINAL CAPABILITY

    @staticmethod
    def _terminal_capability(command: CommandApdu) -> bytes:
        if command.p1 or command.p2:
            raise ApduStatus(SW_WRONG_P1P2, "TERMINAL CAPABILITY takes P1 P2 = 00 00")
        if command.has_data and command.data[:1] != b"\xA9":
            raise ApduStatus(SW_WRONG_DATA, "TERMINAL CAPABILITY data must be an A9 template")
        return sw_bytes(SW_OK)
