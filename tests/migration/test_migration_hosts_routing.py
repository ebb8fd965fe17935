"""An operation routed to a card host that cannot run it never waits minutes: card hosts as
processes of their own (SIGKILLed like a crashed machine), the engine's workers in this process,
the session's dev server, ``ESIMFLOW_DEVICE_REGISTRY=temporal``. Both topologies: the card host
runs the operations on its cards (the default), or only their card steps.

- A host killed with a card still announced (its lease not run out yet): an operation submitted
  then fails within the lease and one route check with ``device.unreachable`` (typed,
  retryable), nothing having run on the card, instead of waiting for its step's 5-minute bound
  (or its workflow's 30-minute one).
- A card that moves while an operation waits for its dead host: the operation follows it to
  the host that announced it and succeeds there.
"""
from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import uuid
from datetime import timedelta

import pytest

from esimflow import contract
from esimflow import client as engine_client
from esimflow.config import TemporalConfig
from esimflow.devices import CardHostUnreachableError, DeviceNotFoundError
from esimflow.routing.registry import TemporalDeviceRegistry
from esimflow.workers.run import EsimflowWorker, WorkerOptions
from esimflow.workflows.entity import ROUTE_CHECK
from esimflow.workflows.policies import CARD_SCHEDULE_TO_START

from tests.migration.host_process import Host, card_state

pytestmark = [pytest.mark.temporal, pytest.mark.slow]

LEASE_SECONDS = 6


@contextlib.asynccontextmanager
async def engine_host(client, task_queue: str, tmp_path):
    """The engine's workers (workflows, network steps, routing), as ``esimflow worker`` runs them."""
    config = TemporalConfig(address="unused", device_registry="temporal", history_path=tmp_path / "engine.sqlite3")
    worker = EsimflowWorker(client, WorkerOptions(config=config, net=True, task_queue=task_queue,
                                                  graceful_shutdown=timedelta(seconds=1)))
    worker.build()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await running


def card_host(name: str, *, eid: str, lab_pki, address: str, queue: str, runs_workflows: bool, tmp_path) -> Host:
    state_dir = tmp_path / name
    return Host(name, {"role": "card-host", "card_host": name, "address": address, "engine_queue": queue,
                       "history": str(state_dir / "history.sqlite3"), "pki_root": str(lab_pki.root),
                       "state_dir": str(state_dir), "eids": [eid], "runs_workflows": runs_workflows,
                       "lease_seconds": LEASE_SECONDS}, state_dir)


async def routed_to(registry: TemporalDeviceRegistry, eid: str, host: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if (await registry.locate(eid)).card_host == host:
                return
        except DeviceNotFoundError:
            pass
        assert time.monotonic() < deadline, f"eUICC {eid} is not routed to {host}"
        await asyncio.sleep(0.2)


async def list_profiles(client, eid: str, queue: str) -> tuple[contract.OperationResult, float]:
    started = time.monotonic()
    result = await engine_client.run_operation(client, contract.ListProfilesInput(eid), task_queue=queue)
    return result, time.monotonic() - started


async def card_steps_ran_on(client, result: contract.OperationResult) -> set[str]:
    """The task queues the operation's card steps ran on (ordinary or local activities)."""
    history = await client.get_workflow_handle(result.workflow_id).fetch_history()
    queues = {event.activity_task_scheduled_event_attributes.task_queue.name for event in history.events
              if event.HasField("activity_task_scheduled_event_attributes")}
    description = await client.get_workflow_handle(result.workflow_id).describe()
    return {queue for queue in queues | {description.task_queue} if queue.startswith(contract.CARD_TASK_QUEUE_PREFIX)}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("runs_workflows", [True, False], ids=["host-runs-operations", "host-runs-card-steps"])
async def test_an_operation_for_a_killed_host_fails_fast_and_one_for_a_moved_card_follows_it(
        dev_client, temporal_dev_server, unique_task_queue, lab_pki, fresh_eid, tmp_path, runs_workflows):
    queue = unique_task_queue
    suffix = uuid.uuid4().hex[:6]
    names = [f"killed-{suffix}", f"new-{suffix}"]
    common = dict(eid=fresh_eid, lab_pki=lab_pki, address=temporal_dev_server.address, queue=queue,
                  runs_workflows=runs_workflows, tmp_path=tmp_path)
    old_host, new_host = (card_host(name, **common) for name in names)
    registry = TemporalDeviceRegistry(dev_client, task_queue=queue)
    # the bound the user may wait: the lease, then a route check (the entity's, or a card step's)
    bound = LEASE_SECONDS + max(ROUTE_CHECK, CARD_SCHEDULE_TO_START).total_seconds() + 15
    try:
        async with engine_host(dev_client, queue, tmp_path):
            old_host.start()
            await routed_to(registry, fresh_eid, old_host.name)
            result, _ = await list_profiles(dev_client, fresh_eid, queue)
            assert result.ok, result
            assert await card_steps_ran_on(dev_client, result) == {contract.card_task_queue(old_host.name)}

            # killed with its card announced: the next operation is routed there, and fails fast
            old_host.kill()
            result, waited = await list_profiles(dev_client, fresh_eid, queue)
            assert (result.ok, result.error_kind) == (False, CardHostUnreachableError.kind), result
            assert result.win_status_name == "CardRemoved"
            assert f"not taken up by card host {old_host.name}" in result.message, result.message
            assert "submit it again" in result.message
            assert waited < bound, f"waited {waited:.0f} s for a killed host"
            if runs_workflows:  # the operation stranded on the dead host's queue was ended, never run
                description = await dev_client.get_workflow_handle(result.workflow_id).describe()
                assert description.status.name == "TERMINATED"

            # killed again, the card moving to a new host while an operation waits for the old one
            old_host.start()
            await routed_to(registry, fresh_eid, old_host.name)
            old_host.kill()
            waiting = asyncio.create_task(list_profiles(dev_client, fresh_eid, queue))
            await asyncio.sleep(1)
            new_host.state_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(card_state(old_host.state_dir, fresh_eid), card_state(new_host.state_dir, fresh_eid))
            new_host.start()
            result, waited = await waiting
            assert result.ok, result
            assert waited < bound, f"waited {waited:.0f} s for a moved card"
            ran_on = await card_steps_ran_on(dev_client, result)
            assert contract.card_task_queue(new_host.name) in ran_on
            if runs_workflows:  # routed again as a whole
                assert ran_on == {contract.card_task_queue(new_host.name)}
            else:  # its first card step, not taken up on the old host's queue, was sent to the new one
                assert ran_on == {contract.card_task_queue(name) for name in names}
    finally:
        for host in (old_host, new_host):
            host.stop()
        with contextlib.suppress(Exception):  # nothing left to wake up on the shared server
            await dev_client.get_workflow_handle(contract.euicc_workflow_id(fresh_eid)).terminate("test ended")
