"""Through a real Temporal server: with the codec on, a secret given to a workflow (input,
activity input, result, failure message) never reaches the server's history in plain text."""
import shutil
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from esimflow.codec import AesGcmCodec, data_converter
from esimflow.keys import Keyring

pytestmark = pytest.mark.temporal

SECRET = "CC-93518207-MATCHINGID-QX7"
KEYRING = Keyring(bytes(range(32)))


def test_server_path() -> str:
    found = shutil.which("temporal-test-server") or Path(sys.executable).parent / "temporal-test-server"
    return str(found)


test_server_path.__test__ = False  # a helper, not a test


@activity.defn
async def use_secret(secret: str) -> str:
    return f"used {secret}"


@activity.defn
async def refuse_secret(secret: str) -> None:
    raise ApplicationError(f"card refused confirmation code {secret}", non_retryable=True)


@workflow.defn
class EchoSecret:
    @workflow.run
    async def run(self, secret: str) -> str:
        return await workflow.execute_activity(use_secret, secret, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class FailWithSecret:
    @workflow.run
    async def run(self, secret: str) -> None:
        try:
            await workflow.execute_activity(refuse_secret, secret, start_to_close_timeout=timedelta(seconds=30))
        except Exception as error:
            raise ApplicationError(f"download gave up after code {secret} was refused") from error


@pytest.fixture(scope="module")
async def env():
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=data_converter(KEYRING))
    yield environment
    await environment.shutdown()


async def raw_history(env, workflow_id: str):
    """The history as stored: read through a client that has no codec."""
    plain_client = Client(env.client.service_client, namespace=env.client.namespace)
    history = await plain_client.get_workflow_handle(workflow_id).fetch_history()
    return history, b"".join(event.SerializeToString() for event in history.events)


async def test_secret_never_appears_in_the_raw_history(env):
    workflow_id = f"secret-{uuid.uuid4()}"
    async with Worker(env.client, task_queue="codec", workflows=[EchoSecret, FailWithSecret],
                      activities=[use_secret, refuse_secret], workflow_runner=UnsandboxedWorkflowRunner()):
        result = await env.client.execute_workflow(EchoSecret.run, SECRET, id=workflow_id, task_queue="codec")
        failing_id = f"{workflow_id}-fail"
        with pytest.raises(WorkflowFailureError) as failed:
            await env.client.execute_workflow(FailWithSecret.run, SECRET, id=failing_id, task_queue="codec")
    assert result == f"used {SECRET}"
    # the client with the codec reads the failure back in full
    assert SECRET in str(failed.value.cause) and SECRET in str(failed.value.cause.__cause__.__cause__)

    codec = AesGcmCodec(KEYRING)
    for wid in (workflow_id, failing_id):
        history, stored = await raw_history(env, wid)
        assert SECRET.encode() not in stored
        assert SECRET not in history.to_json()
        started = history.events[0].workflow_execution_started_event_attributes
        # control: the secret is there, encrypted (so the assertions above can fail)
        (decoded,) = await codec.decode(started.input.payloads)
        assert SECRET.encode() in decoded.data

    history, _ = await raw_history(env, failing_id)
    failure = history.events[-1].workflow_execution_failed_event_attributes.failure
    assert failure.message == "Encoded failure"
    (attributes,) = await codec.decode([failure.encoded_attributes])
    assert SECRET.encode() in attributes.data
    activity_failure = next(e.activity_task_failed_event_attributes.failure for e in history.events
                            if e.HasField("activity_task_failed_event_attributes"))
    assert activity_failure.message == "Encoded failure"
