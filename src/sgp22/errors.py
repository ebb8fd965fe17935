"""One error taxonomy for everything the protocol library can fail with.

Each error knows whether trying again can help and which OpenHarmony ``ResultCode`` and
Windows ``ESimOperationStatus`` it surfaces as, so the engine never has to guess. Messages are
built by the raiser and must not carry secrets (matching IDs, confirmation codes, keys).
"""
from __future__ import annotations

from sgp22.results import OhResultCode, WinStatus


class EsimError(Exception):
    """Base of every esimflow failure.

    ``kind`` is a stable machine-readable name (it becomes the Temporal ApplicationError type).
    """

    kind: str = "esim.error"
    retryable: bool = False
    oh_result: OhResultCode = OhResultCode.RESULT_SGP_22_OTHER
    win_status: WinStatus = WinStatus.Other

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        retryable: bool | None = None,
        oh_result: OhResultCode | None = None,
        win_status: WinStatus | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        if retryable is not None:
            self.retryable = retryable
        if oh_result is not None:
            self.oh_result = oh_result
        if win_status is not None:
            self.win_status = win_status

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "message": self.message,
            "retryable": self.retryable,
            "oh_result": self.oh_result.name,
            "oh_result_code": int(self.oh_result),
            "win_status": self.win_status.name,
            "win_status_code": int(self.win_status),
        }
