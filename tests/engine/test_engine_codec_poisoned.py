"""Poisoned input: a client whose payload key the workers were not given. Its call fails at
once with a typed error naming the key the workers would need, and the eUICC's entity goes on
serving correct clients (before this, every later call failed with "Workflow Task in failed
state" until someone terminated the entity)."""
from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from esimflow import contract
from esimflow.client import run_operation
from esimflow.codec import data_converter, key_id
from tests.conftest import TEST_PAYLOAD_KEY
from tests.engine.engine_stack import running_engine

pytestmark = [pytest.mark.temporal]

OTHER_KEY = bytes(range(64, 96))


@pytest.fixture
def card(lab_pki, fresh_eid, tmp_path):
    from rsplab.euicc.card import VirtualEuicc

    with VirtualEuicc(lab_pki.root, tmp_path / "euicc.json", eid=fresh_eid) as euicc:
        yield euicc


@pytest.fixture
async def engine(time_skipping_env, tmp_path, unique_task_queue, card):
    async with running_engine(time_skipping_env.client, tmp_path, unique_task_queue, cards={"card": card}) as stack:
        yield stack


def other_key_client(client: Client) -> Client:
    return Client(client.service_client, namespace=client.namespace, data_converter=data_converter(OTHER_KEY, env={}))


def assert_unknown_key(error: BaseException) -> None:
    cause = error.cause if isinstance(error, WorkflowUpdateFailedError) else error
    assert isinstance(cause, ApplicationError), repr(error)
    assert cause.type == "codec.unknown_key" and cause.non_retryable
    # names the key the workers lacked and the one they have: fingerprints, never key material
    assert key_id(OTHER_KEY) in cause.message and key_id(TEST_PAYLOAD_KEY) in cause.message
    assert OTHER_KEY.hex() not in cause.message and TEST_PAYLOAD_KEY.hex() not in cause.message


async def test_a_running_entity_rejects_the_call_and_keeps_serving(engine, card, time_skipping_env):
    assert (await engine.run(contract.ListProfilesInput(card.eid))).ok
    entity = time_skipping_env.client.get_workflow_handle(contract.euicc_workflow_id(card.eid))
    run_id = (await entity.describe()).run_id

    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await asyncio.wait_for(run_operation(other_key_client(engine.client), contract.ListProfilesInput(card.eid),
                                                 task_queue=engine.task_queue), 30)
    assert_unknown_key(failed.value)

    after = await engine.run(contract.GetEuiccInfoInput(card.eid))
    assert after.ok, after
    assert (await entity.describe()).run_id == run_id  # the same entity, not a restarted one
    status = await entity.query(contract.QUERY_QUEUE, result_type=contract.EntityStatus)
    assert status.completed == 2  # the rejected call never reached its state
    history = await entity.fetch_history()
    assert not any(event.HasField("workflow_task_failed_event_attributes") for event in history.events)


async def test_a_call_that_would_start_the_entity_fails_and_the_next_correct_one_works(
        dev_client, tmp_path, unique_task_queue, card):
    """On the dev server: the time-skipping test server answers an update-with-start whose
    workflow fails in its first task with an internal error."""
    async with running_engine(dev_client, tmp_path, unique_task_queue, cards={"card": card}) as engine:
        await _starting_call_fails(engine, card)


async def _starting_call_fails(engine, card) -> None:
    with pytest.raises(ApplicationError) as failed:
        await asyncio.wait_for(run_operation(other_key_client(engine.client), contract.ListProfilesInput(card.eid),
                                                 task_queue=engine.task_queue), 30)
    error = failed.value
    assert_unknown_key(error)
    entity = engine.client.get_workflow_handle(contract.euicc_workflow_id(card.eid))
    assert (await entity.describe()).status == WorkflowExecutionStatus.FAILED

    after = await engine.run(contract.ListProfilesInput(card.eid))
    assert after.ok, after
    assert (await entity.describe()).status == WorkflowExecutionStatus.RUNNING
