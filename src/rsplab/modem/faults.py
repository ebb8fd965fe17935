"""Fault injection for the virtual modem, set by configuration (constructor, ``--fault``).

A modem in the field interleaves network reports with its answers, says ``+CME ERROR: 14`` while
its SIM is busy, answers late, loses answers and restarts under a running download; each of
those is one knob here. APDU commands (``AT+CGLA``/``AT+CSIM``) are counted from 1 since start.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rsplab.fault_specs import Knob, at_least, counts, parse_faults

SIM_BUSY = 14


@dataclass
class ModemFaults:
    cme_errors: frozenset[int] = field(default_factory=frozenset)
    """APDU commands answered ``+CME ERROR: 14`` (SIM busy) without reaching the card."""
    urc_every: int = 0
    """Every this many commands (0: never), URCs come before the answer and between it and OK."""
    slow_s: float = 0.0
    """Seconds to wait before each answer."""
    lost_answers: frozenset[int] = field(default_factory=frozenset)
    """APDU commands the card executes but whose answer never reaches the port."""
    reset_after: int | None = None
    """After this many APDU commands the modem restarts once: card reset, channels gone, echo
    back on, ``RDY`` printed instead of the next answer."""

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...]) -> ModemFaults:
        """``["cme=3,9", "urc=2", "slow=0.05", "lose=7", "reset-after=20"]``."""
        return parse_faults(cls(), specs, _KNOBS, "modem fault")


_KNOBS = (
    Knob("cme", "cme_errors", counts, "cme=N[,N..]"),
    Knob("urc", "urc_every", at_least(1, int), "urc=EVERY"),
    Knob("slow", "slow_s", at_least(0, float), "slow=SECONDS"),
    Knob("lose", "lost_answers", counts, "lose=N[,N..]"),
    Knob("reset-after", "reset_after", at_least(0, int), "reset-after=N"),
)
