"""Fault injection for the virtual modem, set by configuration (constructor, ``--fault``).

A modem in the field interleaves network reports with its answers, says ``+CME ERROR: 14`` while
its SIM is busy, answers late, loses answers and restarts under a running download; each of
those is one knob here. APDU commands (``AT+CGLA``/``AT+CSIM``) are counted from 1 since start.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sgp22.errors import BadInputError

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
        faults = cls()
        for spec in specs:
            name, _, value = spec.partition("=")
            name = name.strip().lower().replace("_", "-")
            try:
                if name == "cme":
                    faults.cme_errors = _numbers(value)
                elif name == "urc":
                    faults.urc_every = int(value)
                    if faults.urc_every < 1:
                        raise ValueError
                elif name == "slow":
                    faults.slow_s = float(value)
                    if faults.slow_s < 0:
                        raise ValueError
                elif name == "lose":
                    faults.lost_answers = _numbers(value)
                elif name == "reset-after":
                    faults.reset_after = int(value)
                    if faults.reset_after < 0:
                        raise ValueError
                else:
                    raise BadInputError(f"unknown modem fault {spec!r}: use cme=N[,N..], urc=EVERY, slow=SECONDS, "
                                        "lose=N[,N..], reset-after=N")
            except ValueError as exc:
                raise BadInputError(f"modem fault {spec!r} has a bad value") from exc
        return faults


def _numbers(value: str) -> frozenset[int]:
    numbers = frozenset(int(part) for part in value.split(",") if part.strip())
    if not numbers or min(numbers) < 1:
        raise ValueError
    return numbers
