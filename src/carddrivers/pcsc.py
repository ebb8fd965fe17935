"""PC/SC card driver over pyscard: pick a reader by name or index, connect, transmit, and
turn every PC/SC failure into a typed error a user can act on (no reader, no card, card
removed, pcscd not running)."""
from __future__ import annotations

try:
    from smartcard import scard
    from smartcard.Exceptions import CardConnectionException, NoCardException, SmartcardException
    from smartcard.pcsc.PCSCExceptions import BaseSCardException
    from smartcard.System import readers as pcsc_readers
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(f"PC/SC readers need {missing.name} from the [pcsc] extra: "
                              "pip install 'esimflow[pcsc]'", name=missing.name) from missing

from sgp22.errors import BadInputError, CardRemovedError, CardTimeoutError, EsimError, TransportError


def _codes(*codes: int) -> frozenset[int]:
    return frozenset(code & 0xFFFFFFFF for code in codes)


_GONE = _codes(scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_E_READER_UNAVAILABLE,
               scard.SCARD_W_UNPOWERED_CARD)
_TIMEOUT = _codes(scard.SCARD_E_TIMEOUT, scard.SCARD_W_UNRESPONSIVE_CARD)
_NO_SERVICE = _codes(scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED)


def _hresult(exc: Exception) -> int:
    return int(getattr(exc, "hresult", -1)) & 0xFFFFFFFF


def _pcsc_error(exc: Exception, doing: str, reader: str, *, connecting: bool = False) -> EsimError:
    code = _hresult(exc)
    detail = f"{doing} on reader {reader!r}"
    if isinstance(exc, NoCardException) or code in _GONE:
        if connecting:
            return CardRemovedError(f"{detail}: no card in the reader (PC/SC 0x{code:08X})", kind="card.absent")
        return CardRemovedError(f"{detail}: the card was removed (PC/SC 0x{code:08X})")
    if code in _TIMEOUT:
        return CardTimeoutError(f"{detail}: the card did not answer (PC/SC 0x{code:08X})")
    if code in _NO_SERVICE:
        return TransportError(f"{detail}: pcscd is not running", kind="card.pcsc_unavailable")
    return TransportError(f"{detail}: PC/SC error 0x{code:08X}", kind="card.pcsc")


def list_readers() -> list[str]:
    """Names of the PC/SC readers, in pcscd's order (that order gives the indexes)."""
    return [str(reader) for reader in _readers()]


def _readers() -> list:
    try:
        return list(pcsc_readers())
    except (SmartcardException, BaseSCardException) as exc:
        code = _hresult(exc)
        if code in _NO_SERVICE or code == 0xFFFFFFFF:
            raise TransportError("cannot list PC/SC readers: is pcscd running?", kind="card.pcsc_unavailable") from exc
        raise TransportError(f"cannot list PC/SC readers: PC/SC error 0x{code:08X}", kind="card.pcsc") from exc


def choose_reader(names: list[str], wanted: str | int | None) -> int:
    """Index of the reader meant by ``wanted``: an index, an exact name, or a part of exactly
    one name (case-insensitive); ``None`` takes the only reader there is."""
    if not names:
        raise TransportError("no PC/SC reader is connected", kind="card.no_reader", retryable=False)
    if wanted is None:
        if len(names) > 1:
            raise BadInputError(f"{len(names)} PC/SC readers are connected; choose one by name or index: {names}")
        return 0
    if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit() and wanted not in names):
        index = int(wanted)
        if not 0 <= index < len(names):
            raise TransportError(
                f"no PC/SC reader with index {index}; readers: {names}", kind="card.reader_not_found", retryable=False
            )
        return index
    if wanted in names:
        return names.index(wanted)
    matches = [i for i, name in enumerate(names) if wanted.lower() in name.lower()]
    if not matches:
        raise TransportError(
            f"no PC/SC reader matches {wanted!r}; readers: {names}", kind="card.reader_not_found", retryable=False
        )
    if len(matches) > 1:
        raise BadInputError(f"{wanted!r} matches several PC/SC readers: {[names[i] for i in matches]}")
    return matches[0]


class PcscTransport:
    """A connection to the card in one PC/SC reader (shared mode; the card is left powered on
    close so other applications keep their state). ``close`` disconnects (SCardDisconnect) and
    releases the PC/SC context, so a tool that connects exclusively can take the card at once."""

    def __init__(self, reader: str | int | None = None) -> None:
        readers = _readers()
        index = choose_reader([str(r) for r in readers], reader)
        self.reader_name = str(readers[index])
        self._connection = readers[index].createConnection()
        try:
            self._connection.connect(disposition=scard.SCARD_LEAVE_CARD)
            self.atr = bytes(self._connection.getATR())
        except (SmartcardException, BaseSCardException) as exc:
            raise _pcsc_error(exc, "connecting", self.reader_name, connecting=True) from exc
        self._open = True

    @property
    def connection(self):
        """The pyscard connection (for a tool that needs PC/SC itself, or times it)."""
        return self._connection

    def transmit(self, apdu: bytes) -> bytes:
        if not self._open:
            raise TransportError("PC/SC connection is closed", kind="card.transport_closed", retryable=False)
        try:
            data, sw1, sw2 = self._connection.transmit(list(apdu))
        except (CardConnectionException, SmartcardException, BaseSCardException) as exc:
            raise _pcsc_error(exc, f"sending {bytes(apdu[:4]).hex().upper()}", self.reader_name) from exc
        return bytes(data) + bytes([sw1, sw2])

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._connection.disconnect()
            self._connection.release()
        except (SmartcardException, BaseSCardException):
            pass  # the card or reader is already gone: nothing left to release

    def __enter__(self) -> PcscTransport:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
