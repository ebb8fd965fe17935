"""Deploy safety: every recorded history in tests/histories/ replays against the current workflow
code under the strict sandbox, so a change to a workflow's command sequence that is not guarded
by ``workflow.patched`` fails here, before it reaches the workflows alive at a deploy (entities,
downloads waiting for consent, migrations). Re-recording: tests/histories/README.md.

Temporal's core matches a local-activity marker to the code's local activity by sequence number
only: a reorder of local activities whose results happen to decode would replay "successfully"
with each step handed another step's result. So the replay also checks that the local
activities the code schedules, in order, are the ones each history recorded."""
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
from temporalio.worker import ExecuteWorkflowInput, StartLocalActivityInput

from esimflow.codec import data_converter
from esimflow.workers.sandbox import STRICT
from tests.conftest import TEST_PAYLOAD_KEY
from tests.histories.record import CORPUS, Recorded, corpus_workflows, workflow_type_name
from tests.histories.reordered import ReorderedDeleteProfileWorkflow

RECORDED = sorted(CORPUS.glob("*/*.json"))


RECORDED_QUEUES: dict[str, str] = {}
"""Replay name of each loaded history -> the task queue its run lived on."""
SCHEDULED_LOCAL: dict[str, list[str]] = {}
"""Replay name -> the local activities the code scheduled while replaying it, in order."""


def load(path: Path) -> WorkflowHistory:
    document = json.loads(path.read_text())
    name = f"{path.parent.name}/{path.stem}"
    started = document["events"][0]["workflowExecutionStartedEventAttributes"]
    RECORDED_QUEUES[name] = started["taskQueue"]["name"]
    return WorkflowHistory.from_json(name, document)


class _Outbound(WorkflowOutboundInterceptor):
    def info(self) -> workflow.Info:
        info = super().info()
        return dataclasses.replace(info, task_queue=RECORDED_QUEUES.get(info.workflow_id, info.task_queue))

    def start_local_activity(self, input: StartLocalActivityInput):
        SCHEDULED_LOCAL.setdefault(super().info().workflow_id, []).append(input.activity)
        return super().start_local_activity(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))

    async def execute_workflow(self, input: ExecuteWorkflowInput):
        SCHEDULED_LOCAL[workflow.info().workflow_id] = []
        return await super().execute_workflow(input)


class AsRecorded(Interceptor):
    """Replays as a worker would: on the queue the run lived on (the workflows decide by it:
    steps run as local activities on a card host's queue; the Replayer names a queue of its own,
    ``replay-<build id>``), noting the local activities the code schedules."""

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput):
        return _Inbound


def replayer(workflows: list[type]) -> Replayer:
    return Replayer(workflows=workflows, data_converter=data_converter(TEST_PAYLOAD_KEY, env={}),
                    workflow_runner=STRICT, interceptors=[AsRecorded()])


def recorded_local_activities(path: Path) -> list[str]:
    return [name for kind, name in Recorded(path.parent.name, load(path), "").steps
            if kind == "MARKER_RECORDED" and name and not name.startswith("patch ")]


def local_activity_mismatch(path: Path) -> str | None:
    """Where the code's local activities differ from the history's (the code may have scheduled
    one more that the history, recorded while it ran, does not hold yet)."""
    recorded = recorded_local_activities(path)
    scheduled = SCHEDULED_LOCAL.get(f"{path.parent.name}/{path.stem}", [])
    if scheduled[:len(recorded)] == recorded:
        return None
    return f"recorded local activities {recorded}, the code schedules {scheduled}"


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
    mismatches = {f"{path.parent.name}/{path.name}": local_activity_mismatch(path) for path in RECORDED}
    assert not {name: why for name, why in mismatches.items() if why}


def _deletes_on_the_card(path: Path) -> bool:
    steps = {name for _, name in Recorded("DeleteProfile", load(path), "").steps}
    return {"card_delete_profile", "engine_record_profile_status"} <= steps


async def test_an_unguarded_reorder_of_steps_fails_replay():
    """tests/histories/reordered.py: DeleteProfile with its status record moved before the card step."""
    deletes = [path for path in RECORDED if path.parent.name == "DeleteProfile" and _deletes_on_the_card(path)]
    assert deletes, "no recorded DeleteProfile that deleted on the card: re-record (tests/histories/README.md)"
    path = deletes[0]
    history = load(path)
    # control: the shipped workflow replays it, step for step
    await replayer(corpus_workflows()).replay_workflow(history)
    assert local_activity_mismatch(path) is None
    others = [cls for cls in corpus_workflows() if workflow_type_name(cls) != "DeleteProfile"]
    result = await replayer([*others, ReorderedDeleteProfileWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False)
    mismatch = local_activity_mismatch(path)
    assert mismatch is not None and "engine_record_profile_status" in mismatch
    # here Temporal itself fails too: the moved step was handed the profile list the card step returned
    assert result.replay_failure is not None
