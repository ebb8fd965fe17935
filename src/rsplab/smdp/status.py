"""The lab SM-DP+'s profile statuses: the operator platform's one ``ProfileStatus`` machine
(``esimflow.machines.profile_status``, pure: rsplab may import ``esimflow.machines`` and nothing
else of esimflow), so the lab and the engine record the same changes with the same names.

Which device or operator event fires which trigger, in the lab SM-DP+:

- the download flow: ``download`` (bound profile package handed out), ``install`` (successful
  installation result), ``abandon`` (error installation result: nothing landed on a device);
- the session cancelled by the device (ES9+ cancelSession): see :data:`CANCEL_REASON_EVENTS`;
- notifications from the device: ``enable``, ``disable``, ``delete``, then ``reuse`` for a
  reusable profile ("AVAILABLE ... when the user deletes the profile from the device"). A
  notification is the device's fact: one the model refuses from the recorded status (an earlier
  notification lost) is recorded as drift (:func:`observe`), as the engine's history does;
- the operator (admin): ``expire``, ``cancel``, ``remove``, and ``regenerate_ac`` (``reissue``:
  a new activation code).
"""
from __future__ import annotations

from esimflow.machines.base import Change, IllegalTransition
from esimflow.machines.profile_status import TRIGGERS as EVENTS
from esimflow.machines.profile_status import ProfileStatus as StatusMachine
from esimflow.machines.profile_status import Status as ProfileStatus
from sgp22.errors import EsimError

__all__ = ["CANCEL_REASON_EVENTS", "EVENTS", "IllegalStatusChange", "ProfileStatus", "move", "observe"]

CANCEL_REASON_EVENTS = {
    "endUserRejection": "refuse",
    "postponed": "abandon",
    "timeout": "abandon",
    "pprNotAllowed": "refuse",
    "metadataMismatch": "abandon",
    "loadBppExecutionError": "abandon",
    "undefinedReason": "abandon",
}
"""What a device-side cancelSession reason does to the profile: a rejection ends the order, any
other reason leaves the activation code usable."""


class IllegalStatusChange(EsimError):
    """An event that the status model does not allow from the profile's current status."""

    kind = "lab.smdp.illegal_status_change"

    def __init__(self, message: str, *, current: ProfileStatus, event: str) -> None:
        super().__init__(message)
        self.current = current
        self.event = event


def move(current: ProfileStatus | str, event: str, reason: str | None = None) -> Change:
    """The machine's Change for ``event`` from ``current``; raises :class:`IllegalStatusChange`."""
    current = ProfileStatus(current)
    try:
        return StatusMachine(current).fire(event, reason=reason)
    except IllegalTransition as refused:
        raise IllegalStatusChange(refused.message, current=current, event=event) from None


def observe(current: ProfileStatus | str, event: str, reason: str | None = None) -> Change:
    """The Change for ``event`` the device reports it has made: one the model refuses from
    ``current`` (a notification lost before it) is drift, its ``drift`` naming the refusal,
    never ignored; an unknown event raises :class:`IllegalStatusChange`."""
    current = ProfileStatus(current)
    try:
        return StatusMachine(current).drift(event, reason=reason)
    except IllegalTransition as refused:
        raise IllegalStatusChange(refused.message, current=current, event=event) from None
