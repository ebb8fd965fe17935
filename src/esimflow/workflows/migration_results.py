"""Reading the answers a device's migration gets: the profiles an operation reported, and the
error an activity failed with (for the device's outcome)."""
from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import OperationResult, ProfileState


def reported_profiles(result: OperationResult) -> dict[str, dict[str, Any]]:
    return {p["iccid"]: p for p in (result.data or {}).get("profiles", []) if p.get("iccid")}


def enabled_iccids(profiles: dict[str, dict[str, Any]]) -> list[str]:
    return [iccid for iccid, p in profiles.items() if p.get("state") == int(ProfileState.PROFILE_STATE_ENABLED)]


def has_undelivered(result: OperationResult) -> bool:
    notifications = (result.data or {}).get("notifications") or {}
    return bool(notifications.get("failed"))


def _failure(error: ActivityError | ApplicationError) -> BaseException:
    """The activity's own error: wrapped in an ActivityError (activities), or as is (local
    activities, in this SDK)."""
    return error.cause if isinstance(error, ActivityError) and error.cause is not None else error


def failure_message(error: ActivityError | ApplicationError) -> str:
    failure = _failure(error)
    return getattr(failure, "message", None) or str(failure)


def failure_kind(error: ActivityError | ApplicationError) -> str | None:
    failure = _failure(error)
    return failure.type if isinstance(failure, ApplicationError) else None
