"""Reader specs: one string that names a card and the driver that reaches it.

``pcsc:<reader>`` (a PC/SC reader by name, part of a name or index), ``local:<name>`` (an
in-process card the worker was given), ``at:<serial device>`` (a cellular modem's AT port).
Options follow a ``?`` as ``key=value`` pairs joined by ``&``: ``block=<6..255>`` (first STORE
DATA block size, every driver), and for ``at:`` ``baud=<rate>``, ``mode=cgla|csim`` (default:
ask the modem) and ``timeout=<seconds>``. Specs are stored in the device registry and travel in
workflow inputs, so the canonical text (``str(spec)``) is what a card host registers.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from sgp22.apdu import MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, CardTransport
from sgp22.errors import BadInputError

DRIVER_OPTIONS: dict[str, frozenset[str]] = {
    "pcsc": frozenset({"block"}),
    "local": frozenset({"block"}),
    "at": frozenset({"block", "baud", "mode", "timeout"}),
}
AT_MODES = ("cgla", "csim")
NOT_IMPLEMENTED = ("qmi", "mbim")


@dataclass(frozen=True)
class ReaderSpec:
    driver: str
    target: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> ReaderSpec:
        driver, sep, rest = text.partition(":")
        if driver in NOT_IMPLEMENTED:
            raise BadInputError(f"the {driver.upper()} driver is not implemented (docs/card-drivers.md says how it "
                                "would plug in); reach the modem's AT port with at:<serial device>")
        if not sep or driver not in DRIVER_OPTIONS or not rest:
            raise BadInputError(
                f"reader spec must be pcsc:<reader name>, local:<name> or at:<serial device>[?options], got {text!r}"
            )
        target, _, query = rest.partition("?")
        if not target:
            raise BadInputError(f"reader spec {text!r} names no reader or device")
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
        except ValueError:
            raise BadInputError(f"reader spec {text!r}: options must be key=value joined by &") from None
        unknown = sorted({key for key, _ in pairs} - DRIVER_OPTIONS[driver])
        if unknown:
            raise BadInputError(
                f"reader spec {text!r}: unknown option(s) {unknown}; {driver}: takes {sorted(DRIVER_OPTIONS[driver])}"
            )
        spec = cls(driver, target, tuple(sorted(dict(pairs).items())))
        spec.check()
        return spec

    def check(self) -> None:
        """Refuse bad option values when the spec is given, not at the card's first step."""
        _ = self.block_size
        if self.driver == "at":
            _ = self.at_settings

    def __str__(self) -> str:
        query = urlencode(self.options, safe="/:")
        return f"{self.driver}:{self.target}" + (f"?{query}" if query else "")

    def option(self, name: str) -> str | None:
        return dict(self.options).get(name)

    @property
    def block_size(self) -> int | None:
        """The STORE DATA block size this reader starts with (None: the engine's default)."""
        value = self.option("block")
        if value is None:
            return None
        if not value.isdigit() or not MIN_BLOCK_SIZE <= int(value) <= MAX_BLOCK_SIZE:
            raise BadInputError(f"reader {self.target!r}: block must be {MIN_BLOCK_SIZE}..{MAX_BLOCK_SIZE}, got {value!r}")
        return int(value)

    @property
    def at_settings(self) -> dict:
        """Keyword arguments of :class:`carddrivers.at.AtModemTransport` from the options."""
        settings: dict = {}
        baud, mode, timeout = self.option("baud"), self.option("mode"), self.option("timeout")
        if baud is not None:
            if not baud.isdigit() or int(baud) <= 0:
                raise BadInputError(f"modem {self.target!r}: baud must be a positive number, got {baud!r}")
            settings["baud"] = int(baud)
        if mode is not None:
            if mode not in AT_MODES:
                raise BadInputError(f"modem {self.target!r}: mode must be cgla or csim, got {mode!r}")
            settings["mode"] = mode
        if timeout is not None:
            try:
                settings["timeout"] = float(timeout)
            except ValueError:
                settings["timeout"] = -1.0
            if not 0 < settings["timeout"] <= 600:
                raise BadInputError(f"modem {self.target!r}: timeout must be 0..600 seconds, got {timeout!r}")
        return settings


def normalise(text: str) -> str:
    """A spec as given on a command line: a bare PC/SC reader name means ``pcsc:<name>``."""
    driver, sep, _ = text.partition(":")
    if sep and driver in DRIVER_OPTIONS:
        return str(ReaderSpec.parse(text))
    return str(ReaderSpec.parse(f"pcsc:{text}"))


def open_transport(spec: ReaderSpec, local_cards: Mapping[str, object] | None = None) -> CardTransport:
    """Connect to the card ``spec`` names (drivers imported on first use, so a host without a
    modem never loads pyserial and one without readers never loads pyscard)."""
    if spec.driver == "local":
        from carddrivers.local import LocalTransport
        from sgp22.errors import TransportError

        card = (local_cards or {}).get(spec.target)
        if card is None:
            raise TransportError(f"this worker serves no in-process card {spec.target!r}", kind="card.not_served",
                                 retryable=False)
        return LocalTransport(card)
    if spec.driver == "at":
        from carddrivers.at import AtModemTransport

        return AtModemTransport(spec.target, **spec.at_settings)
    from carddrivers.pcsc import PcscTransport

    return PcscTransport(spec.target)
