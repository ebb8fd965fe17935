"""What the profile status history holds and the interface every store offers.

The history answers an operator's questions at any moment: where does this profile stand, what
happened to it and when, which operations failed and why (the operator platform's Profile
detail and Logs pages). It is written by activities, which Temporal may retry, so every record
carries an idempotency key and a retried write lands once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from esimflow.machines.base import Change
from esimflow.machines.profile_status import Status
from sgp22.errors import BadInputError

_ICCID = re.compile(r"\d{18,20}")
_EID = re.compile(r"\d{32}")


def _status(value, name: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise BadInputError(f"{name} {value!r} is not a profile status ({', '.join(Status)})") from None


@dataclass(frozen=True)
class StatusChange:
    """One status change of one profile.

    ``sequence`` numbers the changes one workflow makes to one profile (a workflow that enables,
    disables and enables again the same ICCID records 0, 1, 2), so the derived idempotency key
    ``workflow_id/iccid/to_status/sequence`` is the same for a retried activity and different for
    a genuinely new change. Without a workflow id, pass ``idempotency_key`` yourself.

    ``drift`` is set on a move the ProfileStatus machine does not allow from the recorded status
    (history written by another LPA, a lost record) but the card shows happened: the history
    keeps the card's truth and says it is drift, never passing it off as a legal change.
    """

    iccid: str
    to_status: Status
    operation: str
    at: datetime
    from_status: Status | None = None
    eid: str | None = None
    workflow_id: str | None = None
    error_reason: str | None = None
    sequence: int = 0
    idempotency_key: str = field(default="")
    drift: str | None = None  # the platform model refused this move, the device made it anyway: why

    def __post_init__(self) -> None:
        if not _ICCID.fullmatch(self.iccid or ""):
            raise BadInputError(f"ICCID must be 18 to 20 digits, got {self.iccid!r}")
        if self.eid is not None and not _EID.fullmatch(self.eid):
            raise BadInputError(f"EID must be 32 digits, got {self.eid!r}")
        object.__setattr__(self, "to_status", _status(self.to_status, "to_status"))
        if self.from_status is not None:
            object.__setattr__(self, "from_status", _status(self.from_status, "from_status"))
        if not self.operation:
            raise BadInputError("a status change needs the operation that made it")
        if self.at.tzinfo is None:
            raise BadInputError("a status change time must carry a time zone (use UTC)")
        object.__setattr__(self, "at", self.at.astimezone(UTC))
        if self.sequence < 0:
            raise BadInputError(f"sequence must be >= 0, got {self.sequence}")
        if not self.idempotency_key:
            if not self.workflow_id:
                raise BadInputError(
                    "a status change needs a workflow id or an idempotency key, so a retried write "
                    "is recorded once")
            key = f"{self.workflow_id}/{self.iccid}/{self.to_status}/{self.sequence}"
            object.__setattr__(self, "idempotency_key", key)

    @classmethod
    def from_machine(cls, change: Change, *, iccid: str, operation: str, at: datetime, **details) -> StatusChange:
        """The record of a ``ProfileStatus`` change (its drift included); ``details``: eid,
        workflow_id, error_reason, sequence, idempotency_key."""
        return cls(iccid=iccid, from_status=Status(change.from_state), to_status=Status(change.to_state),
                   operation=operation, at=at, drift=change.drift, **details)


@dataclass(frozen=True)
class ProfileRecord:
    """Where one profile stands: its latest recorded status and the change that set it."""

    iccid: str
    status: Status
    at: datetime
    eid: str | None
    operation: str
    workflow_id: str | None
    error_reason: str | None


@runtime_checkable
class HistoryStore(Protocol):
    """Where status changes are kept, and the read API the CLI and the console use.

    ``SqlHistoryStore`` implements it on a SQLite file (one host) or on PostgreSQL (every host
    of a deployment writes and reads one history).
    """

    def record(self, change: StatusChange) -> bool:
        """Store ``change``; False if a change with the same idempotency key is already stored."""

    def history(self, iccid: str) -> list[StatusChange]:
        """Every change of one profile, oldest first."""

    def profiles(self, status: Status | str | None = None, eid: str | None = None, *,
                 after: str | None = None, limit: int | None = None) -> list[ProfileRecord]:
        """The latest status of each profile by ICCID, optionally only those in ``status`` or on
        ``eid``; a page of ``limit`` profiles whose ICCID sorts after ``after`` (keyset paging)."""

    def logs(self, errors_only: bool = False, limit: int = 100, *, since: datetime | None = None,
             until: datetime | None = None, eid: str | None = None, iccid: str | None = None,
             status: Status | str | None = None, operation: str | None = None,
             offset: int = 0) -> list[StatusChange]:
        """The most recent changes, newest first: only failed ones with ``errors_only``, only
        those at ``since`` <= time < ``until``, on ``eid``, of ``iccid``, to ``status``, made by
        ``operation``; ``offset`` skips that many (pages of ``limit``)."""

    def operations(self) -> list[str]:
        """Every operation name the history has recorded a change for, sorted."""

    def close(self) -> None:
        ...
