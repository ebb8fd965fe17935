"""Timeouts and retry policies of the migration workflows (BulkMigration's store steps,
DeviceMigration's engine operations, card lookup and hold, rollback and connectivity check)."""
from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# --- BulkMigration

PAGE_SIZE = 100
STORE_TIMEOUT = timedelta(minutes=2)
STORE_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10),
                          non_retryable_error_types=["migration.fleet_file", "migration.fleet_changed",
                                                     "migration.fleet_mismatch", "migration.unknown",
                                                     "input.invalid"])


# --- DeviceMigration

OPERATION_TIMEOUT = timedelta(hours=2)  # one attempt: the operation may queue behind others on the card
OPERATION_GIVE_UP = timedelta(hours=6)  # an engine unreachable this long fails the step
OPERATION_HEARTBEAT = timedelta(seconds=45)  # generous: a busy worker must not look dead
OPERATION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                              non_retryable_error_types=["input.invalid", "migration.operation_refused"])
LOCAL_TIMEOUT = timedelta(seconds=30)
LOCAL_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5),
                          maximum_attempts=20, non_retryable_error_types=["input.invalid", "migration.unknown"])
CARD_LOOKUP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                                non_retryable_error_types=["migration.device_mismatch", "input.invalid"])
CARD_LOOKUP_GIVE_UP = timedelta(minutes=10)
"""A card host's worker unregisters its cards while it restarts: wait that long for the card."""
CONSENT_TIMEOUT_SECONDS = 30.0
"""How long a device's download waits for an answer (``MigrationControl.device``) before it
cancels the session: a fleet migration does not wait on people."""
ROLLBACK_ATTEMPTS = 4
ROLLBACK_BACKOFF = timedelta(seconds=1)  # then 2 s, 4 s: the engine retried each step already
CONNECTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3)
