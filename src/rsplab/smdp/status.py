"""The lab SM-DP+'s profile status model (operator platform statuses), as one transition table.

The statuses are those of the operator platform seed. Which event moves a profile where:

- the download flow: ``deliver`` (bound profile package handed out) AVAILABLE -> DOWNLOADED;
  ``install`` (successful installation result) DOWNLOADED -> INSTALLED; ``install_failed``
  (error installation result) DOWNLOADED -> AVAILABLE, nothing landed on a device;
- the session cancelled by the device (ES9+ cancelSession): ``abandon`` DOWNLOADED -> AVAILABLE
  when the user postponed, timed out, or the load failed (the order stays usable), ``refuse``
  AVAILABLE/DOWNLOADED -> CANCELED when the user rejected the profile or its policy rules were
  not allowed (the operator has to issue a new activation code);
- notifications from the device: ``enable`` INSTALLED/DISABLED -> ENABLED, ``disable`` ENABLED
  -> DISABLED, ``delete`` INSTALLED/DISABLED/ENABLED -> DELETED (ENABLED too: an eUICC memory
  reset deletes the enabled profile and notifies it), then ``reuse`` DELETED -> AVAILABLE for a
  reusable profile ("AVAILABLE ... when the user deletes the profile from the device");
- the operator (admin): ``expire`` and ``cancel`` (ES2+) while no device holds the profile
  (AVAILABLE, DOWNLOADED); ``remove`` from the platform when no device holds it (AVAILABLE,
  DELETED, EXPIRED, CANCELED), final; ``reissue`` a new activation code for an EXPIRED or
  CANCELED profile, back to AVAILABLE.
"""
from __future__ import annotations

from enum import StrEnum

from transitions import Machine

from sgp22.errors import EsimError


class ProfileStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    DOWNLOADED = "DOWNLOADED"
    INSTALLED = "INSTALLED"
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"
    DELETED = "DELETED"
    REMOVED = "REMOVED"
    EXPIRED = "EXPIRED"
    CANCELED = "CANCELED"


S = ProfileStatus

TRANSITIONS = [
    {"trigger": "deliver", "source": [S.AVAILABLE], "dest": S.DOWNLOADED},
    {"trigger": "install", "source": [S.DOWNLOADED], "dest": S.INSTALLED},
    {"trigger": "install_failed", "source": [S.DOWNLOADED], "dest": S.AVAILABLE},
    {"trigger": "abandon", "source": [S.DOWNLOADED], "dest": S.AVAILABLE},
    {"trigger": "refuse", "source": [S.AVAILABLE, S.DOWNLOADED], "dest": S.CANCELED},
    {"trigger": "enable", "source": [S.INSTALLED, S.DISABLED], "dest": S.ENABLED},
    {"trigger": "disable", "source": [S.ENABLED], "dest": S.DISABLED},
    {"trigger": "delete", "source": [S.INSTALLED, S.DISABLED, S.ENABLED], "dest": S.DELETED},
    {"trigger": "reuse", "source": [S.DELETED], "dest": S.AVAILABLE},
    {"trigger": "expire", "source": [S.AVAILABLE, S.DOWNLOADED], "dest": S.EXPIRED},
    {"trigger": "cancel", "source": [S.AVAILABLE, S.DOWNLOADED], "dest": S.CANCELED},
    {"trigger": "remove", "source": [S.AVAILABLE, S.DELETED, S.EXPIRED, S.CANCELED], "dest": S.REMOVED},
    {"trigger": "reissue", "source": [S.EXPIRED, S.CANCELED], "dest": S.AVAILABLE},
]

EVENTS = tuple(dict.fromkeys(t["trigger"] for t in TRANSITIONS))

CANCEL_REASON_EVENTS = {
    "endUserRejection": "refuse",
    "postponed": "abandon",
    "timeout": "abandon",
    "pprNotAllowed": "refuse",
    "metadataMismatch": "abandon",
    "loadBppExecutionError": "abandon",
    "undefinedReason": "abandon",
}
"""What a device-side cancelSession reason does to the profile (see the module docstring)."""

_MACHINE = Machine(model=None, states=list(S), transitions=TRANSITIONS, initial=None, auto_transitions=False)


class IllegalStatusChange(EsimError):
    """An event that the status model does not allow from the profile's current status."""

    kind = "lab.smdp.illegal_status_change"

    def __init__(self, message: str, *, current: ProfileStatus, event: str) -> None:
        super().__init__(message)
        self.current = current
        self.event = event


def next_status(current: ProfileStatus | str, event: str) -> ProfileStatus:
    """Where ``event`` takes a profile in ``current``; raises :class:`IllegalStatusChange`."""
    current = S(current)
    if event not in EVENTS:
        raise IllegalStatusChange(f"unknown profile event {event!r}", current=current, event=event)
    found = _MACHINE.get_transitions(trigger=event, source=current)
    if not found:
        allowed = ", ".join(sorted({s for t in TRANSITIONS if t["trigger"] == event for s in t["source"]}))
        raise IllegalStatusChange(f"{event} is not allowed for a profile in status {current} (only from {allowed})",
                                  current=current, event=event)
    return S(found[0].dest)
