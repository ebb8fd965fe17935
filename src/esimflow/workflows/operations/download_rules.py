"""Which ways a download session can end call for a fresh session (and which do not): the
installation results and step failures a new RSP session cures."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import CardStep, LoadBppResult
    from esimflow.workflows.steps import StepFailed

FORGOTTEN_SESSION = "es9.8.10.1/3.9"
"""The SM-DP+ no longer knows the transaction (restarted, or the session expired): one new
session can cure that, more cannot (a server that forgets every session is broken)."""
MAX_CONFIRMATION_CODE_ATTEMPTS = 3

INTERRUPTION_RESULTS = (
    # installation results a re-sent package meets when the card was already fed part of it
    "installFailedDueToInterruption", "scp03tStructureError", "scp03tSecurityError", "invalidTransactionId",
)


def session_lost(failure: StepFailed) -> bool:
    """A card step of the session refused at the APDU level (e.g. 6985 after a card reset): the
    eUICC no longer holds the session, which a new session cures."""
    return failure.kind.startswith("card.sw.") and failure.data.get("step") in (
        CardStep.AUTHENTICATE_SERVER, CardStep.PREPARE_DOWNLOAD)


def install_interrupted(loaded: LoadBppResult) -> bool:
    """The eUICC refused the package because it was interrupted, or after a re-run sent a
    package the card had half taken (a worker died mid-load): a new session binds it afresh."""
    error = loaded.error or {}
    return bool(error.get("retryable") or loaded.attempt > 1 or error.get("kind", "").endswith(INTERRUPTION_RESULTS))


def notification_seqs(loaded: LoadBppResult | None) -> list[int] | None:
    """The installation result's notification, to deliver first (None: every pending one)."""
    if loaded is None or loaded.notification_seq is None:
        return None
    return [loaded.notification_seq]
