"""Deploy safety: every recorded history in tests/histories/ replays against the current workflow
code under the strict sandbox, so a change to a workflow's command sequence that is not guarded
by ``workflow.patched`` fails here, before it reaches the workflows alive at a deploy (entities,
downloads waiting for consent, migrations). Re-recording: tests/histories/README.md."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import (
    Interceptor,
    Replayer,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from esimflow.codec import data_converter
from esimflow.workers.sandbox import STRICT
from tests.conftest import TEST_PAYLOAD_KEY
from tests.histories.record import CORPUS, Recorded, corpus_workflows, workflow_type_name
from tests.histories.reordered import ReorderedDeleteProfileWorkflow

RECORDED = sorted(CORPUS.glob("*/*.json"))


RECORDED_QUEUES: dict[str, str] = {}
"""Replay name of each loaded history -> the task queue its run lived on."""


def load(path: Path) -> WorkflowHistory:
    document = json.loads(path.read_text())
    name = f"{path.parent.name}/{path.stem}"
    started = document["events"][0]["workflowExecutionStartedEventAttributes"]
    RECORDED_QUEUES[name] = started["taskQueue"]["name"]
    return WorkflowHistory.from_json(name, document)


class _RecordedQueue(WorkflowOutboundInterceptor):
    def info(self) -> workflow.Info:
        info = super().info()
        return dataclasses.replace(info, task_queue=RECORDED_QUEUES.get(info.workflow_id, info.task_queue))


class _OnRecordedQueue(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_RecordedQueue(outbound))


class OnRecordedQueue(Interceptor):
    """A worker replays a run on the queue the run lives on, and the workflows decide by it
    (steps run as local activities on a card host's queue); the Replayer names a queue of its
    own (``replay-<build id>``), so ``workflow.info().task_queue`` is given the recorded one."""

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput):
        return _OnRecordedQueue


def replayer(workflows: list[type]) -> Replayer:
    return Replayer(workflows=workflows, data_converter=data_converter(TEST_PAYLOAD_KEY, env={}),
                    workflow_runner=STRICT, interceptors=[OnRecordedQueue()])


def test_the_corpus_holds_every_workflow_type():
    recorded = {path.parent.name for path in RECORDED}
    missing = {workflow_type_name(cls) for cls in corpus_workflows()} - recorded
    assert not missing, f"no recorded history of {sorted(missing)}: re-record (tests/histories/README.md)"


async def test_every_recorded_history_replays_against_the_current_code():
    async def histories():
        for path in RECORDED:
            yield load(path)

    results = await replayer(corpus_workflows()).replay_workflows(histories(), raise_on_replay_failure=False)
    failures = {run_id: f"{type(error).__name__}: {error}" for run_id, error in results.replay_failures.items()}
    assert not failures, failures


def _deletes_on_the_card(path: Path) -> bool:
    steps = {name for _, name in Recorded("DeleteProfile", load(path), "").steps}
    return {"card_delete_profile", "engine_record_profile_status"} <= steps


async def test_an_unguarded_reorder_of_steps_fails_replay():
    """tests/histories/reordered.py: DeleteProfile with its status record moved before the card step."""
    deletes = [path for path in RECORDED if path.parent.name == "DeleteProfile" and _deletes_on_the_card(path)]
    assert deletes, "no recorded DeleteProfile that deleted on the card: re-record (tests/histories/README.md)"
    path = deletes[0]
    history = load(path)
    # control: the shipped workflow replays it
    await replayer(corpus_workflows()).replay_workflow(history)
    others = [cls for cls in corpus_workflows() if workflow_type_name(cls) != "DeleteProfile"]
    result = await replayer([*others, ReorderedDeleteProfileWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondeterminism" in f"{type(result.replay_failure).__name__} {result.replay_failure}".lower()
