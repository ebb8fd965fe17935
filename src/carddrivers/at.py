"""AT modem driver (pyserial): the eUICC behind a cellular modem's AT port.

The modem owns the UICC and keeps its own session with the USIM on the basic channel, so ES10
goes over a logical channel the modem opens (``AT+CCHO``/``AT+CGLA``/``AT+CCHC``); a modem
without those gets the APDUs with ``AT+CSIM`` on the basic channel, where the protocol library
opens its own channel with MANAGE CHANNEL. Which of the two is asked of the modem at start
(``AT+CCHO=?``) unless the reader spec says ``mode=cgla|csim``.

What a modem port does to an LPA and what this driver does about it:

- echo on or off: echo is switched off (``ATE0``) and an echoed command line is skipped anyway;
- unsolicited result codes (``+CREG:``, ``RING``, ...) between or inside answers: skipped;
- ``+CME ERROR``: numeric codes asked for (``AT+CMEE=1``), verbose ones understood too, each a
  typed error (SIM busy and a lost channel retryable, a refused command not);
- an answer that never comes: :class:`CardTimeoutError` after ``timeout`` seconds; the transport
  then refuses further commands (a late answer would be taken for the next command's) and on
  ``close`` waits for the port to go quiet before it closes its channels;
- a modem that restarts (a start-up indication, or the port vanishing): :class:`ModemResetError`,
  retryable; its logical channels are gone, so the next attempt opens a new transport.
"""
from __future__ import annotations

import logging
import re
import time
from collections import deque

import serial

from carddrivers import at_protocol
from sgp22.errors import CardTimeoutError, CommandRefusedError, EsimError, TransportError

log = logging.getLogger(__name__)

DEFAULT_BAUD = 115200
DEFAULT_TIMEOUT = 10.0
_LINE_END = re.compile(rb"[\r\n]")
_QUIET = 0.1
"""Seconds without a byte after which a freshly opened port counts as drained."""


class ModemResetError(TransportError):
    """The modem restarted (or its port went away) while answering: its channels are gone."""

    kind = "card.modem_reset"
    retryable = True


class AtModemTransport:
    """One modem AT port as a :class:`sgp22.apdu.CardTransport`."""

    device_owns_channels = True
    """The modem keeps logical channels of its own on the UICC (ISIM, IMS, its toolkit), so a
    host must never sweep the card's channels closed as it may on a reader it owns alone."""

    def __init__(self, device: str, *, baud: int = DEFAULT_BAUD, mode: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.device = device
        self.timeout = timeout
        self._buffer = b""
        self._lines: deque[str] = deque()
        self._sessions: set[int] = set()
        try:
            self.port = serial.serial_for_url(device, baudrate=baud, timeout=0.05, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open modem port {device}: {exc}", kind="card.modem_unavailable") from exc
        self._open = True
        self._in_step = True  # False once an answer was lost: the next line read may be its late answer
        try:
            self._drain()
            self.command("ATE0")
            try:
                self.command("AT+CMEE=1")
            except CommandRefusedError:
                log.debug("modem %s keeps its +CME ERROR format", device)
            self.has_csim = self._supports("AT+CSIM=?")
            self.mode = mode or ("cgla" if self._supports("AT+CCHO=?") else "csim")
            if self.mode == "csim" and not self.has_csim:
                raise TransportError(f"modem {device} offers neither AT+CCHO/AT+CGLA nor AT+CSIM",
                                     kind="card.modem.no_uicc_access", retryable=False)
        except BaseException:
            self.close()
            raise

    @property
    def opens_logical_channels(self) -> bool:
        return self.mode == "cgla"

    # --- the card contract

    def open_logical_channel(self, aid: bytes) -> int:
        session = at_protocol.parse_session(self.command(at_protocol.ccho_command(aid), "+CCHO:", bare=True))
        self._sessions.add(session)
        return session

    def close_logical_channel(self, channel: int) -> None:
        if channel not in self._sessions or not self._open or not self._in_step:
            return  # gone with the modem, or left for close() once a lost answer has had time to arrive
        try:
            self.command(at_protocol.cchc_command(channel))
        finally:
            self._sessions.discard(channel)

    def transmit(self, apdu: bytes) -> bytes:
        apdu = bytes(apdu)
        channel = at_protocol.channel_of(apdu[0]) if apdu else 0
        if self.mode == "cgla" and channel:
            if channel not in self._sessions:
                raise TransportError(f"modem {self.device} has no open channel {channel}", kind="card.channel_lost")
            prefix, line = "+CGLA:", at_protocol.cgla_command(channel, apdu)
        elif self.has_csim:
            prefix, line = "+CSIM:", at_protocol.csim_command(apdu)
        else:
            raise CommandRefusedError(f"modem {self.device} reaches the UICC only through AT+CGLA channels",
                                      kind="card.modem.no_basic_channel")
        answers = [text for text in self.command(line, prefix) if text.startswith(prefix)]
        if len(answers) != 1:
            raise TransportError(f"modem {self.device} answered {prefix[:-1]} {len(answers)} times",
                                 kind="card.bad_response")
        return at_protocol.parse_hex_answer(prefix, answers[0])

    def close(self) -> None:
        if not getattr(self, "_open", False):
            return
        if not self._in_step:  # let a late answer arrive and forget it, then close what is open
            self._drain()
            self._in_step = True
        for session in sorted(self._sessions):
            try:
                self.command(at_protocol.cchc_command(session), timeout=min(self.timeout, 2.0))
            except EsimError as error:
                log.debug("closing channel %d on %s: %s", session, self.device, error.message)
                break
        self._abandon()

    def __enter__(self) -> AtModemTransport:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- AT exchanges

    def command(self, line: str, prefix: str | None = None, *, bare: bool = False,
                timeout: float | None = None) -> list[str]:
        """Send one command line; return its information lines once the modem says OK.

        ``prefix``: the information response's prefix (``+CGLA:``); ``bare``: lines without a
        prefix are information too (the session id of ``AT+CCHO``). Any other line is an
        unsolicited result code and skipped."""
        if not self._open:
            raise TransportError(f"modem port {self.device} is closed", kind="card.transport_closed", retryable=False)
        if not self._in_step:
            raise TransportError(f"modem {self.device} lost an answer: its next lines cannot be trusted; open it again",
                                 kind="card.modem.out_of_step")
        doing = line.split("=", 1)[0]
        try:
            self.port.write(line.encode("ascii") + b"\r")
        except (serial.SerialException, OSError) as exc:
            raise self._gone(f"writing {doing}", exc) from exc
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        information: list[str] = []
        while True:
            text = self._read_line(deadline, doing, limit)
            if text == line:
                continue  # echo
            if at_protocol.is_final(text):
                if text == at_protocol.FINAL_OK:
                    return information
                raise at_protocol.final_error(text, doing, self.device)
            if at_protocol.is_reset_indication(text):
                self._abandon()
                raise ModemResetError(f"modem {self.device} restarted ({text}) while answering {doing}")
            if (prefix is not None and text.startswith(prefix)) or (bare and not text.startswith(("+", "^"))):
                information.append(text)
            else:
                log.debug("modem %s: unsolicited %r", self.device, text)

    def _supports(self, test_command: str) -> bool:
        try:
            self.command(test_command)
        except CommandRefusedError:
            return False
        return True

    def _read_line(self, deadline: float, doing: str, limit: float) -> str:
        while not self._lines:
            if time.monotonic() > deadline:
                self._in_step = False
                raise CardTimeoutError(f"modem {self.device} did not answer {doing} within {limit:g} s")
            try:
                chunk = self.port.read(self.port.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                raise self._gone(f"while answering {doing}", exc) from exc
            if not chunk:
                continue
            *complete, rest = _LINE_END.split(self._buffer + chunk)
            self._buffer = rest
            self._lines.extend(text for raw in complete if (text := raw.decode("ascii", "replace").strip()))
        return self._lines.popleft()

    def _drain(self) -> None:
        """Forget whatever an earlier user left unread (a late answer must not be taken for ours)."""
        self.port.reset_input_buffer()
        end = time.monotonic() + 1.0
        quiet_since = time.monotonic()
        while time.monotonic() < end and time.monotonic() - quiet_since < _QUIET:
            if self.port.read(self.port.in_waiting or 1):
                quiet_since = time.monotonic()
        self._buffer = b""
        self._lines.clear()

    def _gone(self, doing: str, exc: Exception) -> ModemResetError:
        self._abandon()
        return ModemResetError(f"modem port {self.device} went away {doing}: {exc}")

    def _abandon(self) -> None:
        """After a restart or with the port gone, nothing is left to close: let go of the port."""
        self._sessions.clear()
        self._open = False
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass
