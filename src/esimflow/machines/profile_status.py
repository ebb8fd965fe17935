"""The operator platform's view of one profile (seed: platform profile status), as data.

Design decisions beyond the seed's status list, each a transition below:
- AVAILABLE is entered after the activation code is generated or regenerated (``regenerate_ac``,
  also from DELETED: the platform re-releases a profile the user deleted from the device).
- ``abandon`` takes a DOWNLOADED profile back to AVAILABLE when the download session ended
  before an install (cancelled as postponed/timeout, or the eUICC failed before the PIR): the
  activation code can be used again.
- ES2+ ``expire``/``cancel`` only apply before the profile is installed (AVAILABLE, DOWNLOADED):
  once a device holds it, only the device can change it.
- ``delete`` is allowed from INSTALLED and DISABLED only (the eUICC refuses to delete an enabled
  profile: profileNotInDisabledState).
- ``remove`` (the platform drops the AC and the profile) only from states where no device holds
  it; REMOVED is final: importing the profile again makes a new record.
"""
from __future__ import annotations

from enum import StrEnum

from esimflow.machines.base import StateModel, TransitionSpec


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
    {"trigger": "regenerate_ac", "source": [S.AVAILABLE, S.DELETED], "dest": S.AVAILABLE},
    {"trigger": "download", "source": S.AVAILABLE, "dest": S.DOWNLOADED},
    {"trigger": "abandon", "source": S.DOWNLOADED, "dest": S.AVAILABLE},
    {"trigger": "install", "source": S.DOWNLOADED, "dest": S.INSTALLED},
    {"trigger": "enable", "source": [S.INSTALLED, S.DISABLED], "dest": S.ENABLED},
    {"trigger": "disable", "source": S.ENABLED, "dest": S.DISABLED},
    {"trigger": "delete", "source": [S.INSTALLED, S.DISABLED], "dest": S.DELETED},
    {"trigger": "expire", "source": [S.AVAILABLE, S.DOWNLOADED], "dest": S.EXPIRED},
    {"trigger": "cancel", "source": [S.AVAILABLE, S.DOWNLOADED], "dest": S.CANCELED},
    {"trigger": "remove", "source": [S.AVAILABLE, S.DELETED, S.EXPIRED, S.CANCELED], "dest": S.REMOVED},
]


class ProfileStatus(StateModel, label="ProfileStatus", states=STATES, transitions=TRANSITIONS,
                    initial=S.AVAILABLE, final=FINAL):
    """The status an operator platform shows for one profile, from activation code to removal.

    Every trigger (``download``, ``install``, ``enable``, ...) takes an optional ``reason`` and
    returns the ``Change`` (from, to, trigger, reason) the history store records.
    """

    def __init__(self, status: Status | str = S.AVAILABLE) -> None:
        super().__init__(status)

    @property
    def status(self) -> Status:
        return Status(self.state)
