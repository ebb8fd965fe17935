"""Record the replay corpus: run the engine's workflow tests and keep the histories they made.

    .venv/bin/python -m tests.histories.record          # add the histories of new paths
    .venv/bin/python -m tests.histories.record --fresh  # start the corpus over (README.md: when)

The workflow tests already drive every workflow type through its paths (consent, confirmation
code, cancel, failures, holds, continue-as-new, migrations with canary and continue-as-new)
with real workers on the time-skipping and dev servers. Loaded as a pytest plugin
(``-p tests.histories.record``), this module gives every ``temporalio.worker.Worker`` an
interceptor that notes each workflow run it executes, fetches those runs' histories when the
worker shuts down (the servers are still up then), and at the end of the session writes one
history per distinct path: per workflow type, greedily the smallest histories until every kind
of event and step name seen for that type is in the corpus, then further distinct shapes up to
``PER_TYPE``. Histories already in the corpus stay (they are what runs alive at a deploy look
like: a change must still replay them) unless ``--fresh``. Histories are stored as Temporal's JSON, payloads still encrypted with the test
payload key (``tests.conftest.TEST_PAYLOAD_KEY``), which the replay test uses too.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

CORPUS = Path(__file__).resolve().parent
PER_TYPE = 12
FETCH_TIMEOUT = 10.0
NOTE_RUN = "esimflow_record_history_run"
ENV_FRESH = "ESIMFLOW_HISTORIES_FRESH"

RECORDED_MODULES = [
    "tests/engine/test_engine_workflow_download.py",
    "tests/engine/test_engine_workflow_profiles.py",
    "tests/engine/test_engine_workflow_euicc.py",
    "tests/engine/test_engine_workflow_entity.py",
    "tests/engine/test_engine_codec_poisoned.py",
    "tests/engine/test_engine_routing.py",
    "tests/migration/test_migration_control.py",
    "tests/migration/test_migration_fleet.py",
    "tests/migration/test_migration_held_questions.py",
]
"""The test modules whose runs make the corpus (add one when it covers a new path)."""


def corpus_workflows() -> list[type]:
    """Every workflow type the engine's workers register: the corpus holds these only."""
    from esimflow.workers.migration import WORKFLOWS as MIGRATION_WORKFLOWS
    from esimflow.routing.workflows import ROUTING_WORKFLOWS
    from esimflow.workflows.catalog import WORKFLOWS

    return [*WORKFLOWS, *MIGRATION_WORKFLOWS, *ROUTING_WORKFLOWS]


def workflow_type_name(cls: type) -> str:
    return workflow._Definition.must_from_class(cls).name


class _NoteRuns(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput):
        if not workflow.unsafe.is_replaying():
            info = workflow.info()
            workflow.extern_functions()[NOTE_RUN](info.workflow_type, info.workflow_id, info.run_id)
        return await super().execute_workflow(input)


@dataclass
class RunRecorder(Interceptor):
    """Notes (type, workflow id, run id) of each run one worker executes."""

    runs: list[tuple[str, str, str]] = field(default_factory=list)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput):
        input.unsafe_extern_functions[NOTE_RUN] = lambda *run: self.runs.append(run)
        return _NoteRuns


@dataclass
class Recorded:
    workflow_type: str
    history: WorkflowHistory
    test: str

    @property
    def steps(self) -> list[tuple[str, str]]:
        return [_step(event) for event in self.history.events]

    @property
    def shape(self) -> str:
        collapsed = [step for index, step in enumerate(self.steps) if index == 0 or step != self.steps[index - 1]]
        return hashlib.sha256(json.dumps([self.workflow_type, collapsed]).encode()).hexdigest()[:12]


def _step(event) -> tuple[str, str]:
    """An event's kind and the name of what it starts (activity, child, signal, update, patch)."""
    kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    name = ""
    if event.HasField("activity_task_scheduled_event_attributes"):
        name = event.activity_task_scheduled_event_attributes.activity_type.name
    elif event.HasField("marker_recorded_event_attributes"):
        details = event.marker_recorded_event_attributes.details
        if "data" in details and details["data"].payloads:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                name = json.loads(details["data"].payloads[0].data)["activity_type"]
        if "patch_data" in details and details["patch_data"].payloads:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                name = "patch " + json.loads(details["patch_data"].payloads[0].data)["id"]
    elif event.HasField("start_child_workflow_execution_initiated_event_attributes"):
        name = event.start_child_workflow_execution_initiated_event_attributes.workflow_type.name
    elif event.HasField("workflow_execution_signaled_event_attributes"):
        name = event.workflow_execution_signaled_event_attributes.signal_name
    elif event.HasField("workflow_execution_update_accepted_event_attributes"):
        name = event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
    return kind, name


def choose(recorded: list[Recorded], per_type: int = PER_TYPE) -> list[Recorded]:
    """Per workflow type: the smallest histories that together show every (event kind, name)
    seen, then more distinct shapes, smallest first, up to ``per_type``."""
    by_type: dict[str, dict[str, Recorded]] = defaultdict(dict)
    for item in sorted(recorded, key=lambda r: len(r.history.events)):
        by_type[item.workflow_type].setdefault(item.shape, item)
    chosen = []
    for shapes in by_type.values():
        candidates = list(shapes.values())
        covered: set[tuple[str, str]] = set()
        picked = []
        for item in candidates:
            if set(item.steps) - covered:
                picked.append(item)
                covered |= set(item.steps)
        picked += [item for item in candidates if item not in picked][:max(per_type - len(picked), 0)]
        chosen += picked
    return chosen


class HistoryRecorder:
    """The pytest plugin: patches Worker for the session, writes the corpus at its end."""

    def __init__(self) -> None:
        self.wanted = {workflow_type_name(cls) for cls in corpus_workflows()}
        self.recorded: list[Recorded] = []
        self.current_test = ""
        self._patched: dict[str, object] = {}

    def pytest_sessionstart(self, session) -> None:
        recorder = self
        original_init, original_shutdown = Worker.__init__, Worker.shutdown

        def __init__(worker, client, **kwargs):  # noqa: N807 (patching the constructor)
            runs = RunRecorder()
            kwargs["interceptors"] = [*kwargs.get("interceptors", ()), runs]
            original_init(worker, client, **kwargs)
            worker._esimflow_recorded_runs = runs

        async def shutdown(worker) -> None:
            await original_shutdown(worker)
            runs = getattr(worker, "_esimflow_recorded_runs", None)
            if runs is not None:
                await recorder.fetch(worker.client, runs)

        self._patched = {"__init__": original_init, "shutdown": original_shutdown}
        Worker.__init__, Worker.shutdown = __init__, shutdown

    def pytest_runtest_setup(self, item) -> None:
        self.current_test = item.nodeid

    async def fetch(self, client, runs: RunRecorder) -> None:
        noted, runs.runs = {(t, w, r) for t, w, r in runs.runs if t in self.wanted}, []
        for workflow_type, workflow_id, run_id in sorted(noted):
            with contextlib.suppress(Exception):  # a server already gone: that run is not recorded
                history = await asyncio.wait_for(
                    client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history(), FETCH_TIMEOUT)
                self.recorded.append(Recorded(workflow_type, history, self.current_test))

    def pytest_sessionfinish(self, session, exitstatus) -> None:
        for name, original in self._patched.items():
            setattr(Worker, name, original)
        if exitstatus != 0:
            print(f"\nrecording failed (pytest exit status {exitstatus}): tests/histories/ left as it was",
                  file=sys.stderr)
            return
        write_corpus(choose(self.recorded), self.wanted, fresh=os.environ.get(ENV_FRESH) == "1")


def write_corpus(chosen: list[Recorded], wanted: set[str], *, fresh: bool) -> None:
    index_file = CORPUS / "index.json"
    index = {} if fresh or not index_file.exists() else json.loads(index_file.read_text())
    if fresh:
        for directory in CORPUS.iterdir():
            if directory.is_dir() and directory.name in wanted:
                shutil.rmtree(directory)
    added = 0
    for item in sorted(chosen, key=lambda r: (r.workflow_type, len(r.history.events))):
        path = CORPUS / item.workflow_type / f"{item.shape}.json"
        if path.exists():
            continue  # this path is in the corpus already
        path.parent.mkdir(exist_ok=True)
        path.write_text(item.history.to_json() + "\n")
        added += 1
        index[f"{item.workflow_type}/{path.name}"] = {"workflow_id": item.history.workflow_id,
                                                      "events": len(item.history.events), "recorded_by": item.test}
    index_file.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    present = {path.parent.name for path in CORPUS.glob("*/*.json")}
    print(f"\n{'recorded' if fresh else 'added'} {added} histories; the corpus holds {len(index)} "
          f"of {len(present & wanted)} workflow types ({CORPUS})")
    missing = sorted(wanted - present)
    if missing:
        print(f"NOT RECORDED (no test ran them): {', '.join(missing)}")


def pytest_configure(config) -> None:
    config.pluginmanager.register(HistoryRecorder(), "esimflow-history-recorder")


def main(argv: list[str] | None = None) -> int:
    """Run the recorded modules with this plugin; ``--fresh`` starts the corpus over, other
    arguments go to pytest."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--fresh" in argv:
        argv.remove("--fresh")
        os.environ[ENV_FRESH] = "1"
    return pytest.main(["-q", "-p", "no:cacheprovider", "-p", "tests.histories.record", *RECORDED_MODULES, *argv])


if __name__ == "__main__":
    sys.exit(main())
