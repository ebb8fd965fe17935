"""One hold of an eUICC at its entity workflow (``workflows/entity.py``): a holder (a device's
migration) keeps the card for itself between the ``hold`` update and the ``release`` signal.

- ``requested``: the hold waits its turn in the entity's queue, like an operation.
- ``grant``: its turn came; the holder runs its steps on the card.
- ``release``: the holder is done (or an operator skipped the hold): ``released``; a release
  that arrives while the hold still waits its turn ``withdraws`` it instead, and it is never
  granted (the ``hold`` update then fails with entity.hold_released).
- ``drop``: the holder ended without releasing (terminated, reset): the entity notices within
  its holder check and frees the card.

Every end is final: a hold id asked for again later is a new hold.
"""
from __future__ import annotations

from enum import StrEnum

from esimflow.machines.base import StateModel, TransitionSpec


class HoldState(StrEnum):
    REQUESTED = "requested"
    GRANTED = "granted"
    RELEASED = "released"
    WITHDRAWN = "withdrawn"
    DROPPED = "dropped"


H = HoldState
STATES = list(HoldState)
FINAL = [H.RELEASED, H.WITHDRAWN, H.DROPPED]

TRANSITIONS: list[TransitionSpec] = [
    {"trigger": "grant", "source": H.REQUESTED, "dest": H.GRANTED},
    {"trigger": "release", "source": H.REQUESTED, "dest": H.WITHDRAWN},
    {"trigger": "release", "source": H.GRANTED, "dest": H.RELEASED},
    {"trigger": "drop", "source": H.GRANTED, "dest": H.DROPPED},
]


class CardHold(StateModel, label="CardHold", states=STATES, transitions=TRANSITIONS,
               initial=H.REQUESTED, final=FINAL):
    """One holder's claim on an eUICC, from its request to its end."""

    def __init__(self, hold_id: str | None = None, *, state: HoldState | str = H.REQUESTED) -> None:
        super().__init__(state)
        self.subject = hold_id

    @property
    def waiting(self) -> bool:
        """Requested and neither granted nor withdrawn yet."""
        return self.state == H.REQUESTED

    @property
    def granted(self) -> bool:
        """The holder has the card now."""
        return self.state == H.GRANTED
