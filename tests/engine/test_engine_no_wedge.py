"""No eUICC can be wedged: whatever one operation or one client does, the eUICC's entity goes
on serving the next operation, and a call that cannot be served says so at once.

(The poisoned input of a client with another payload key is engine-b's codec test.)
"""
from __future__ import annotations

import time
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError

from esimflow import contract
from esimflow.client import EntityUnreachableError, drain_entity, entity_status, run_operation, skip_current, start_operation
from esimflow.machines import EuiccContext
from tests.engine.engine_stack import new_iccid, running_engine
from tests.waiting import until

pytestmark = [pytest.mark.temporal]


@pytest.fixture
async def engine(dev_client, tmp_path, unique_task_queue, smdp, card):
    async with running_engine(dev_client, tmp_path, unique_task_queue, smdp=smdp,
                              cards={"card": card}) as stack:
        yield stack


async def test_an_operation_that_raises_a_bug_fails_typed_and_the_entity_goes_on(engine, card, monkeypatch):
    def bug(self, *args, **kwargs):
        raise RuntimeError("a bug whose text holds LPA:1$smdp$SECRET-MATCHING-ID")

    with monkeypatch.context() as patch:
        patch.setattr(EuiccContext, "__init__", bug)
        broken = await engine.run(contract.SwitchProfileInput(card.eid, new_iccid()))
    assert (broken.ok, broken.error_kind) == (False, "engine.internal"), broken
    assert "RuntimeError" in broken.message and "SECRET" not in broken.message
    assert broken.data["exception"] == "RuntimeError"
    assert (await engine.run(contract.ListProfilesInput(card.eid))).ok  # the next operation runs


async def test_a_card_reporting_two_enabled_profiles_fails_that_operation_only(engine, card, smdp):
    first, second = new_iccid(), new_iccid()
    for iccid in (first, second):
        assert (await engine.run(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid)))).ok
    with card.store.transaction() as working:  # facts that cannot be true on a single-port card
        for profile in working.profiles:
            profile.enabled = True

    refused = await engine.run(contract.DeleteProfileInput(card.eid, first))

    assert (refused.ok, refused.error_kind) == (False, "machine.invalid_data"), refused
    listed = await engine.run(contract.ListProfilesInput(card.eid))
    assert listed.ok and {p["iccid"] for p in listed.data["profiles"]} == {first, second}


async def test_a_submit_to_an_entity_no_worker_polls_fails_fast_naming_the_queue(engine, card, dev_client):
    client = dev_client
    stranded = f"gone-{uuid.uuid4().hex[:8]}"
    entity = await client.start_workflow(contract.ENTITY_WORKFLOW, contract.EntityInput(card.eid),
                                         id=contract.euicc_workflow_id(card.eid), task_queue=stranded)
    try:
        started = time.monotonic()
        with pytest.raises(EntityUnreachableError) as refused:
            await run_operation(client, contract.ListProfilesInput(card.eid), task_queue=engine.task_queue,
                                    accept_timeout=2)
        assert time.monotonic() - started < 10
        message = str(refused.value)
        assert stranded in message and "\n" not in message
        assert refused.value.retryable is False and refused.value.kind == "engine.queue_unpolled"
    finally:
        await entity.terminate("test ended")


def test_the_cli_prints_a_stranded_submit_as_one_non_retryable_line():
    import asyncio

    from esimcli.driver import engine_call
    from esimcli.failures import CliFailure

    async def stranded():
        raise EntityUnreachableError("no worker took the request ... task queue 'gone'")

    with pytest.raises(CliFailure) as failure:
        asyncio.run(engine_call(stranded()))
    assert (failure.value.kind, failure.value.retryable) == ("engine.queue_unpolled", False)
    assert failure.value.__suppress_context__  # printed as its message alone, no traceback chain


async def test_an_idle_entity_moves_to_the_queue_its_clients_ask_for(dev_client, tmp_path, unique_task_queue,
                                                                    card):
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from esimflow.activities.engine import EngineActivities
    from esimflow.devices import DeviceRegistry
    from esimflow.history import open_history
    from esimflow.workers.sandbox import workflow_runner
    from esimflow.workflows.catalog import WORKFLOWS

    client = dev_client
    old, new = f"{unique_task_queue}-old", unique_task_queue
    async with running_engine(client, tmp_path, new, cards={"card": card}) as engine:
        # the engine's workflows on the queue of an older deployment, sharing the registry
        engine_steps = EngineActivities(DeviceRegistry(engine.config.device_registry),
                                        open_history(engine.config.history_path))
        with ThreadPoolExecutor(4) as executor:
            async with Worker(client, task_queue=old, workflows=WORKFLOWS, activities=engine_steps.activities(),
                              activity_executor=executor, workflow_runner=workflow_runner()):
                assert (await run_operation(client, contract.ListProfilesInput(card.eid), task_queue=old)).ok
                entity = client.get_workflow_handle(contract.euicc_workflow_id(card.eid))
                assert (await entity.describe()).task_queue == old
                assert (await engine.run(contract.ListProfilesInput(card.eid))).ok  # asks for the new queue

                async def moved() -> bool:
                    return (await entity.describe()).task_queue == new

                await until(moved, "the entity to continue as new on the requested queue", timeout=20)
        # nothing polls the old queue any more: the entity still answers
        assert (await engine.run(contract.ListProfilesInput(card.eid), accept_timeout=10)).ok

        async def all_counted() -> bool:  # (the caller may have its result a moment before the entity)
            return (await entity_status(client, card.eid)).completed == 3

        await until(all_counted, "the moved entity to count the three operations", timeout=10)


async def test_an_operation_id_taken_by_another_workflow_does_not_stop_the_entity(engine, card, dev_client):
    client = dev_client
    operation_id = f"taken-{uuid.uuid4().hex[:6]}"
    workflow_id = contract.operation_workflow_id(contract.Operation.LIST_PROFILES, card.eid, operation_id)
    squatter = await client.start_workflow(contract.Operation.LIST_PROFILES, contract.ListProfilesInput(card.eid),
                                           id=workflow_id, task_queue=contract.card_task_queue(engine.task_queue),
                                           result_type=contract.OperationResult)
    assert (await squatter.result()).ok

    await start_operation(client, contract.ListProfilesInput(card.eid), operation_id=operation_id,
                              task_queue=engine.task_queue)
    entity = client.get_workflow_handle(contract.euicc_workflow_id(card.eid))
    answer = await entity.execute_update(  # the entity's own answer to that submit (same update id)
        contract.UPDATE_SUBMIT, contract.OperationRequest(contract.Operation.LIST_PROFILES, operation_id, {"eid": card.eid}),
        id=operation_id, result_type=contract.OperationResult)
    assert (answer.ok, answer.error_kind) == (False, "engine.duplicate_operation"), answer
    assert (await engine.run(contract.ListProfilesInput(card.eid))).ok
    assert (await entity.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_an_operator_sees_drains_and_skips_an_entity(engine, card, smdp, dev_client):
    client = dev_client
    iccid = new_iccid()
    waiting = await engine.start(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid),
                                                          require_user_consent=True))

    async def asking() -> bool:
        return (await waiting.progress()).awaiting == "consent"

    await until(asking, "the download to ask for consent")
    queued = await engine.start(contract.ListProfilesInput(card.eid))
    shown = await entity_status(client, card.eid)
    assert (shown.running, shown.queued, shown.task_queue) == (waiting.workflow_id, [queued.workflow_id],
                                                               engine.task_queue)

    assert (await drain_entity(client, card.eid)).draining
    entity = client.get_workflow_handle(contract.euicc_workflow_id(card.eid))
    run_id = (await entity.describe()).run_id
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await entity.execute_update(contract.UPDATE_SUBMIT, contract.OperationRequest(
            contract.Operation.LIST_PROFILES, "after-drain", {"eid": card.eid}), result_type=contract.OperationResult)
    assert "draining" in refused.value.cause.message

    await skip_current(client, card.eid, "the user walked away")
    skipped = await waiting.result()
    assert (skipped.ok, skipped.error_kind) == (False, "engine.skipped")
    assert "the user walked away" in skipped.message
    cancels = [c for c in smdp.history(iccid) if c.event == "cancel_session"]  # no session left open
    assert cancels and "postponed" in cancels[-1].reason and str(smdp.status(iccid)) == "AVAILABLE"
    assert (await queued.result()).ok  # what was queued before the drain still runs

    async def ended() -> bool:
        drained = client.get_workflow_handle(entity.id, run_id=run_id)
        return (await drained.describe()).status == WorkflowExecutionStatus.COMPLETED

    await until(ended, "the drained entity to end", timeout=10)
    assert (await engine.run(contract.ListProfilesInput(card.eid))).ok  # the next submit starts it afresh

    async def idle() -> bool:
        return (await entity_status(client, card.eid)).running is None

    await until(idle, "the new entity to be idle", timeout=10)
    with pytest.raises(WorkflowUpdateFailedError) as nothing:
        await skip_current(client, card.eid, "again")
    assert "nothing is running" in nothing.value.cause.message

