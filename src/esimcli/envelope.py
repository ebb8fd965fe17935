"""The one JSON object every operation command prints with ``--json`` (schema in docs/cli.md).

Keys are always present, in this order; values that do not apply are ``null``. Scripts may rely
on that: adding a key is a compatible change, renaming or removing one is not.
"""
from __future__ import annotations

from typing import Any

from esimflow.contract import OperationResult
from sgp22.results import WinStatus

from esimcli.failures import CliFailure

SCHEMA_KEYS = ("ok", "operation", "eid", "workflow_id", "result_code", "data", "error")

# Statuses after which the same command, run again unchanged, can succeed: the engine already
# retried within the operation, but the cause (a server, a busy or absent card) is transient.
_RETRYABLE_STATUSES = frozenset({
    WinStatus.ServerFailure,
    WinStatus.ServerNotReachable,
    WinStatus.CardRemoved,
    WinStatus.CardBusy,
    WinStatus.TimeoutWaitingForResponse,
    WinStatus.TimeoutWaitingForUserConsent,
})


def from_result(operation: str, result: OperationResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "operation": operation,
        "eid": result.eid or None,
        "workflow_id": result.workflow_id or None,
        "result_code": {
            "openharmony": {"name": result.oh_result_name, "value": result.oh_result},
            "windows": {"name": result.win_status_name, "value": result.win_status},
        },
        "data": result.data or {},
        "error": None if result.ok else {
            "kind": result.error_kind or "esim.error",
            "message": result.message,
            "retryable": _is_retryable(result.win_status),
        },
    }


def from_failure(operation: str, eid: str | None, failure: CliFailure) -> dict[str, Any]:
    """No operation result: the command stopped before the engine answered."""
    return {
        "ok": False,
        "operation": operation,
        "eid": eid or None,
        "workflow_id": failure.workflow_id or None,
        "result_code": None,
        "data": None,
        "error": {"kind": failure.kind, "message": failure.message, "retryable": failure.retryable},
    }


def _is_retryable(win_status: int) -> bool:
    try:
        return WinStatus(win_status) in _RETRYABLE_STATUSES
    except ValueError:
        return False
