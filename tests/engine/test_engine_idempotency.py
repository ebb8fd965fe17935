"""Idempotent per operation id: a submit repeating an operation id (a client retrying after a
lost answer) gets the first result and never runs the operation again, also after the entity
continued as new."""
from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus

from esimflow import contract
from tests.engine.engine_stack import new_iccid, running_engine
from tests.waiting import until

pytestmark = [pytest.mark.temporal]


@pytest.fixture
async def engine(dev_client, tmp_path, unique_task_queue, smdp, card):
    async with running_engine(dev_client, tmp_path, unique_task_queue, smdp=smdp,
                              cards={"card": card}) as stack:
        yield stack


def deliveries(smdp, iccid: str) -> int:
    """How often the SM-DP+ handed out the profile's bound profile package."""
    return sum(1 for change in smdp.history(iccid) if change.event == "download")


async def entity_answer(client, eid: str, request: contract.OperationRequest) -> contract.OperationResult:
    """The entity's own answer to a submit, as a new update (not Temporal's update dedup)."""
    return await client.get_workflow_handle(contract.euicc_workflow_id(eid)).execute_update(
        contract.UPDATE_SUBMIT, request, id=uuid.uuid4().hex, result_type=contract.OperationResult)


async def test_a_resubmitted_operation_id_gets_the_first_result_without_touching_the_card(engine, smdp, card):
    iccid = new_iccid()
    download = contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid))
    first = await engine.run(download, operation_id="download-1")
    assert first.ok, first
    apdus = card.apdu_count

    again = await engine.run(download, operation_id="download-1")
    answered = await entity_answer(engine.client, card.eid, contract.OperationRequest(
        contract.Operation.DOWNLOAD_PROFILE, "download-1", {"eid": card.eid, "activation_code": "LPA:1$x$y"}))

    assert again == first and answered == first
    assert card.apdu_count == apdus  # neither answer touched the card
    assert deliveries(smdp, iccid) == 1
    listed = await engine.run(contract.ListProfilesInput(card.eid))
    assert [p["iccid"] for p in listed.data["profiles"]] == [iccid]


async def test_the_completed_record_survives_continue_as_new(engine, smdp, card, dev_client):
    client = dev_client
    first_run = await client.start_workflow(
        contract.ENTITY_WORKFLOW, contract.EntityInput(card.eid, continue_after=1), id=contract.euicc_workflow_id(card.eid),
        task_queue=engine.task_queue)
    iccid = new_iccid()
    download = contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid))
    first = await engine.run(download, operation_id="download-2")
    assert first.ok, first
    apdus = card.apdu_count

    async def continued() -> bool:
        run = client.get_workflow_handle(first_run.id, run_id=first_run.result_run_id)
        return (await run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW

    await until(continued, "the entity to continue as new", timeout=10)
    again = await engine.run(download, operation_id="download-2")
    answered = await entity_answer(client, card.eid, contract.OperationRequest(
        contract.Operation.DOWNLOAD_PROFILE, "download-2", {"eid": card.eid}))

    assert again == first and answered == first
    assert card.apdu_count == apdus
    assert deliveries(smdp, iccid) == 1


def test_the_completed_record_is_bounded():
    from esimflow.workflows.entity import EuiccEntityWorkflow

    entity = EuiccEntityWorkflow.__new__(EuiccEntityWorkflow)
    entity._answered = {}
    for number in range(contract.ANSWERED_KEPT + 5):
        entity._remember(f"op-{number}", contract.OperationResult.success("ListProfiles", "eid"))
    assert len(entity._answered) == contract.ANSWERED_KEPT
    assert next(iter(entity._answered)) == "op-5"  # the oldest went first
