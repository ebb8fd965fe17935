"""The AT command subset of a cellular modem's UICC access (3GPP TS 27.007), answered in front
of any card (``transmit(apdu) -> bytes``): ``AT``, ``ATE0``/``ATE1``, ``AT+CMEE``,
``AT+CCHO``/``AT+CGLA``/``AT+CCHC``, ``AT+CSIM`` and their ``=?`` tests.

Like a modem, it opens a logical channel for ``AT+CCHO`` with MANAGE CHANNEL and SELECT on the
card and drops the select answer, answers ``ERROR`` for what it does not know, and reports a
missing card as ``+CME ERROR: 10``. It knows nothing of the port it is served on.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from sgp22.errors import CardRemovedError

from rsplab.modem.faults import SIM_BUSY, ModemFaults

SIM_NOT_INSERTED = 10
INVALID_INDEX = 21
INCORRECT_PARAMETERS = 50
UNKNOWN = 100
_VERBOSE = {SIM_NOT_INSERTED: "SIM not inserted", SIM_BUSY: "SIM busy", INVALID_INDEX: "invalid index",
            INCORRECT_PARAMETERS: "incorrect parameters", UNKNOWN: "unknown"}
URCS = ('+CREG: 1,"00AB","0001ABCD",7', '+CIEV: "signal",3')
"""A registration report before an answer and a signal report between its data and OK."""

_CCHO = re.compile(r'^AT\+CCHO="([0-9A-Fa-f]{10,32})"$')
_CCHC = re.compile(r"^AT\+CCHC=(\d+)$")
_CGLA = re.compile(r'^AT\+CGLA=(\d+),(\d+),"([0-9A-Fa-f]*)"$')
_CSIM = re.compile(r'^AT\+CSIM=(\d+),"([0-9A-Fa-f]*)"$')


@dataclass
class Answer:
    lines: list[str] = field(default_factory=list)
    """Result lines in order, each sent as CR LF line CR LF."""
    delay_s: float = 0.0
    lost: bool = False
    """The command was carried out but nothing is sent back."""


class _CmeError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class AtInterpreter:
    """``cgla``: the modem has AT+CCHO/CGLA/CCHC (else only AT+CSIM); ``max_apdu_data``: longest
    command data it carries (longer APDUs: ``+CME ERROR: 50``, as modems with short line buffers)."""

    def __init__(self, card, *, cgla: bool = True, max_apdu_data: int = 255, faults: ModemFaults | None = None) -> None:
        self.card = card
        self.cgla = cgla
        self.max_apdu_data = max_apdu_data
        self.faults = faults or ModemFaults()
        self.echo = True
        self.cmee = 0
        self.sessions: set[int] = set()
        self.commands = 0
        self.apdu_commands = 0
        self.resets = 0
        self.injected: Counter[str] = Counter()
        """Faults injected so far, by name (cme, lose, urc, reset-after)."""
        self.store_data_blocks: Counter[int] = Counter()
        """STORE DATA blocks the modem carried, by data length (what a test of block sizes reads)."""

    def handle(self, line: str) -> Answer:
        """The modem's whole answer to one command line (without its echo)."""
        self.commands += 1
        line = line.strip()
        carries_apdu = line.upper().startswith(("AT+CGLA=", "AT+CSIM=")) and not line.endswith("=?")
        if carries_apdu:
            self.apdu_commands += 1
            if self.faults.reset_after is not None and not self.resets and self.apdu_commands > self.faults.reset_after:
                return self._restart()
        answer = Answer(delay_s=self.faults.slow_s)
        try:
            if carries_apdu and self.apdu_commands in self.faults.cme_errors:
                self.injected["cme"] += 1
                raise _CmeError(SIM_BUSY)
            information = self._execute(line)
            answer.lines = [*information, "OK"]
        except _CmeError as error:
            answer.lines = [self._cme(error.code)]
        except CardRemovedError:
            answer.lines = [self._cme(SIM_NOT_INSERTED)]
        except _UnknownCommand:
            answer.lines = ["ERROR"]
        if carries_apdu and self.apdu_commands in self.faults.lost_answers:
            self.injected["lose"] += 1
            answer.lost = True
        if self.faults.urc_every and self.commands % self.faults.urc_every == 0:
            self.injected["urc"] += 1
            answer.lines = [URCS[0], *answer.lines[:-1], URCS[1], answer.lines[-1]]
        return answer

    def _restart(self) -> Answer:
        self.resets += 1
        self.injected["reset-after"] += 1
        self.card.reset()
        self.sessions.clear()
        self.echo, self.cmee = True, 0
        return Answer(lines=["RDY"])

    def _cme(self, code: int) -> str:
        if self.cmee == 1:
            return f"+CME ERROR: {code}"
        if self.cmee == 2:
            return f"+CME ERROR: {_VERBOSE[code]}"
        return "ERROR"

    def _execute(self, line: str) -> list[str]:
        upper = line.upper()
        if upper in ("AT", "ATZ"):
            return []
        if upper in ("ATE0", "ATE1", "ATE"):
            self.echo = upper == "ATE1"
            return []
        if upper.startswith("AT+CMEE="):
            value = upper.split("=", 1)[1]
            if value not in ("0", "1", "2"):
                raise _CmeError(INCORRECT_PARAMETERS)
            self.cmee = int(value)
            return []
        if upper in ("AT+CCHO=?", "AT+CCHC=?", "AT+CGLA=?"):
            if not self.cgla:
                raise _UnknownCommand
            return []
        if upper == "AT+CSIM=?":
            return []
        if self.cgla and (match := _CCHO.match(line)):
            return [str(self._open_channel(bytes.fromhex(match.group(1))))]
        if self.cgla and (match := _CCHC.match(line)):
            self._close_channel(int(match.group(1)))
            return []
        if self.cgla and (match := _CGLA.match(line)):
            session = int(match.group(1))
            if session not in self.sessions:
                raise _CmeError(INVALID_INDEX)
            return [f"+CGLA: {self._apdu(int(match.group(2)), match.group(3))}"]
        if match := _CSIM.match(line):
            return [f"+CSIM: {self._apdu(int(match.group(1)), match.group(2))}"]
        raise _UnknownCommand

    def _apdu(self, length: int, text: str) -> str:
        if length != len(text) or len(text) % 2 or len(text) < 8:
            raise _CmeError(INCORRECT_PARAMETERS)
        apdu = bytes.fromhex(text)
        if len(apdu) > 5 and apdu[4] > self.max_apdu_data:
            raise _CmeError(INCORRECT_PARAMETERS)
        if len(apdu) > 5 and apdu[1] == 0xE2:
            self.store_data_blocks[apdu[4]] += 1
        answer = self.card.transmit(apdu).hex().upper()
        return f'{len(answer)},"{answer}"'

    def _open_channel(self, aid: bytes) -> int:
        opened = self.card.transmit(bytes.fromhex("0070000001"))
        if len(opened) != 3 or opened[1:] != b"\x90\x00":
            raise _CmeError(UNKNOWN)
        channel = opened[0]
        cla = channel if channel <= 3 else 0x40 | (channel - 4)
        selected = self.card.transmit(bytes([cla, 0xA4, 0x04, 0x00, len(aid)]) + aid)
        if selected[-2] not in (0x90, 0x61):
            self.card.transmit(bytes([0x00, 0x70, 0x80, channel, 0x00]))
            raise _CmeError(UNKNOWN)
        self.sessions.add(channel)
        return channel

    def _close_channel(self, session: int) -> None:
        if session not in self.sessions:
            raise _CmeError(INVALID_INDEX)
        self.sessions.discard(session)
        self.card.transmit(bytes([0x00, 0x70, 0x80, session, 0x00]))


class _UnknownCommand(Exception):
    pass
