"""How one device of a fleet migration ends: exactly one of migrated, rolled back, failed or
skipped, decided by this machine rather than by whichever branch of the workflow raised first.

- ``checking``: the card is being located and read; nothing changed yet. From here a device is
  ``skip``-ped (already on the target, or a dry run), ``fail``-s (card unreachable, the current
  profile missing or not enabled, a dry run whose target cannot be previewed), is ``withdraw``-n
  (the migration was cancelled before any change: recorded as rolled back, nothing to undo), or
  ``start``-s changing the card (the download, or the switch to an installed target).
- ``changing``: download, switch, verification, connectivity check, old profile deletion. It
  ends ``migrate``-d (the target enabled and verified) or goes ``roll_back``; with rollback off,
  a failure ``fail``-s and leaves the card as it is.
- ``rolling_back``: the old profile is enabled again; ``restore`` (verified back on it) ends as
  rolled back, anything else ``fail``-s.

The four outcomes are final: a second ending raises ``IllegalTransition``, so no device is ever
counted twice.
"""
from __future__ import annotations

from enum import StrEnum

from esimflow.machines.base import IllegalTransition, StateModel, TransitionSpec


class Ending(StrEnum):
    """Where a device migration stands; the last four are its outcomes (``migration.model.Outcome``)."""

    CHECKING = "checking"
    CHANGING = "changing"
    ROLLING_BACK = "rolling_back"
    MIGRATED = "migrated"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    SKIPPED = "skipped"


E = Ending
STATES = list(Ending)
OUTCOMES = [E.MIGRATED, E.ROLLED_BACK, E.FAILED, E.SKIPPED]

TRANSITIONS: list[TransitionSpec] = [
    {"trigger": "skip", "source": E.CHECKING, "dest": E.SKIPPED},
    {"trigger": "withdraw", "source": E.CHECKING, "dest": E.ROLLED_BACK},
    {"trigger": "start", "source": E.CHECKING, "dest": E.CHANGING},
    {"trigger": "migrate", "source": E.CHANGING, "dest": E.MIGRATED},
    {"trigger": "roll_back", "source": E.CHANGING, "dest": E.ROLLING_BACK},
    {"trigger": "restore", "source": E.ROLLING_BACK, "dest": E.ROLLED_BACK},
    {"trigger": "fail", "source": [E.CHECKING, E.CHANGING, E.ROLLING_BACK], "dest": E.FAILED},
]


ENDING_TRIGGERS = frozenset(str(t["trigger"]) for t in TRANSITIONS if t["dest"] in OUTCOMES)


class DeviceMigrationOutcome(StateModel, label="DeviceMigrationOutcome", states=STATES,
                             transitions=TRANSITIONS, initial=E.CHECKING, final=OUTCOMES):
    """One device's way through a fleet migration to exactly one outcome."""

    def __init__(self, eid: str | None = None, *, state: Ending | str = E.CHECKING) -> None:
        super().__init__(state)
        self.subject = eid

    def end(self, trigger: str, reason: str | None = None) -> Ending:
        """Fire a trigger that ends the device and answer its outcome; raises IllegalTransition
        for a trigger that is not legal now or does not end the migration."""
        if trigger not in ENDING_TRIGGERS:
            raise IllegalTransition(f"{self.machine.label}: {trigger} does not end a device migration",
                                    machine=self.machine.label, trigger=trigger, state=self.state)
        return Ending(self.fire(trigger, reason=reason).to_state)

    @property
    def outcome(self) -> Ending | None:
        """The outcome once the device has one."""
        return Ending(self.state) if self.is_final else None
