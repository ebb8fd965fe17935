"""The per-eUICC entity workflow over its lifetime: it continues as new to keep its history
bounded, ends when idle, and the next operation starts it again, without losing a result."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from esimflow import contract
from esimflow.client import hold_euicc
from tests.engine.engine_stack import running_engine
from tests.waiting import until

pytestmark = [pytest.mark.temporal]


@pytest.fixture
def card(lab_pki, fresh_eid, tmp_path):
    from rsplab.euicc.card import VirtualEuicc

    with VirtualEuicc(lab_pki.root, tmp_path / "euicc.json", eid=fresh_eid) as euicc:
        yield euicc


@pytest.fixture
async def engine(time_skipping_env, tmp_path, unique_task_queue, card):
    async with running_engine(time_skipping_env.client, tmp_path, unique_task_queue, cards={"card": card}) as stack:
        yield stack


async def test_the_entity_continues_as_new_and_keeps_count(engine, card, time_skipping_env):
    client = time_skipping_env.client
    first_run = await client.start_workflow(
        contract.ENTITY_WORKFLOW, contract.EntityInput(card.eid, continue_after=2), id=contract.euicc_workflow_id(card.eid),
        task_queue=engine.task_queue)

    results = [await engine.run(contract.ListProfilesInput(card.eid)) for _ in range(5)]

    assert all(result.ok for result in results)
    first = client.get_workflow_handle(first_run.id, run_id=first_run.result_run_id)

    async def continued() -> bool:  # the caller has its result before the entity has looked up
        return (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW

    await until(continued, "the first run to continue as new", timeout=10)
    latest = client.get_workflow_handle(first_run.id)
    assert (await latest.describe()).run_id != first_run.result_run_id

    async def idle() -> contract.EntityStatus | None:
        status = await latest.query(contract.QUERY_QUEUE, result_type=contract.EntityStatus)
        return status if status.running is None else None

    status = await until(idle, "the entity to be idle", timeout=10)
    assert (status.completed, status.queued) == (5, [])


async def test_an_idle_entity_ends_and_the_next_operation_starts_it_again(engine, card, time_skipping_env):
    client = time_skipping_env.client
    assert (await engine.run(contract.ListProfilesInput(card.eid))).ok
    entity = client.get_workflow_handle(contract.euicc_workflow_id(card.eid))
    ended_run = (await entity.describe()).run_id

    await time_skipping_env.sleep(timedelta(seconds=contract.EntityInput(card.eid).idle_seconds + 60))
    assert (await client.get_workflow_handle(entity.id, run_id=ended_run).describe()).status == \
        WorkflowExecutionStatus.COMPLETED

    again = await engine.run(contract.GetEuiccInfoInput(card.eid))
    assert again.ok, again
    assert (await entity.describe()).run_id != ended_run


@workflow.defn(name="TestHolder")
class Holder:
    """Stands for a device migration holding the card: runs until told to stop."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done)

    @workflow.signal
    def done(self) -> None:
        self._done = True


@pytest.fixture
async def holder(time_skipping_env, unique_task_queue):
    queue = f"{unique_task_queue}-holder"
    async with Worker(time_skipping_env.client, task_queue=queue, workflows=[Holder],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await time_skipping_env.client.start_workflow(
            Holder.run, id=f"holder-{uuid.uuid4().hex[:8]}", task_queue=queue)
        yield handle


async def test_a_hold_keeps_other_operations_waiting_until_it_is_released(engine, card, holder, time_skipping_env):
    client = time_skipping_env.client
    request = contract.HoldRequest(card.eid, "hold-1", holder.id, holder.result_run_id)
    grant = await hold_euicc(client, request, task_queue=engine.task_queue)
    assert grant.device is not None and grant.device.eid == card.eid
    again = await hold_euicc(client, request, task_queue=engine.task_queue)  # a retried request
    assert again.device == grant.device

    waiting = await engine.start(contract.ListProfilesInput(card.eid))
    entity = client.get_workflow_handle(contract.euicc_workflow_id(card.eid))
    status = await entity.query(contract.QUERY_QUEUE, result_type=contract.EntityStatus)
    assert status.running == contract.operation_workflow_id(contract.HOLD, card.eid, "hold-1")
    assert status.queued == [waiting.workflow_id]

    await entity.signal(contract.SIGNAL_RELEASE, "hold-1")
    assert (await waiting.result()).ok


async def test_a_hold_whose_holder_ended_without_releasing_it_is_dropped(engine, card, holder, time_skipping_env):
    client = time_skipping_env.client
    await hold_euicc(client, contract.HoldRequest(card.eid, "hold-2", holder.id, holder.result_run_id),
                         task_queue=engine.task_queue)
    waiting = await engine.start(contract.ListProfilesInput(card.eid))
    await holder.terminate("gone")

    await time_skipping_env.sleep(timedelta(minutes=2))  # the entity looks at its holder once a minute
    result = await waiting.result()

    assert result.ok
    status = await client.get_workflow_handle(contract.euicc_workflow_id(card.eid)).query(
        contract.QUERY_QUEUE, result_type=contract.EntityStatus)
    assert status.running is None
