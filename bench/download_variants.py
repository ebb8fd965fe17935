"""The settings bench_download.py can measure that the shipped engine or dev server does NOT use
(``--variant NAME``), each applied by a labelled monkeypatch.

Their own module because they are a concern apart from the measurement: what is patched, and
how, is read and reviewed here without the bench's machinery around it, and the report names
each variant by its label so a patched figure is never taken for the shipped one.
"""
from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from temporalio import activity as temporal_activity
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from esimflow.workers import devstack
from esimflow.workers import run as worker_run
from esimflow.workers.devstack import start_dev_server


@dataclass(frozen=True)
class Variant:
    """An engine or server setting the shipped code does NOT use, measured by monkeypatching."""

    label: str
    worker_kwargs: dict = field(default_factory=dict)  # for every temporalio Worker the engine builds
    worker_options: dict = field(default_factory=dict)  # WorkerOptions fields
    server_args: tuple[str, ...] = ()  # extra `temporal server start-dev` arguments
    patch: str = ""  # a named monkeypatch (see PATCHES)


VARIANTS: dict[str, Variant] = {
    "server-rps": Variant(
        "dev server: history.transferProcessorMaxPollRPS=1000 (default 20 polls/s per history shard)",
        server_args=("--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000")),
    "unsandboxed": Variant(
        "workflows outside Temporal's sandbox (what the sandbox costs; the engine always sandboxes)",
        worker_kwargs={"workflow_runner": UnsandboxedWorkflowRunner()}),
    "no-local-heartbeat": Variant(
        "activity.heartbeat() returns at once inside a local activity (which cannot heartbeat)",
        patch="local_heartbeat"),
    "pollers": Variant(
        "20 workflow-task and 20 activity-task pollers per worker (default 5 each)",
        worker_kwargs={"max_concurrent_workflow_task_polls": 20, "max_concurrent_activity_task_polls": 20}),
    "remote-steps": Variant(
        "card host does not run workflows: every step a remote activity (card_host_runs_workflows=False)",
        worker_options={"card_host_runs_workflows": False}),
}


def patch_workers(extra: dict) -> None:
    """LABELLED MONKEYPATCH: every Worker the engine builds gets ``extra`` (measurement only)."""

    def worker(*args, **kwargs):
        return Worker(*args, **{**kwargs, **extra})

    worker_run.Worker = worker


def skip_heartbeat_in_local_activities() -> None:
    """LABELLED MONKEYPATCH: a local activity has no heartbeat; calling it anyway costs a trip
    into the SDK core and a logged warning per call (measurement only)."""
    heartbeat = temporal_activity.heartbeat

    def only_remote(*details) -> None:
        if not temporal_activity.info().is_local:
            heartbeat(*details)

    temporal_activity.heartbeat = only_remote


PATCHES = {"local_heartbeat": skip_heartbeat_in_local_activities}


@contextlib.contextmanager
def dev_server_with(extra_args: tuple[str, ...], log_file: Path):
    """The engine's dev server; LABELLED MONKEYPATCH when ``extra_args`` are given: they are
    appended to the ``temporal server start-dev`` command line (devstack has no parameter)."""
    if not extra_args:
        with start_dev_server(ui=False, log_file=log_file) as server:
            yield server
        return

    class WithExtraArgs:
        def __getattr__(self, name):
            return getattr(subprocess, name)

        @staticmethod
        def Popen(command, *args, **kwargs):  # noqa: N802 (subprocess's name)
            return subprocess.Popen([*command, *extra_args], *args, **kwargs)

    devstack.subprocess = WithExtraArgs()
    try:
        server = start_dev_server(ui=False, log_file=log_file)
    finally:
        devstack.subprocess = subprocess
    with server:
        yield server
