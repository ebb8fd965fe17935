"""The AT commands a modem gives its UICC through (3GPP TS 27.007 8.17, 8.43-8.45), as pure
functions: command lines out, answer lines in, ``+CME ERROR`` codes to typed errors.

``AT+CCHO="<AID>"`` opens a logical channel with the application selected and answers its
session id, ``AT+CGLA=<id>,<length>,"<APDU>"`` sends an APDU on it, ``AT+CCHC=<id>`` closes
it; ``AT+CSIM=<length>,"<APDU>"`` sends any APDU on the basic channel (lengths count hex
characters). Everything else a modem prints while it answers (network registration, ring,
signal reports) is an unsolicited result code to be skipped; a modem that restarts says so
with a start-up indication, and every logical channel is gone then.
"""
from __future__ import annotations

import re

from sgp22.errors import (
    CardRemovedError,
    CommandRefusedError,
    EsimError,
    MalformedDataError,
    TransportError,
)

FINAL_OK = "OK"
_FINAL_ERRORS = ("ERROR", "+CME ERROR:", "+CMS ERROR:", "NO CARRIER")
RESET_INDICATIONS = ("RDY", "^SYSSTART", "+SYSSTART", "+CPIN: NOT READY")
"""Lines a modem prints when it has just (re)started or lost its SIM session (Quectel, Cinterion,
Gemalto and 27.007 wording)."""

MAX_SESSION_CHANNEL = 19

# 27.007 9.2.1 codes the UICC commands answer with
CME_ERRORS: dict[int, str] = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    21: "invalid index",
    50: "incorrect parameters",
    100: "unknown",
}
_CME_BY_TEXT = {text.lower(): code for code, text in CME_ERRORS.items()}


def ccho_command(aid: bytes) -> str:
    return f'AT+CCHO="{aid.hex().upper()}"'


def cchc_command(session: int) -> str:
    return f"AT+CCHC={session}"


def cgla_command(session: int, apdu: bytes) -> str:
    return f'AT+CGLA={session},{len(apdu) * 2},"{apdu.hex().upper()}"'


def csim_command(apdu: bytes) -> str:
    return f'AT+CSIM={len(apdu) * 2},"{apdu.hex().upper()}"'


def channel_of(cla: int) -> int:
    """The logical channel an APDU's class byte names (ISO 7816-4 5.4.1)."""
    return 4 + (cla & 0x0F) if cla & 0x40 else cla & 0x03


def is_final(line: str) -> bool:
    return line == FINAL_OK or line.startswith(_FINAL_ERRORS)


def is_reset_indication(line: str) -> bool:
    return line.startswith(RESET_INDICATIONS)


_HEX_ANSWER = re.compile(r'^\s*(\d+)\s*,\s*"?([0-9A-Fa-f]*)"?\s*$')


def parse_hex_answer(prefix: str, line: str) -> bytes:
    """``+CGLA: 4,"9000"`` -> ``9000`` bytes, the length checked against the hex."""
    match = _HEX_ANSWER.match(line[len(prefix):])
    if not line.startswith(prefix) or match is None:
        raise MalformedDataError(f"modem answered {line[:40]!r} to {prefix[:-1]}")
    length, text = int(match.group(1)), match.group(2)
    if length != len(text) or len(text) % 2:
        raise MalformedDataError(f"modem's {prefix[:-1]} answer says {length} hex digits but carries {len(text)}")
    return bytes.fromhex(text)


def parse_session(lines: list[str]) -> int:
    """The session id of an ``AT+CCHO`` answer: a bare number (27.007) or ``+CCHO: <id>``."""
    for line in lines:
        text = line[len("+CCHO:"):] if line.startswith("+CCHO:") else line
        text = text.strip()
        if text.isdigit():
            session = int(text)
            if not 1 <= session <= MAX_SESSION_CHANNEL:
                raise MalformedDataError(
                    f"modem opened session {session}; only session ids that are channel numbers "
                    f"(1..{MAX_SESSION_CHANNEL}) can be used in the class byte"
                )
            return session
    raise MalformedDataError(f"modem answered AT+CCHO without a session id: {lines!r}")


def cme_code(final: str) -> int | None:
    """The code of a ``+CME ERROR`` line, numeric (``AT+CMEE=1``) or verbose (``AT+CMEE=2``)."""
    text = final.partition(":")[2].strip()
    if text.isdigit():
        return int(text)
    return _CME_BY_TEXT.get(text.lower())


def final_error(final: str, doing: str, device: str) -> EsimError:
    """The typed error for a final result code other than OK."""
    where = f"{doing} on modem {device}"
    if not final.startswith("+CME ERROR:"):
        return CommandRefusedError(f"{where}: modem answered {final}", kind="card.modem.refused")
    code = cme_code(final)
    text = final.partition(":")[2].strip()
    detail = f"{where}: +CME ERROR: {text}" + (f" ({CME_ERRORS[code]})" if text.isdigit() and code in CME_ERRORS else "")
    if code == 10:
        return CardRemovedError(detail, kind="card.absent")
    if code in (13, 15):
        return CardRemovedError(detail, kind="card.modem.sim_failure")
    if code == 14:
        return TransportError(detail, kind="card.modem.sim_busy", retryable=True)
    if code == 21:
        return TransportError(detail, kind="card.channel_lost", retryable=True)
    if code in (3, 4, 50):
        return CommandRefusedError(detail, kind="card.modem.refused")
    return TransportError(detail, kind="card.modem.error")
