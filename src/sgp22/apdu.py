"""ES10 over ISO 7816-4: STORE DATA segmentation, GET RESPONSE, logical channels and the ISD-R
session (`IsdrChannel`); what a status word means: ``sgp22.status_words``.

Every reader, modem or virtual card sits behind `CardTransport`; this module is the only place
that knows APDU framing, so the ES10 functions deal in whole DER TLVs only.
"""
from __future__ import annotations

import logging
from typing import Protocol, TypeGuard, runtime_checkable

from sgp22.errors import BadInputError, CommandRefusedError, EsimError, MalformedDataError, TransportError
from sgp22.status_words import SW_WRONG_LENGTH, Response, check_status, split_response, status_word_error

ISDR_AID = bytes.fromhex("A0000005591010FFFFFFFF8900000100")
TERMINAL_CAPABILITY = bytes.fromhex("80AA00000AA9088100820101830107")
MIN_BLOCK_SIZE = 6
MAX_BLOCK_SIZE = 255
FALLBACK_BLOCK_SIZE = 120
"""The STORE DATA block every eUICC and modem takes; a session starts at ``MAX_BLOCK_SIZE``
(fewer round trips) and falls back to this one when a long block is refused."""
MAX_CHANNEL = 19

INS_STORE_DATA = 0xE2
INS_GET_RESPONSE = 0xC0
INS_MANAGE_CHANNEL = 0x70
INS_SELECT = 0xA4
P1_MORE_BLOCKS = 0x11
P1_LAST_BLOCK = 0x91

# Requests whose bytes carry a matching ID (ctxParams1 of AuthenticateServer, echoed in
# euiccSigned1 of the answer): the APDU trace logs only their lengths.
_SECRET_BEARING_TAGS = (bytes.fromhex("BF38"),)

trace_log = logging.getLogger("sgp22.apdu.trace")
log = logging.getLogger(__name__)


@runtime_checkable
class CardTransport(Protocol):
    """A card: ``transmit`` takes one command APDU and returns response data || SW1 SW2;
    ``close`` releases the card (a reader's connection, a modem's port) for other tools.

    A driver that opens logical channels itself (a modem's ``AT+CCHO``, QMI or MBIM "open
    logical channel") also has ``opens_logical_channels = True``,
    ``open_logical_channel(aid) -> channel`` (channel opened with the application selected) and
    ``close_logical_channel(channel)``; :class:`IsdrChannel` then uses those instead of
    MANAGE CHANNEL and SELECT, which such a driver cannot send.
    """

    def transmit(self, apdu: bytes) -> bytes: ...

    def close(self) -> None: ...


class LogicalChannelTransport(CardTransport, Protocol):
    """A driver that opens logical channels itself (see :class:`CardTransport`)."""

    opens_logical_channels: bool

    def open_logical_channel(self, aid: bytes) -> int: ...

    def close_logical_channel(self, channel: int) -> None: ...


def opens_logical_channels(transport: CardTransport) -> TypeGuard[LogicalChannelTransport]:
    return bool(getattr(transport, "opens_logical_channels", False))


# --- Command building --------------------------------------------------------------------------


def cla_for_channel(channel: int, *, proprietary: bool = True) -> int:
    """CLA byte for a logical channel: 0-3 in the first interindustry form, 4-19 in the further
    form (ISO 7816-4 5.4.1); ``proprietary`` sets b8 as GlobalPlatform commands need."""
    if not 0 <= channel <= MAX_CHANNEL:
        raise BadInputError(f"logical channel {channel} outside 0..{MAX_CHANNEL}")
    if channel <= 3:
        return (0x80 if proprietary else 0x00) | channel
    return (0xC0 if proprietary else 0x40) | (channel - 4)


def check_block_size(block_size: int) -> int:
    if not isinstance(block_size, int) or not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE:
        raise BadInputError(
            f"STORE DATA block size must be {MIN_BLOCK_SIZE}..{MAX_BLOCK_SIZE}, got {block_size!r}"
        )
    return block_size


def store_data_commands(cla: int, data: bytes, block_size: int = FALLBACK_BLOCK_SIZE) -> list[bytes]:
    """One STORE DATA sequence: ``CLA E2 P1 P2 Lc data 00`` per block, P1 0x11 for more and
    0x91 for the last block, P2 counting blocks from 00."""
    check_block_size(block_size)
    if not data:
        raise BadInputError("STORE DATA needs at least one data byte")
    blocks = [data[i : i + block_size] for i in range(0, len(data), block_size)]
    if len(blocks) > 256:
        raise BadInputError(
            f"{len(data)} bytes need {len(blocks)} STORE DATA blocks of {block_size}; P2 counts only 256"
        )
    commands = []
    for number, block in enumerate(blocks):
        p1 = P1_LAST_BLOCK if number == len(blocks) - 1 else P1_MORE_BLOCKS
        commands.append(bytes([cla, INS_STORE_DATA, p1, number, len(block)]) + block + b"\x00")
    return commands


def get_response_command(cla: int, length: int) -> bytes:
    return bytes([cla, INS_GET_RESPONSE, 0x00, 0x00, length])


def manage_channel_open_command() -> bytes:
    return bytes([0x00, INS_MANAGE_CHANNEL, 0x00, 0x00, 0x01])


def manage_channel_close_command(channel: int) -> bytes:
    return bytes([0x00, INS_MANAGE_CHANNEL, 0x80, channel, 0x00])


def select_by_aid_command(channel: int, aid: bytes) -> bytes:
    if not 5 <= len(aid) <= 16:
        raise BadInputError(f"AID of {len(aid)} bytes (5..16 allowed)")
    return bytes([cla_for_channel(channel, proprietary=False), INS_SELECT, 0x04, 0x00, len(aid)]) + aid


def close_leftover_channels(transport: CardTransport, *, keep: tuple[int, ...] = ()) -> list[int]:
    """Close every logical channel (1..19, except ``keep``) open on the card; the numbers closed.

    A process killed in the middle of its session never closes its channel, and a card that is
    not reset keeps it open: a card has few (SGP.22 asks for at least 3), so a host that takes a
    card over must reclaim them, or after a few crashes no session can open at all. Only for the
    one process that owns the card's sessions (a worker serving the reader)."""
    link = ApduLink(transport)
    closed = []
    for channel in range(1, MAX_CHANNEL + 1):
        if channel not in keep and link.exchange(manage_channel_close_command(channel)).ok:
            closed.append(channel)
    return closed


# --- Exchanges ---------------------------------------------------------------------------------


class ApduLink:
    """One card transport plus the chaining rules every command needs (61xx, 6Cxx) and the
    optional hex trace."""

    def __init__(self, transport: CardTransport, *, trace: bool = False) -> None:
        self.transport = transport
        self.trace = trace

    def _log(self, direction: str, shown: bytes, withheld: bytes = b"", label: str | None = None) -> None:
        if not self.trace:
            return
        if label and withheld:
            trace_log.debug("%s %s [%d bytes of %s withheld]", direction, shown.hex().upper(), len(withheld), label)
        else:
            trace_log.debug("%s %s", direction, (shown + withheld).hex().upper())

    def transmit(self, apdu: bytes, *, withheld: str | None = None) -> Response:
        """Send one APDU, log it, split the answer. ``withheld`` names what the trace hides:
        the header and status word are logged, the data only by length."""
        self._log(">>", apdu[:5], apdu[5:], withheld)
        try:
            raw = self.transport.transmit(apdu)
        except EsimError:
            raise
        except Exception as exc:  # a transport that breaks its contract is still a transport failure
            raise TransportError(f"card transport failed: {type(exc).__name__}", kind="card.transport") from exc
        response = split_response(raw)
        if withheld:
            self._log("<<", bytes(raw[-2:]), response.data, withheld)
        else:
            self._log("<<", bytes(raw))
        return response

    def exchange(self, apdu: bytes, *, get_response_cla: int | None = None, withheld: str | None = None) -> Response:
        """Send a command and collect its whole answer: GET RESPONSE while the card says 61xx,
        one repeat with the corrected Le on 6Cxx.

        GET RESPONSE reuses the command's CLA: 0x80|channel for every ES10 STORE DATA (as lpac
        sends it), the interindustry CLA after a SELECT (as ISO 7816-4 and UICCs expect), unless
        ``get_response_cla`` says otherwise."""
        get_response_cla = apdu[0] if get_response_cla is None else get_response_cla
        response = self.transmit(apdu, withheld=withheld)
        if response.sw1 == 0x6C:
            apdu = _with_le(apdu, response.sw2)
            response = self.transmit(apdu, withheld=withheld)
        data = bytearray(response.data)
        rounds = 0
        while response.sw1 == 0x61:
            rounds += 1
            if rounds > 256:  # 64 KiB of answer: no ES10 response is that long
                raise TransportError("card keeps answering 61xx", kind="card.get_response_loop")
            response = self.transmit(get_response_command(get_response_cla, response.sw2), withheld=withheld)
            data += response.data
        return Response(bytes(data), response.sw)


def _with_le(apdu: bytes, le: int) -> bytes:
    """The same command with Le replaced (case 2/4) or added (case 1/3)."""
    has_le = len(apdu) == 5 or (len(apdu) > 5 and len(apdu) == 6 + apdu[4])
    return (apdu[:-1] if has_le else apdu) + bytes([le])


def _withheld_label(request: bytes) -> str | None:
    for tag in _SECRET_BEARING_TAGS:
        if request.startswith(tag):
            return f"{tag.hex().upper()} (carries a matching ID)"
    return None


_ISDR_HINT = {0x6A82: "; the card has no ISD-R: is it an eUICC?"}


class IsdrChannel:
    """A session with the ISD-R: opens a logical channel, selects the ISD-R, sends ES10
    requests as STORE DATA sequences and closes the channel again.

    A logical channel leaves the basic channel (and the modem's USIM session on it) alone;
    ``logical_channel=False`` is for readers whose card has only the basic channel.

    STORE DATA blocks start at ``block_size`` and, when the card (6700) or the driver
    (:class:`CommandRefusedError`) refuses a block longer than ``fallback_block_size``, the
    command is sent again in blocks of that size, which the session keeps (``block_size`` then
    tells the caller what to remember for this card). ``owns_transport``: closing the session
    also closes the transport, so ``with IsdrChannel(PcscTransport(...))`` leaves the reader
    free for other tools.
    """

    def __init__(
        self,
        transport: CardTransport,
        *,
        block_size: int = MAX_BLOCK_SIZE,
        fallback_block_size: int | None = FALLBACK_BLOCK_SIZE,
        logical_channel: bool = True,
        terminal_capability: bool = True,
        trace: bool = False,
        aid: bytes = ISDR_AID,
        owns_transport: bool = True,
    ) -> None:
        self.link = ApduLink(transport, trace=trace)
        self.block_size = check_block_size(block_size)
        self.fallback_block_size = None if fallback_block_size is None else check_block_size(fallback_block_size)
        self.owns_transport = owns_transport
        self.use_logical_channel = logical_channel
        self.send_terminal_capability = terminal_capability
        self.aid = aid
        self.channel: int | None = None
        self.select_response = b""

    @property
    def transport(self) -> CardTransport:
        return self.link.transport

    @property
    def is_open(self) -> bool:
        return self.channel is not None

    @property
    def cla(self) -> int:
        if self.channel is None:
            raise TransportError("ISD-R channel is not open", kind="card.channel_closed", retryable=False)
        return cla_for_channel(self.channel)

    def __enter__(self) -> IsdrChannel:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> IsdrChannel:
        if self.channel is not None:
            return self
        if self.use_logical_channel and opens_logical_channels(self.transport):
            # the driver opens the channel with the ISD-R selected (AT+CCHO); the modem, not
            # this session, is the terminal and has sent its own TERMINAL CAPABILITY
            self.channel = self.transport.open_logical_channel(self.aid)
            self.select_response = b""
            return self
        if self.send_terminal_capability:
            self._terminal_capability()
        channel = self._open_channel() if self.use_logical_channel else 0
        try:
            response = self.link.exchange(select_by_aid_command(channel, self.aid))
            if not response.ok:
                raise status_word_error(response.sw, "SELECT ISD-R", hint=_ISDR_HINT.get(response.sw, ""))
        except BaseException:
            if channel:
                self._close_channel(channel)
            raise
        self.channel = channel
        self.select_response = response.data
        return self

    def _terminal_capability(self) -> None:
        """Tells the eUICC which LPA features the device has (as lpac does on PC/SC); cards that
        do not know the command refuse it, which is harmless."""
        response = self.link.exchange(TERMINAL_CAPABILITY)
        if not response.ok:
            log.debug("TERMINAL CAPABILITY refused with %04X; continuing", response.sw)

    def _open_channel(self) -> int:
        response = check_status(
            self.link.exchange(manage_channel_open_command()), "MANAGE CHANNEL open"
        )
        if len(response.data) != 1 or not 1 <= response.data[0] <= MAX_CHANNEL:
            raise MalformedDataError(
                f"MANAGE CHANNEL open answered {response.data.hex().upper() or 'no data'}, expected one channel number"
            )
        return response.data[0]

    def _close_channel(self, channel: int) -> None:
        try:
            if opens_logical_channels(self.transport):
                self.transport.close_logical_channel(channel)
                return
            response = self.link.exchange(manage_channel_close_command(channel))
        except EsimError as exc:  # the card may be gone; the channel dies with the session then
            log.warning("closing logical channel %d failed: %s", channel, exc.message)
            return
        if not response.ok:
            log.warning("closing logical channel %d: card answered %04X", channel, response.sw)

    def close(self) -> None:
        channel, self.channel = self.channel, None
        try:
            if channel:
                self._close_channel(channel)
        finally:
            if self.owns_transport:
                self.transport.close()

    def store_data(self, request: bytes) -> bytes:
        """Send one DER request as a STORE DATA sequence and return the eUICC's answer (may be
        empty, e.g. for all but the last segment of a bound profile package)."""
        cla = self.cla
        withheld = _withheld_label(request)
        try:
            return self._store_data_blocks(cla, request, withheld)
        except _LongBlockRefused as refused:
            log.info("a STORE DATA block of %d bytes was refused (%s); sending blocks of %d from now on",
                     self.block_size, refused.error.message, refused.smaller_block_size)
            self.block_size = refused.smaller_block_size
            return self._store_data_blocks(cla, request, withheld)

    def _store_data_blocks(self, cla: int, request: bytes, withheld: str | None) -> bytes:
        *leading, last = store_data_commands(cla, request, self.block_size)
        for command in leading:
            response = check_status(self._store_data_block(command, withheld), "STORE DATA")
            if response.data:
                # an eUICC may answer before the last block when it gives up early (e.g. a PIR
                # with an error in the middle of a bound profile package)
                return response.data
        return check_status(self._store_data_block(last, withheld), "STORE DATA").data

    def _store_data_block(self, command: bytes, withheld: str | None) -> Response:
        """One block; a refusal of its length becomes :class:`_LongBlockRefused` while a
        smaller block size is left to try (the card keeps nothing of a sequence restarted
        at block 00)."""
        smaller = self.fallback_block_size
        if smaller is not None and command[4] <= smaller:
            smaller = None  # this block is no longer than the fallback: nothing smaller to try
        try:
            response = self.link.exchange(command, withheld=withheld)
        except CommandRefusedError as error:
            if smaller is not None:
                raise _LongBlockRefused(error, smaller) from error
            raise
        if response.sw == SW_WRONG_LENGTH and smaller is not None:
            raise _LongBlockRefused(status_word_error(response.sw, "STORE DATA"), smaller)
        return response


class _LongBlockRefused(Exception):
    def __init__(self, error: EsimError, smaller_block_size: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.smaller_block_size = smaller_block_size
