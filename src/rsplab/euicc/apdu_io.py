"""Command APDU parsing and status words, card side (ISO/IEC 7816-4 short APDUs only).

The virtual eUICC speaks like a UICC in a T=0 reader: short APDUs, responses cut at 256 bytes,
and the class byte carrying the logical channel. Anything outside that answers with the status
word a card would give, never an exception.
"""
from __future__ import annotations

from dataclasses import dataclass

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_CHANNEL_NOT_SUPPORTED = 0x6881
SW_SECURE_MESSAGING_NOT_SUPPORTED = 0x6882
SW_CHAINING_NOT_SUPPORTED = 0x6884
SW_CONDITIONS_NOT_SATISFIED = 0x6985
SW_WRONG_DATA = 0x6A80
SW_FUNCTION_NOT_SUPPORTED = 0x6A81
SW_FILE_NOT_FOUND = 0x6A82
SW_NOT_ENOUGH_MEMORY = 0x6A84
SW_WRONG_P1P2 = 0x6A86
SW_DATA_NOT_FOUND = 0x6A88
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_TECHNICAL_PROBLEM = 0x6F00

MAX_CHANNEL = 19
SHORT_RESPONSE_MAX = 256


class ApduStatus(Exception):
    """Raised inside the card to answer with a status word and no data."""

    def __init__(self, sw: int, reason: str = "") -> None:
        super().__init__(f"{sw:04X} {reason}".strip())
        self.sw = sw


@dataclass(frozen=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None
    """Expected response length (1..256), or None when the command carried no Le."""
    has_data: bool

    @property
    def proprietary(self) -> bool:
        return bool(self.cla & 0x80)

    @property
    def channel(self) -> int:
        if self.cla & 0x40:
            return 4 + (self.cla & 0x0F)
        return self.cla & 0x03


def parse_command(raw: bytes) -> CommandApdu:
    """Split a short command APDU (cases 1 to 4) and check its class byte."""
    if len(raw) < 4:
        raise ApduStatus(SW_WRONG_LENGTH, "APDU shorter than its header")
    cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
    if cla == 0xFF:
        raise ApduStatus(SW_CLA_NOT_SUPPORTED, "CLA FF is reserved for PPS")
    data, le, has_data = b"", None, False
    if len(raw) == 5:
        le = raw[4] or 256
    elif len(raw) > 5:
        lc = raw[4]
        if lc == 0:
            raise ApduStatus(SW_WRONG_LENGTH, "extended APDUs are not supported")
        if len(raw) == 5 + lc:
            pass
        elif len(raw) == 6 + lc:
            le = raw[-1] or 256
        else:
            raise ApduStatus(SW_WRONG_LENGTH, f"Lc {lc} does not match {len(raw) - 5} bytes of body")
        data, has_data = bytes(raw[5 : 5 + lc]), True
    command = CommandApdu(cla, ins, p1, p2, data, le, has_data)
    _check_class(cla)
    return command


def _check_class(cla: int) -> None:
    if cla & 0x40:
        if cla & 0x20:
            raise ApduStatus(SW_SECURE_MESSAGING_NOT_SUPPORTED, "secure messaging is not supported")
        if cla & 0x10:
            raise ApduStatus(SW_CHAINING_NOT_SUPPORTED, "command chaining is not supported")
    else:
        if (cla & 0x60) == 0x20:
            raise ApduStatus(SW_CLA_NOT_SUPPORTED, f"CLA {cla:02X} is reserved (or GSM 11.11 class)")
        if cla & 0x0C:
            raise ApduStatus(SW_SECURE_MESSAGING_NOT_SUPPORTED, "secure messaging is not supported")
        if cla & 0x10:
            raise ApduStatus(SW_CHAINING_NOT_SUPPORTED, "command chaining is not supported")


def sw_bytes(sw: int) -> bytes:
    return sw.to_bytes(2, "big")
