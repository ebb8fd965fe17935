"""In-process card driver: any object that answers APDUs (the virtual eUICC, a scripted test
card) becomes a `CardTransport`, with the same error behaviour as a reader."""
from __future__ import annotations

from typing import Protocol

from sgp22.errors import EsimError, TransportError


class AnswersApdus(Protocol):
    def transmit(self, apdu: bytes) -> bytes: ...


class LocalTransport:
    def __init__(self, card: AnswersApdus) -> None:
        if not callable(getattr(card, "transmit", None)):
            raise TypeError(f"{type(card).__name__} has no transmit(apdu) method")
        self.card = card
        self.closed = False

    @property
    def atr(self) -> bytes:
        return bytes(getattr(self.card, "atr", b""))

    def transmit(self, apdu: bytes) -> bytes:
        if self.closed:
            raise TransportError("transport is closed", kind="card.transport_closed", retryable=False)
        try:
            answer = self.card.transmit(bytes(apdu))
        except EsimError:  # the card's own typed failures (card removed, timeouts) pass through
            raise
        except Exception as exc:
            raise TransportError(
                f"in-process card failed on {apdu[:4].hex().upper()}: {type(exc).__name__}", kind="card.transport"
            ) from exc
        if not isinstance(answer, (bytes, bytearray)):
            raise TransportError(
                f"in-process card answered {type(answer).__name__}, not bytes", kind="card.bad_response"
            )
        return bytes(answer)

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> LocalTransport:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
