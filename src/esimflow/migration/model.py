"""What the migration workflows, activities, CLI and report exchange: plain dataclasses.

Imported inside the workflow sandbox: no I/O at import time. Activation codes are secrets: the
dataclasses that carry one mask it in their repr, and nothing here ever puts one in an id, a
search attribute or a log line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from esimflow.machines.device_migration import Ending

# --- names -------------------------------------------------------------------------------------

MIGRATION_TASK_QUEUE = "esimflow-migration"
"""Migration workflows and their bookkeeping activities (the store is a file on this worker's
host). The engine's operations keep running on the engine's own queues."""

BULK_MIGRATION_WORKFLOW = "BulkMigration"
DEVICE_MIGRATION_WORKFLOW = "DeviceMigration"
MIGRATION_OPERATION = "Migration"  # the EsimOperation search attribute of a device migration

UPDATE_PAUSE = "pause"
UPDATE_RESUME = "resume"
UPDATE_CANCEL = "cancel"
UPDATE_APPROVE = "approve"
UPDATE_SET_CONCURRENCY = "set_concurrency"
QUERY_STATUS = "status"
SIGNAL_DEVICE_FINISHED = "device_finished"  # device child -> its migration
SIGNAL_STOP_DEVICE = "stop"  # migration -> device child: roll back at the next safe point


class Outcome:
    """How one device ends; exactly one of these for every device a migration processed: the
    final states of the DeviceMigrationOutcome machine, which decides it."""

    MIGRATED = Ending.MIGRATED.value  # the target is enabled and verified (the old profile deleted or kept per policy)
    ROLLED_BACK = Ending.ROLLED_BACK.value  # attempted, undone: verified back on the old profile (reason says why)
    FAILED = Ending.FAILED.value  # not attempted (preconditions), or the old state could not be restored/verified
    SKIPPED = Ending.SKIPPED.value  # already on the target (or a dry run: nothing changed)

    ALL = (MIGRATED, ROLLED_BACK, FAILED, SKIPPED)
    FAILURES = (ROLLED_BACK, FAILED)


NOT_STARTED = "not_started"  # report value for devices a cancelled or aborted migration never reached


class MigrationState:
    IMPORTING = "importing"
    RUNNING = "running"
    PAUSED = "paused"
    AWAITING_APPROVAL = "awaiting_approval"
    CANCELLING = "cancelling"
    ABORTING = "aborting"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ABORTED = "aborted"
    REJECTED = "rejected"  # the fleet file did not validate

    FINAL = (COMPLETED, CANCELLED, ABORTED, REJECTED)


def device_workflow_id(migration_id: str, index: int) -> str:
    """Deterministic, so a re-run of the migration finds (and never duplicates) a device's
    child; the EID is not in it on purpose (ids are visible to anyone who can list workflows)."""
    return f"{migration_id}-device-{index}"


def mask(secret: str | None) -> str:
    if not secret:
        return repr(secret)
    return f"'{secret[:4]}…({len(secret)})'" if len(secret) > 8 else f"'…({len(secret)})'"


# --- fleet -------------------------------------------------------------------------------------


@dataclass
class FleetEntry:
    """One validated fleet line. ``index`` orders the valid lines (0-based); ``line`` is where it
    came from. ``device`` is the address the fleet gives for the card (a registry name, a reader
    spec, or ``card_host/reader``), checked against the device registry before anything changes."""

    index: int
    line: int
    eid: str
    current_iccid: str
    device: str = ""
    target_iccid: str | None = None
    activation_code: str | None = None

    def __repr__(self) -> str:
        return (f"FleetEntry(index={self.index}, line={self.line}, eid={self.eid!r}, "
                f"current_iccid={self.current_iccid!r}, device={self.device!r}, "
                f"target_iccid={self.target_iccid!r}, activation_code={mask(self.activation_code)})")


@dataclass
class LineError:
    """Why one fleet line was refused; the message never quotes an activation code."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.column}: {self.message}"


# --- policy ------------------------------------------------------------------------------------


@dataclass
class MigrationPolicy:
    """How a migration proceeds (``docs/migration.md`` explains each knob)."""

    max_concurrency: int = 10
    max_starts_per_second: float = 5.0
    canary_size: int = 0  # 0: no canary batch
    canary_approval: bool = True  # after the canary batch, wait for `approve`
    failure_window: int = 20  # abort when, over the last N finished devices,
    failure_threshold: float = 0.25  # more than this share rolled back or failed
    rollback: bool = True  # on a failure after the switch, re-enable the old profile
    delete_old: bool = False  # delete the old profile once the target is verified
    dry_run: bool = False  # check preconditions and preview the target; change nothing
    accept_policy_rules: bool = False  # the target's profile policy rules are pre-approved
    connectivity_check: str | None = None  # activity name called after the switch
    connectivity_task_queue: str | None = None  # default: the task queue of the card's host
    connectivity_timeout_seconds: float = 120.0
    skip_invalid_lines: bool = False  # start with the valid lines when some are invalid

    def problems(self) -> list[str]:
        found = []
        if self.max_concurrency < 1:
            found.append("max_concurrency must be at least 1")
        if not self.max_starts_per_second > 0:
            found.append("max_starts_per_second must be positive")
        if self.canary_size < 0:
            found.append("canary_size must be >= 0")
        if self.failure_window < 1:
            found.append("failure_window must be at least 1")
        if not 0 <= self.failure_threshold <= 1:
            found.append("failure_threshold must be between 0 and 1")
        if self.connectivity_timeout_seconds <= 0:
            found.append("connectivity_timeout_seconds must be positive")
        if self.connectivity_task_queue and not self.connectivity_check:
            found.append("connectivity_task_queue given without connectivity_check")
        return found


@dataclass
class DevicePolicy:
    """The part of the policy one device's migration needs."""

    rollback: bool = True
    delete_old: bool = False
    dry_run: bool = False
    accept_policy_rules: bool = False
    connectivity_check: str | None = None
    connectivity_task_queue: str | None = None
    connectivity_timeout_seconds: float = 120.0

    @classmethod
    def of(cls, policy: MigrationPolicy) -> DevicePolicy:
        return cls(rollback=policy.rollback, delete_old=policy.delete_old, dry_run=policy.dry_run,
                   accept_policy_rules=policy.accept_policy_rules,
                   connectivity_check=policy.connectivity_check,
                   connectivity_task_queue=policy.connectivity_task_queue,
                   connectivity_timeout_seconds=policy.connectivity_timeout_seconds)


# --- workflow inputs and results ----------------------------------------------------------------


@dataclass
class Counters:
    """Per-outcome counts; carried across continue-as-new."""

    migrated: int = 0
    rolled_back: int = 0
    failed: int = 0
    skipped: int = 0
    already_done: int = 0  # migrated (or on target) in an earlier run of this migration: not started again

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def finished(self) -> int:
        return self.migrated + self.rolled_back + self.failed + self.skipped + self.already_done


@dataclass
class CarriedState:
    """Everything a BulkMigration run hands to the next one at continue-as-new: the cursor and
    the counters, never the fleet (the activities read it from the store in pages)."""

    total: int
    cursor: int  # next fleet index to dispatch
    counters: Counters
    in_flight: dict[str, int]  # device workflow id -> fleet index (they signal this workflow id)
    concurrency: int
    paused: bool
    cancelling: bool
    cancel_rollback: bool
    abort_reason: str | None
    canary_indices: list[int]  # the devices of the canary batch (at most canary_size)
    canary_finished: int
    canary_failed: int
    canary_approved: bool
    recent_failures: list[bool]  # the failure window, oldest first
    recent_finish_times: list[float]  # epoch seconds of the last finishes, for the rate
    first_start_time: float | None
    tokens: float
    tokens_at: float | None
    runs: int
    invalid_lines: int


@dataclass
class BulkMigrationInput:
    migration_id: str
    fleet_path: str
    fleet_sha256: str
    policy: MigrationPolicy = field(default_factory=MigrationPolicy)
    engine_task_queue: str = "esimflow"
    search_attributes: bool = False  # the EsimEid/... attributes are registered: upsert them
    continue_after_starts: int = 500  # devices started per run before continuing as new
    reconcile_after_seconds: float = 600.0  # no device finished this long: look for lost outcomes
    carried: CarriedState | None = None


@dataclass
class ImportResult:
    total: int  # valid devices
    invalid: int
    errors: list[LineError] = field(default_factory=list)  # the first few, for the status
    created: bool = True  # False: this migration id already held this fleet (a re-run)
    rejected: bool = False  # invalid lines and the policy does not skip them: nothing was kept


@dataclass
class PageEntry:
    entry: FleetEntry
    done: bool  # migrated, or found on target, by an earlier run
    known_target_iccid: str | None = None  # target installed by an earlier attempt
    workflow_task_queue: str = ""  # where the card's operations run (registry); "" unknown


@dataclass
class DeviceMigrationInput:
    migration_id: str
    parent_workflow_id: str
    entry: FleetEntry
    policy: DevicePolicy
    engine_task_queue: str = "esimflow"
    search_attributes: bool = False
    known_target_iccid: str | None = None
    migration_task_queue: str = ""  # the migration worker's queue (its store steps run there)


@dataclass
class HoldCardInput:
    """Check the fleet's device address, then hold the eUICC for one device's migration."""

    eid: str
    device: str
    hold_id: str
    holder_workflow_id: str
    holder_run_id: str
    engine_task_queue: str


@dataclass
class DeviceOutcome:
    migration_id: str
    index: int
    eid: str
    outcome: str
    reason: str = ""
    old_iccid: str = ""
    target_iccid: str | None = None
    enabled_iccid: str | None = None  # what the card reported enabled at the end (None: unknown)
    old_deleted: bool = False
    dry_run: bool = False
    error_kind: str | None = None
    workflow_id: str = ""
    started_at: str = ""
    finished_at: str = ""


@dataclass
class MigrationStatus:
    migration_id: str
    state: str
    total: int = 0
    invalid_lines: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    pending: int = 0
    concurrency: int = 0
    rate_per_second: float = 0.0
    eta_seconds: float | None = None
    canary_size: int = 0
    canary_finished: bool = False
    abort_reason: str | None = None
    failure_rate: float = 0.0
    dry_run: bool = False
    runs: int = 1
    errors: list[LineError] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return sum(self.counts.values())

    @property
    def is_final(self) -> bool:
        return self.state in MigrationState.FINAL


@dataclass
class CancelRequest:
    """``rollback``: devices in flight that have not switched yet stop and stay on (or go back
    to) their old profile; without it they finish their migration."""

    rollback: bool = False


@dataclass
class ConcurrencyRequest:
    max_concurrency: int


@dataclass
class ConnectivityCheckInput:
    """What a connectivity-check hook activity receives after the switch; it raises (an
    ApplicationError) when the device does not attach with the new profile."""

    eid: str
    iccid: str
    migration_id: str


@dataclass
class RunOperationInput:
    """One engine operation submitted through the eUICC's entity workflow. ``input`` is the
    operation's input dataclass as a dict (may hold an activation code: it only travels in
    codec-encrypted payloads)."""

    operation: str
    operation_id: str
    input: dict[str, Any]
    engine_task_queue: str = "esimflow"

    def __repr__(self) -> str:
        return f"RunOperationInput(operation={self.operation!r}, operation_id={self.operation_id!r})"


@dataclass
class ReadPageInput:
    migration_id: str
    start: int
    limit: int


@dataclass
class ImportFleetInput:
    migration_id: str
    fleet_path: str
    fleet_sha256: str
    policy: MigrationPolicy


@dataclass
class FinishMigrationInput:
    migration_id: str
    state: str
    abort_reason: str | None
    counters: Counters


@dataclass
class ReconcileInput:
    migration_id: str
    in_flight: dict[str, int]


@dataclass
class LookupQueueInput:
    eid: str
    device: str = ""
