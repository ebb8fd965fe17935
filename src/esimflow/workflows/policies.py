"""Timeouts and retry policies per step.

Activity-level retries absorb glitches (a transport hiccup, a card that answered 6F00, an
SM-DP+ 5xx or a dropped connection) with backoff. Business answers (a profile that does not
exist, a refused activation code, a wrong confirmation code, a policy rule that forbids the
change) are never retried: the activities raise them as non-retryable ApplicationErrors typed
with the error's ``kind``, and the per-step lists below say so explicitly too, so a reader of a
step sees what it will not retry.

A card removed in the middle of LoadBoundProfilePackage is not retried by the activity: the card
may have finished the install, so only the workflow can decide (it checks the card first).
"""
from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from esimflow.contract import Operation

# kinds no step ever retries (bad input, undecodable data, unknown device, illegal change)
NEVER_RETRIED = [
    "input.invalid",
    "data.malformed",
    "device.not_found",
    "device.unreachable",
    "machine.illegal_transition",
    "not_supported",
    "server.tls",
    "crypto.certificate",
    "crypto.invalid_signature",
]

# Every card and network step heartbeats while it waits (esimflow.activities.liveness), so a
# worker that dies mid-step is noticed after STEP_HEARTBEAT, not after the start-to-close bound.
STEP_HEARTBEAT = timedelta(seconds=10)
CARD_START_TO_CLOSE = timedelta(seconds=60)
CARD_SCHEDULE_TO_CLOSE = timedelta(minutes=5)
CARD_SCHEDULE_TO_START = timedelta(seconds=10)
"""A card step sent to another host's queue that no worker there has started within this is
looked up again (``Card.call``): the host may be gone or the card elsewhere."""
LOAD_BPP_START_TO_CLOSE = timedelta(minutes=10)
LOAD_BPP_HEARTBEAT = timedelta(seconds=5)
"""LoadBoundProfilePackage runs as an ordinary activity (even on the card host) and reports its
segments as heartbeat details, which the SDK sends at most every 80% of this: short enough for
a live progress display and for a dead worker's install to be picked up again within seconds."""
NET_START_TO_CLOSE = timedelta(seconds=90)
NET_SCHEDULE_TO_CLOSE = timedelta(minutes=10)
ENGINE_START_TO_CLOSE = timedelta(seconds=20)


def card_retry(*business_kinds: str) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=5),
        maximum_attempts=5,
        non_retryable_error_types=[*NEVER_RETRIED, *business_kinds],
    )


def load_bpp_retry() -> RetryPolicy:
    """Re-running LoadBPP is only safe because the activity first checks the card for the
    profile; removal is left to the workflow."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=4,
        non_retryable_error_types=[*NEVER_RETRIED, "card.removed"],
    )


def net_retry(*business_kinds: str) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=20),
        maximum_attempts=6,
        non_retryable_error_types=[*NEVER_RETRIED, *business_kinds],
    )


def notification_retry() -> RetryPolicy:
    """Delivering notifications at the end of an operation: a short try, because the profile
    change already happened and the user should not wait on an SM-DP+ that is down; what is
    not delivered stays on the card for ProcessNotifications (which retries with net_retry)."""
    return RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0,
                       maximum_interval=timedelta(seconds=2), maximum_attempts=3,
                       non_retryable_error_types=list(NEVER_RETRIED))


ENGINE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=10,
    non_retryable_error_types=["device.not_found", "input.invalid"],
)


OPERATION_STEPS_BUDGET = timedelta(minutes=30)
"""How long any operation's card and network steps may take in all, their retries included
(a LoadBoundProfilePackage alone may take LOAD_BPP_START_TO_CLOSE)."""
DOWNLOAD_SESSIONS = 3  # DownloadProfile's MAX_SESSIONS
USER_WAITS_PER_SESSION = 2  # consent, then a confirmation code
OS_UPDATE_POLLING = timedelta(minutes=10)  # how long OsUpdate polls a card applying an image


def operation_execution_timeout(operation: str, request: dict) -> timedelta:
    """The execution timeout the entity gives an operation, from the operation's own limits: its
    steps' budget, plus each wait for the user (``consent_timeout_seconds`` per question and
    session) or for the card to apply an OS image. An operation that outlives it failed somehow
    (a bug that keeps its task failing); the entity then goes on with the next operation."""
    timeout = OPERATION_STEPS_BUDGET
    if "consent_timeout_seconds" in request:
        waits = DOWNLOAD_SESSIONS * USER_WAITS_PER_SESSION
        timeout += timedelta(seconds=float(request["consent_timeout_seconds"]) * waits)
    if operation == Operation.OS_UPDATE:
        timeout += OS_UPDATE_POLLING
    return timeout
