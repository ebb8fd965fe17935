"""Starting and steering migrations from a client (the CLI, a test, a script)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from esimflow import search_attributes
from esimflow.client import OperationHandle
from esimflow.contract import WORKFLOW_TASK_QUEUE
from esimflow.migration.fleet import Fleet, load_fleet
from esimflow.migration.model import (
    BULK_MIGRATION_WORKFLOW,
    DEVICE_MIGRATION_WORKFLOW,
    MIGRATION_TASK_QUEUE,
    QUERY_STATUS,
    UPDATE_APPROVE,
    UPDATE_CANCEL,
    UPDATE_PAUSE,
    UPDATE_RESUME,
    UPDATE_SET_CONCURRENCY,
    BulkMigrationInput,
    CancelRequest,
    ConcurrencyRequest,
    DeviceOutcome,
    LineError,
    MigrationPolicy,
    MigrationStatus,
    device_workflow_id,
)
from sgp22.errors import BadInputError
from sgp22.masking import check_no_secret

BULK_OPERATION = "BulkMigration"
_ID_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class FleetInvalidError(BadInputError):
    """The fleet file has invalid lines (each listed in ``errors``); nothing was started."""

    kind = "migration.fleet_invalid"

    def __init__(self, errors: list[LineError], message: str | None = None) -> None:
        super().__init__(message or f"the fleet file has {len(errors)} invalid line(s)")
        self.errors = errors


@dataclass
class StartedMigration:
    migration_id: str
    handle: WorkflowHandle
    fleet: Fleet
    search_attributes: bool


def default_migration_id(fleet_sha256: str, policy: MigrationPolicy) -> str:
    """The same fleet gets the same id, so starting it again resumes it (devices already
    migrated are skipped); a dry run gets its own id so it never counts as done."""
    digest = hashlib.sha256(fleet_sha256.encode()).hexdigest()[:12]
    return f"mig-{digest}" + ("-dry-run" if policy.dry_run else "")


def check_migration_id(migration_id: str) -> str:
    """``migration_id`` if it can name the migration's workflows and search attribute, which the
    server keeps in plain text: never one holding a matching ID."""
    if not migration_id or len(migration_id) > 100 or not set(migration_id) <= _ID_CHARACTERS:
        raise BadInputError("a migration id is 1 to 100 letters, digits, '-', '_' or '.'")
    return check_no_secret(migration_id, "migration id")


def validate_fleet(fleet_path: str | Path, policy: MigrationPolicy) -> Fleet:
    """The fleet file, checked line by line (no server needed): :class:`FleetInvalidError`
    lists every bad line unless the policy skips them."""
    problems = policy.problems()
    if problems:
        raise BadInputError("; ".join(problems))
    fleet = load_fleet(fleet_path)
    if fleet.errors and not policy.skip_invalid_lines:
        raise FleetInvalidError(fleet.errors)
    if not fleet.entries:
        raise FleetInvalidError(fleet.errors, "the fleet file lists no valid device")
    return fleet


async def start_migration(client: Client, fleet_path: str | Path, policy: MigrationPolicy | None = None, *,
                          migration_id: str | None = None, task_queue: str = MIGRATION_TASK_QUEUE,
                          engine_task_queue: str = WORKFLOW_TASK_QUEUE, use_search_attributes: bool = True,
                          continue_after_starts: int = 500,
                          reconcile_after_seconds: float = 600.0) -> StartedMigration:
    """Validate the fleet here (every bad line reported before anything starts), then start
    the migration. The worker validates the file again (it must see the same file: a shared
    path) and refuses it if it changed in between."""
    policy = policy or MigrationPolicy()
    path = Path(fleet_path).resolve()
    fleet = validate_fleet(path, policy)
    migration_id = check_migration_id(migration_id or default_migration_id(fleet.sha256, policy))
    with_attributes = use_search_attributes and await search_attributes.ensure_registered(client)
    handle = await client.start_workflow(
        BULK_MIGRATION_WORKFLOW,
        BulkMigrationInput(migration_id=migration_id, fleet_path=str(path), fleet_sha256=fleet.sha256,
                           policy=policy, engine_task_queue=engine_task_queue,
                           search_attributes=with_attributes, continue_after_starts=continue_after_starts,
                           reconcile_after_seconds=reconcile_after_seconds),
        id=migration_id, task_queue=task_queue, result_type=MigrationStatus,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=search_attributes.attributes(operation=BULK_OPERATION, migration_id=migration_id)
        if with_attributes else None,
        static_summary=f"migration of {len(fleet.entries)} devices",
    )
    return StartedMigration(migration_id, handle, fleet, with_attributes)


class MigrationControl:
    """Queries and updates of one running migration."""

    def __init__(self, client: Client, migration_id: str) -> None:
        self.migration_id = migration_id
        self.client = client
        self.handle = client.get_workflow_handle(migration_id, result_type=MigrationStatus)

    def device(self, index: int) -> OperationHandle:
        """Device ``index``'s migration as an operation handle: its ``progress`` (what its
        download waits for, when it runs under a hold) and the user's answers (confirmation
        code, consent, decline), the same calls as for a download of one's own. (Its
        ``result`` is the device's :class:`DeviceOutcome`.)"""
        workflow_id = device_workflow_id(self.migration_id, index)
        handle = self.client.get_workflow_handle(workflow_id, result_type=DeviceOutcome)
        return OperationHandle(self.client, DEVICE_MIGRATION_WORKFLOW, "", workflow_id, handle.result)

    async def status(self) -> MigrationStatus:
        return await self.handle.query(QUERY_STATUS, result_type=MigrationStatus)

    async def result(self) -> MigrationStatus:
        return await self.handle.result()

    async def pause(self) -> MigrationStatus:
        return await self.handle.execute_update(UPDATE_PAUSE, result_type=MigrationStatus)

    async def resume(self) -> MigrationStatus:
        return await self.handle.execute_update(UPDATE_RESUME, result_type=MigrationStatus)

    async def approve(self, approved: bool = True) -> MigrationStatus:
        return await self.handle.execute_update(UPDATE_APPROVE, approved, result_type=MigrationStatus)

    async def cancel(self, rollback: bool = False) -> MigrationStatus:
        return await self.handle.execute_update(UPDATE_CANCEL, CancelRequest(rollback), result_type=MigrationStatus)

    async def set_concurrency(self, max_concurrency: int) -> MigrationStatus:
        return await self.handle.execute_update(UPDATE_SET_CONCURRENCY, ConcurrencyRequest(max_concurrency),
                                                result_type=MigrationStatus)
