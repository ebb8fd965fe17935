"""Temporal's own floor for bench_download.py: a workflow that runs the same number of steps as a
DownloadProfile run, local and regular activities in the same order, each step doing nothing.
What this costs on a server is what any engine built on Temporal pays for those steps; what the
engine costs beyond the protocol library is set against it.

Its own module (not the bench script) so the worker's sandbox imports it as it imports the
engine's workflow modules: the floor runs under the same runner as the engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

STEP_TIMEOUT = timedelta(seconds=30)


@dataclass
class NoOpStepsInput:
    local: list[bool]  # one entry per step, in order: True for a local activity


@activity.defn(name="BenchNoOpStep")
async def no_op_step() -> None:
    return None


@workflow.defn(name="BenchNoOpSteps")
class NoOpStepsWorkflow:
    @workflow.run
    async def run(self, steps: NoOpStepsInput) -> int:
        for local in steps.local:
            if local:
                await workflow.execute_local_activity(no_op_step, start_to_close_timeout=STEP_TIMEOUT)
            else:
                await workflow.execute_activity(no_op_step, start_to_close_timeout=STEP_TIMEOUT)
        return len(steps.local)
