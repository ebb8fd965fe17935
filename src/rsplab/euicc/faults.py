"""Fault injection for the virtual eUICC, set by configuration (constructor, CLI ``--fault``).

Rehearsing an LPA against a card that answers slowly, disappears mid-download, is busy with a
proactive session or garbles a response is the only way to know the engine survives the real
thing, so each of those is one knob here. The knobs may be changed while the card runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from sgp22.errors import BadInputError, CardRemovedError


@dataclass
class Faults:
    delay_s: float = 0.0
    """Seconds to wait before answering each APDU."""
    remove_after: int | None = None
    """The card is pulled out after answering this many APDUs (counted from power-on)."""
    cat_busy: bool = False
    """EnableProfile, DisableProfile and eUICCMemoryReset answer catBusy, as while the card
    runs a proactive session."""
    corrupt_apdus: frozenset[int] = field(default_factory=frozenset)
    """1-based APDU numbers (from power-on) whose response data gets its last byte flipped."""
    osu_unavailable: bool = False
    """The OS update service answers serviceUnavailable."""
    osu_fail: bool = False
    """An OS image that verifies still fails to apply (flash error)."""

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...]) -> "Faults":
        """``["delay=0.2", "remove-after=40", "cat-busy", "corrupt=3,9", "osu-unavailable", "osu-fail"]``."""
        faults = cls()
        for spec in specs:
            name, _, value = spec.partition("=")
            name = name.strip().lower().replace("_", "-")
            try:
                if name == "delay":
                    faults.delay_s = float(value)
                    if faults.delay_s < 0:
                        raise ValueError
                elif name == "remove-after":
                    faults.remove_after = int(value)
                    if faults.remove_after < 0:
                        raise ValueError
                elif name == "cat-busy" and not value:
                    faults.cat_busy = True
                elif name == "corrupt":
                    faults.corrupt_apdus = frozenset(int(part) for part in value.split(",") if part.strip())
                    if not faults.corrupt_apdus or min(faults.corrupt_apdus) < 1:
                        raise ValueError
                elif name == "osu-unavailable" and not value:
                    faults.osu_unavailable = True
                elif name == "osu-fail" and not value:
                    faults.osu_fail = True
                else:
                    raise BadInputError(f"unknown fault {spec!r}: use delay=S, remove-after=N, cat-busy, "
                                        "corrupt=N[,N..], osu-unavailable, osu-fail")
            except ValueError as exc:
                raise BadInputError(f"fault {spec!r} has a bad value") from exc
        return faults


class FaultInjector:
    """Applies :class:`Faults` around each APDU and counts APDUs since power-on."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.apdu_count = 0
        self.removed = False

    def power_on(self) -> None:
        self.apdu_count = 0

    def reinsert(self) -> None:
        """Put a pulled card back: it answers again, counting from zero."""
        self.removed = False
        self.apdu_count = 0

    def before(self) -> None:
        if self.removed:
            raise CardRemovedError("the virtual eUICC was removed (fault injection)")
        limit = self.faults.remove_after
        if limit is not None and self.apdu_count >= limit:
            self.removed = True
            raise CardRemovedError(f"the virtual eUICC was removed after {limit} APDUs (fault injection)")
        self.apdu_count += 1
        if self.faults.delay_s > 0:
            time.sleep(self.faults.delay_s)

    def after(self, response: bytes) -> bytes:
        if self.apdu_count in self.faults.corrupt_apdus and len(response) > 2:
            flipped = bytearray(response)
            flipped[-3] ^= 0xFF
            return bytes(flipped)
        return response
