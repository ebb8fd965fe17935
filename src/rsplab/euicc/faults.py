"""Fault injection for the virtual eUICC, set by configuration (constructor, CLI ``--fault``).

Rehearsing an LPA against a card that answers slowly, disappears mid-download, is busy with a
proactive session or garbles a response is the only way to know the engine survives the real
thing, so each of those is one knob here. The knobs may be changed while the card runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from rsplab.fault_specs import Knob, at_least, counts, flag, parse_faults
from sgp22.errors import CardRemovedError


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
        return parse_faults(cls(), specs, _KNOBS, "fault")


_KNOBS = (
    Knob("delay", "delay_s", at_least(0, float), "delay=S"),
    Knob("remove-after", "remove_after", at_least(0, int), "remove-after=N"),
    Knob("cat-busy", "cat_busy", flag, "cat-busy"),
    Knob("corrupt", "corrupt_apdus", counts, "corrupt=N[,N..]"),
    Knob("osu-unavailable", "osu_unavailable", flag, "osu-unavailable"),
    Knob("osu-fail", "osu_fail", flag, "osu-fail"),
)


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
