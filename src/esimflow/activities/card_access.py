"""Open ISD-R sessions of the cards one worker host serves, one at a time per card.

A card step must not share a card with another step (APDUs of two ES10 calls would interleave
on the channel), and opening a channel costs three APDUs, so each reader keeps one open
session, guarded by a lock, and reopens it after a transport failure. A card whose EID differs
from the one the workflow expects (swapped in the reader) is refused before any command.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from esimflow.devices import parse_reader_spec
from sgp22 import es10
from sgp22.apdu import DEFAULT_BLOCK_SIZE, IsdrChannel, close_leftover_channels
from sgp22.errors import EsimError, TransportError
from sgp22.results import OhResultCode, WinStatus

log = logging.getLogger(__name__)


class EidMismatchError(EsimError):
    """The card in the reader is not the eUICC the operation is for."""

    kind = "card.eid_mismatch"
    oh_result = OhResultCode.RESULT_PROFILE_EID_INVALID
    win_status = WinStatus.EidMismatch


class CardPool:
    def __init__(self, local_cards: dict | None = None, *, block_size: int = DEFAULT_BLOCK_SIZE,
                 trace: bool = False) -> None:
        self._local_cards = dict(local_cards or {})
        self._block_size = block_size
        self._trace = trace
        self._channels: dict[str, IsdrChannel] = {}
        self._eids: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def add_local(self, name: str, card) -> str:
        """Serve an in-process card (anything with ``transmit``); returns its reader spec."""
        self._local_cards[name] = card
        return f"local:{name}"

    def _lock(self, reader: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(reader, threading.Lock())

    def reclaim_channels(self, reader: str) -> list[int]:
        """Close the logical channels an earlier process left open on the card in ``reader``
        (before this pool opens its own); the numbers closed."""
        with self._lock(reader):
            if reader in self._channels:
                raise TransportError(f"{reader} is in use by this worker", kind="card.busy", retryable=False)
            transport = self._transport(reader)
            try:
                return close_leftover_channels(transport)
            finally:
                transport.close()

    def _transport(self, reader: str):
        scheme, name = parse_reader_spec(reader)
        if scheme == "local":
            from sgp22.transport_local import LocalTransport

            card = self._local_cards.get(name)
            if card is None:
                raise TransportError(f"this worker serves no in-process card {name!r}", kind="card.not_served",
                                     retryable=False)
            return LocalTransport(card)
        from sgp22.transport_pcsc import PcscTransport

        return PcscTransport(name)

    def _open(self, reader: str) -> IsdrChannel:
        transport = self._transport(reader)
        channel = IsdrChannel(transport, block_size=self._block_size, trace=self._trace)
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
            channel = self._channels.get(reader)
            if channel is None:
                channel = self._open(reader)
                self._channels[reader] = channel
                try:
                    self._eids[reader] = es10.get_eid(channel)
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

    def eid_of(self, reader: str) -> str:
        """The EID of the card in ``reader`` (opens the session if needed)."""
        with self.session(reader):
            return self._eids[reader]

    def _drop(self, reader: str) -> None:
        channel = self._channels.pop(reader, None)
        self._eids.pop(reader, None)
        if channel is None:
            return
        try:
            channel.close()
        except EsimError as error:
            log.debug("closing %s: %s", reader, error.message)
        try:
            channel.transport.close()
        except Exception as error:  # the reader may be gone already
            log.debug("releasing %s: %s", reader, error)

    def close(self) -> None:
        for reader in list(self._channels):
            with self._lock(reader):
                self._drop(reader)
