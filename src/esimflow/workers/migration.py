"""The migration worker: the migration workflows and their activities on their own task queue.

It runs next to the engine's workers (in the same process or not); it needs the migration
store and the device registry as files on its host, and a client whose data converter carries
the payload codec (it submits engine operations that hold activation codes).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from esimflow.devices import DeviceRegistry
from esimflow.activities.migration import MigrationActivities
from esimflow.workflows.bulk_migration import BulkMigrationWorkflow
from esimflow.workflows.device_migration import DeviceMigrationWorkflow
from esimflow.migration.model import MIGRATION_TASK_QUEUE
from esimflow.migration.store import MigrationStore
from esimflow.workers.sandbox import workflow_runner
from sgp22.errors import NotSupportedError

WORKFLOWS = [BulkMigrationWorkflow, DeviceMigrationWorkflow]



def migration_worker(client: Client, store: MigrationStore, registry: DeviceRegistry, *,
                     task_queue: str = MIGRATION_TASK_QUEUE, executor: ThreadPoolExecutor | None = None,
                     max_concurrent_activities: int = 200,
                     graceful_shutdown: timedelta = timedelta(seconds=10), **worker_options) -> Worker:
    """``executor`` runs the store's (sync) activities (default: a pool as large as
    ``max_concurrent_activities``, whose threads start only when needed); the caller owns and
    shuts it down. ``max_concurrent_activities`` bounds the engine operations waited on at once
    (each is a coroutine waiting for an update result, not a thread)."""
    activities = MigrationActivities(store, registry)
    return Worker(
        client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities.activities(),
        activity_executor=executor or ThreadPoolExecutor(max_workers=max_concurrent_activities,
                                                         thread_name_prefix="esimflow-migration"),
        max_concurrent_activities=max_concurrent_activities, max_concurrent_local_activities=max_concurrent_activities,
        workflow_runner=workflow_runner(), graceful_shutdown_timeout=graceful_shutdown, **worker_options,
    )


def store_for(client: Client, path: str | None = None) -> MigrationStore:
    """The migration store, sealing activation codes with the keys the client's payload codec
    uses (so one key configuration covers Temporal's history and the store)."""
    from esimflow.codec import AesGcmCodec
    from esimflow.migration.store import open_store

    codec = client.data_converter.payload_codec
    if not isinstance(codec, AesGcmCodec):
        raise NotSupportedError("the migration worker needs a client with esimflow's payload codec "
                                "(esimflow.config.connect): activation codes must never rest in plain text")
    return open_store(path, codec.keyring)
