"""The operator platform's view of one profile (seed: platform profile status), as data: the one
status model both the lab SM-DP+ (``rsplab.smdp``) and the engine's history record through.

Design decisions beyond the seed's status list, each a transition below:
- AVAILABLE is entered after the activation code is generated or regenerated (``regenerate_ac``:
  the operator issues a new code for a profile no device holds, an EXPIRED or CANCELED one
  included) and when the user deletes a reusable profile from the device (``reuse``).
- ``download``: the bound profile package was handed to a device.
- ``abandon`` takes a DOWNLOADED profile back to AVAILABLE when the download session ended
  before an install (postponed, timeout, metadata mismatch, load error, or an error
  installation result): the activation code can be used again.
- ``refuse`` cancels the order when the user rejected the profile or its policy rules were not
  allowed (endUserRejection, pprNotAllowed): the operator has to issue a new activation code.
- ES2+ ``expire``/``cancel`` only apply before the profile is installed (AVAILABLE, DOWNLOADED):
  once a device holds it, only the device can change it.
- ``delete`` (DeleteProfile) is allowed from INSTALLED and DISABLED only (the eUICC refuses to
  delete an enabled profile: profileNotInDisabledState). ``reset`` (eUICCMemoryReset) deletes a
  profile whatever its state, the enabled one included: one change, never "disable, then delete".
- ``remove`` (the platform drops the AC and the profile) only from states where no device holds
  it; REMOVED is final: importing the profile again makes a new record.

A trigger the model does not allow raises ``IllegalTransition``. A recorder that learns of a
change it must keep anyway (the card's truth, e.g. history written by another LPA) calls
:meth:`ProfileStatus.drift`, which records the move *as drift*, naming the refusal, instead of
pretending the platform allowed it.
"""
from __future__ import annotations

from enum import StrEnum

from esimflow.machines.base import Change, IllegalTransition, StateModel, TransitionSpec


class Status(StrEnum):
    AVAILABLE = "AVAILABLE"
    DOWNLOADED = "DOWNLOADED"
    INSTALLED = "INSTALLED"
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"
    DELETED = "DELETED"
    REMOVED = "REMOVED"
    EXPIRED = "EXPIRED"
    CANCELED = "CANCELED"


S = Status

STATES = list(Status)
FINAL = [S.REMOVED]

TRANSITIONS: list[TransitionSpec] = [
    {"trigger": "regenerate_ac", "source": [S.AVAILABLE, S.DELETED, S.EXPIRED, S.CANCELED], "dest": S.AVAILABLE},
    {"trigger": "download", "source": S.AVAILABLE, "dest": S.DOWNLOADED},
    {"trigger": "abandon", "source": S.DOWNLOADED, "dest": S.AVAILABLE},
    {"trigger": "refuse", "source": [S.AVAILABLE, S.DOWNLOADED], "dest": S.CANCELED},
    {"trigger": "install", "source": S.DOWNLOADED, "dest": S.INSTALLED},
    {"trigger": "enable", "source": [S.INSTALLED, S.DISABLED], "dest": S.ENABLED},
    {"trigger": "disable", "source": S.ENABLED, "dest": S.DISABLED},
    {"trigger": "delete", "source": [S.INSTALLED, S.DISABLED], "dest": S.DELETED},
    {"trigger": "reset", "source": [S.INSTALLED, S.DISABLED, S.ENABLED], "dest": S.DELETED},
    {"trigger": "reuse", "source": S.DELETED, "dest": S.AVAILABLE},
    {"trigger": "expire", "source": [S.AVAILABLE, S.DOWNLOADED], "dest": S.EXPIRED},
    {"trigger": "cancel", "source": [S.AVAILABLE, S.DOWNLOADED], "dest": S.CANCELED},
    {"trigger": "remove", "source": [S.AVAILABLE, S.DELETED, S.EXPIRED, S.CANCELED], "dest": S.REMOVED},
]

TRIGGERS = tuple(dict.fromkeys(str(t["trigger"]) for t in TRANSITIONS))
"""Every trigger, in declaration order."""

DESTINATION: dict[str, Status] = {str(t["trigger"]): Status(t["dest"]) for t in TRANSITIONS}
"""Where each trigger leads (one destination per trigger, whatever the source)."""


class ProfileStatus(StateModel, label="ProfileStatus", states=STATES, transitions=TRANSITIONS,
                    initial=S.AVAILABLE, final=FINAL):
    """The status an operator platform shows for one profile, from activation code to removal.

    Every trigger (``download``, ``install``, ``enable``, ...) takes an optional ``reason`` and
    returns the ``Change`` (from, to, trigger, reason) the history stores record, or raises
    ``IllegalTransition``.
    """

    def __init__(self, status: Status | str = S.AVAILABLE, *, iccid: str | None = None) -> None:
        super().__init__(status)
        self.subject = iccid

    @property
    def status(self) -> Status:
        return Status(self.state)

    def drift(self, trigger: str, reason: str | None = None) -> Change:
        """Move by ``trigger`` even though the model refuses it from here, because the device
        already did it: the Change names the refusal in ``drift`` so every history shows the
        move as drift. A legal trigger is an ordinary change (``drift`` None); an unknown
        trigger still raises."""
        try:
            return self.fire(trigger, reason=reason)
        except IllegalTransition as refused:
            if trigger not in DESTINATION:
                raise
            change = Change(self.machine.label, trigger, self.state, str(DESTINATION[trigger]), reason,
                            self.subject, drift=refused.message)
        self.state = change.to_state
        self.changes.append(change)
        return change
