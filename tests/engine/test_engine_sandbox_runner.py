"""The engine's workflow runner (esimflow.workers.sandbox) answers the payload codec's context
lookups without re-entering the sandbox: the codec must see exactly the contexts Temporal's own
sandboxed runner gives it (per activity, local activity and child workflow), and workflow code
must still be refused what the sandbox refuses. It compiles a run's workflow module once per
process, and each run still executes that module afresh."""
from __future__ import annotations

import dataclasses
import datetime
import importlib.machinery
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError, SandboxedWorkflowRunner

from esimflow.workers.sandbox import STRICT
from tests.engine import fresh_module_workflow
from tests.engine.fresh_module_workflow import CountsItsModuleRuns

pytestmark = pytest.mark.temporal

STEP = timedelta(seconds=10)


@activity.defn
async def echo(value: str) -> str:
    return value


@workflow.defn
class EchoChild:
    @workflow.run
    async def run(self, value: str) -> str:
        return value


@workflow.defn
class OneOfEachStep:
    @workflow.run
    async def run(self, value: str) -> list[str]:
        remote = await workflow.execute_activity(echo, f"{value}-remote", start_to_close_timeout=STEP)
        local = await workflow.execute_local_activity(echo, f"{value}-local", start_to_close_timeout=STEP)
        child = await workflow.execute_child_workflow(EchoChild.run, f"{value}-child",
                                                      id=f"{workflow.info().workflow_id}-child")
        return [remote, local, child]


@workflow.defn
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        try:
            datetime.datetime.now()
        except RestrictedWorkflowAccessError:
            return "refused"
        return "allowed"


def _describe(context: SerializationContext | None) -> tuple:
    if isinstance(context, ActivitySerializationContext):
        return ("activity", context.activity_type, context.is_local, context.workflow_id.rsplit("-", 1)[-1])
    if isinstance(context, WorkflowSerializationContext):
        return ("workflow", context.workflow_id.rsplit("-", 1)[-1])
    return ("none",)


@dataclasses.dataclass(frozen=True)
class RecordingCodec(PayloadCodec, WithSerializationContext):
    """Passes payloads unchanged and records the context of every encode and decode."""

    seen: list = dataclasses.field(default_factory=list)
    context: SerializationContext | None = None

    def with_context(self, context: SerializationContext) -> RecordingCodec:
        return dataclasses.replace(self, context=context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.seen.append(("encode", *_describe(self.context)))
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.seen.append(("decode", *_describe(self.context)))
        return list(payloads)


async def _contexts_seen(env, runner) -> tuple[list[str], Counter]:
    codec = RecordingCodec()
    client = Client(**{**env.client.config(), "data_converter": DataConverter(payload_codec=codec)})
    queue = f"runner-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[OneOfEachStep, EchoChild], activities=[echo],
                      workflow_runner=runner):
        result = await client.execute_workflow(OneOfEachStep.run, "v", id=f"{queue}-parent", task_queue=queue)
    return result, Counter(codec.seen)


async def test_the_codec_sees_the_contexts_temporals_own_sandbox_gives(time_skipping_env):
    ours, seen_by_ours = await _contexts_seen(time_skipping_env, STRICT)
    reference, seen_by_reference = await _contexts_seen(
        time_skipping_env, SandboxedWorkflowRunner(restrictions=STRICT.restrictions))

    assert ours == reference == ["v-remote", "v-local", "v-child"]
    assert seen_by_ours == seen_by_reference
    # each step's payloads were coded in that step's own context, not the workflow's
    assert seen_by_ours[("encode", "activity", "echo", False, "parent")] >= 1
    assert seen_by_ours[("encode", "activity", "echo", True, "parent")] >= 1
    assert seen_by_ours[("encode", "workflow", "child")] >= 1


async def test_workflow_code_is_still_refused_the_clock(time_skipping_env):
    queue = f"runner-{uuid.uuid4().hex[:8]}"
    client = time_skipping_env.client
    async with Worker(client, task_queue=queue, workflows=[ReadsTheClock], workflow_runner=STRICT):
        outcome = await client.execute_workflow(ReadsTheClock.run, id=f"{queue}-clock", task_queue=queue)
    assert outcome == "refused"


async def test_each_run_executes_its_module_afresh_from_code_compiled_once(time_skipping_env, monkeypatch):
    compiled = []
    original = importlib.machinery.SourceFileLoader.source_to_code

    def counting(loader, data, path, *args, **kwargs):
        if path == fresh_module_workflow.__file__:
            compiled.append(path)
        return original(loader, data, path, *args, **kwargs)

    monkeypatch.setattr(importlib.machinery.SourceFileLoader, "source_to_code", counting)
    queue = f"runner-{uuid.uuid4().hex[:8]}"
    client = time_skipping_env.client
    async with Worker(client, task_queue=queue, workflows=[CountsItsModuleRuns], workflow_runner=STRICT,
                      max_cached_workflows=0):
        counts = [await client.execute_workflow(CountsItsModuleRuns.run, id=f"{queue}-{n}", task_queue=queue)
                  for n in range(3)]
    assert counts == [1, 1, 1]  # no run saw another's module state
    assert len(compiled) <= 1  # none at all when a .pyc exists
