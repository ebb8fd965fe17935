"""Open ISD-R sessions of the cards one worker host serves, one at a time per card.

A card step must not share a card with another step (APDUs of two ES10 calls would interleave
on the channel), so each reader's session is guarded by a lock and reopened after a transport
failure. A card whose EID differs from the one the workflow expects (swapped in the reader) is
refused before any command.

How long the worker holds a card is its choice (:class:`CardHold`): for its whole life (opening
a session costs three APDUs and a PC/SC connect, so this is the fastest), or only while it is
working on it, releasing the reader (SCardDisconnect, the modem's port closed) once no step has
used it for ``release_after`` seconds, so other tools (pcsc_scan, a vendor tool, lpac) can use
it between operations. The STORE DATA block size a card settled on (255, or 120 after it
refused a long block) is remembered per card across sessions.
"""
from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from carddrivers.spec import ReaderSpec, open_transport
from sgp22 import es10
from sgp22.apdu import MAX_BLOCK_SIZE, IsdrChannel, close_leftover_channels
from sgp22.errors import EsimError, TransportError
from sgp22.results import OhResultCode, WinStatus

log = logging.getLogger(__name__)


class EidMismatchError(EsimError):
    """The card in the reader is not the eUICC the operation is for."""

    kind = "card.eid_mismatch"
    oh_result = OhResultCode.RESULT_PROFILE_EID_INVALID
    win_status = WinStatus.EidMismatch


class CardHold(enum.StrEnum):
    WORKER = "worker"
    """Connect at the first step and keep the card until the worker stops."""
    OPERATION = "operation"
    """Release the card ``release_after`` seconds after the last step (steps of one operation
    follow each other closely, so in practice between operations)."""


class CardPool:
    def __init__(self, local_cards: dict | None = None, *, hold: CardHold = CardHold.WORKER,
                 release_after: float = 2.0, block_size: int = MAX_BLOCK_SIZE, trace: bool = False) -> None:
        self._local_cards = dict(local_cards or {})
        self.hold = CardHold(hold)
        self.release_after = release_after
        self._block_size = block_size
        self._trace = trace
        self._channels: dict[str, IsdrChannel] = {}
        self._eids: dict[str, str] = {}
        self._last_eid: dict[str, str] = {}
        self._block_sizes: dict[str, int] = {}  # by EID: what each card settled on
        self._locks: dict[str, threading.Lock] = {}
        self._uses: dict[str, int] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._guard = threading.Lock()

    def add_local(self, name: str, card) -> str:
        """Serve an in-process card (anything with ``transmit``); returns its reader spec."""
        self._local_cards[name] = card
        return f"local:{name}"

    def is_connected(self, reader: str) -> bool:
        return reader in self._channels

    def block_size_of(self, eid: str) -> int:
        """The STORE DATA block size the card with this EID takes (the first size until known)."""
        return self._block_sizes.get(eid, self._block_size)

    def _lock(self, reader: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(reader, threading.Lock())

    def reclaim_channels(self, reader: str) -> list[int]:
        """Close the logical channels an earlier process left open on the card in ``reader``
        (before this pool opens its own); the numbers closed."""
        with self._lock(reader):
            if reader in self._channels:
                raise TransportError(f"{reader} is in use by this worker", kind="card.busy", retryable=False)
            transport = open_transport(ReaderSpec.parse(reader), self._local_cards)
            try:
                if getattr(transport, "device_owns_channels", False):
                    return []  # a modem's own channels (ISIM, its toolkit) would be closed too: its service cut
                return close_leftover_channels(transport)
            finally:
                transport.close()

    def _open(self, reader: str) -> IsdrChannel:
        spec = ReaderSpec.parse(reader)
        first = spec.block_size or self._block_size
        remembered = self._block_sizes.get(self._last_eid.get(reader, ""))
        transport = open_transport(spec, self._local_cards)
        channel = IsdrChannel(transport, block_size=min(first, remembered or first), trace=self._trace)
        try:
            channel.open()
        except BaseException:
            transport.close()
            raise
        return channel

    @contextmanager
    def session(self, reader: str, eid: str | None = None) -> Iterator[IsdrChannel]:
        """The reader's open ISD-R session, held exclusively for one step."""
        with self._lock(reader):
            self._cancel_release(reader)
            try:
                channel = self._channels.get(reader)
                if channel is None:
                    channel = self._open(reader)
                    self._channels[reader] = channel
                    try:
                        self._eids[reader] = self._last_eid[reader] = es10.get_eid(channel)
                    except BaseException:
                        self._drop(reader)
                        raise
                if eid is not None and self._eids.get(reader) != eid:
                    found = self._eids.get(reader)
                    self._drop(reader)
                    raise EidMismatchError(f"reader {reader} holds eUICC {found}, not {eid}")
                try:
                    yield channel
                except TransportError:
                    self._drop(reader)  # a fresh connection for the next attempt
                    raise
                finally:
                    self._remember_block_size(reader, channel)
            finally:
                self._after_step(reader)

    def _remember_block_size(self, reader: str, channel: IsdrChannel) -> None:
        found = self._eids.get(reader) or self._last_eid.get(reader)
        if found:
            self._block_sizes[found] = channel.block_size

    def _after_step(self, reader: str) -> None:
        """Called with the reader's lock held."""
        if self.hold is CardHold.WORKER or reader not in self._channels:
            return
        if self.release_after <= 0:
            self._drop(reader)
            return
        use = self._uses[reader] = self._uses.get(reader, 0) + 1
        timer = threading.Timer(self.release_after, self._release_if_idle, args=(reader, use))
        timer.daemon = True
        self._timers[reader] = timer
        timer.start()

    def _cancel_release(self, reader: str) -> None:
        timer = self._timers.pop(reader, None)
        if timer is not None:
            timer.cancel()

    def _release_if_idle(self, reader: str, use: int) -> None:
        lock = self._lock(reader)
        if not lock.acquire(blocking=False):
            return  # a step is running; it schedules the next release itself
        try:
            if self._uses.get(reader) == use:
                log.debug("releasing %s after %.1f s without a step", reader, self.release_after)
                self._drop(reader)
        finally:
            lock.release()

    def eid_of(self, reader: str) -> str:
        """The EID of the card in ``reader`` (opens the session if needed)."""
        with self.session(reader):
            return self._last_eid[reader]

    def _drop(self, reader: str) -> None:
        channel = self._channels.pop(reader, None)
        self._eids.pop(reader, None)
        self._timers.pop(reader, None)
        if channel is None:
            return
        try:
            channel.close()  # closes the logical channel, then releases the card
        except EsimError as error:
            log.debug("closing %s: %s", reader, error.message)
        except Exception as error:  # the reader may be gone already
            log.debug("releasing %s: %s", reader, error)

    def close(self) -> None:
        for reader in list(self._timers):
            self._cancel_release(reader)
        for reader in list(self._channels):
            with self._lock(reader):
                self._drop(reader)
