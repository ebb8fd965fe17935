"""The one workflow runner of every esimflow worker: Temporal's sandbox, in service as in tests.

The sandbox checks that workflow code calls nothing non-deterministic (the clock, random, I/O)
and gives every workflow run fresh copies of the workflow modules, so no state a run leaves
in a module reaches another run. Running the same sandbox in service and in tests means the
code that ships is the code that was checked; what it costs per download is measured by
``bench/bench_download.py --variant unsandboxed`` (bench/RESULTS.md).

Passed through (imported once, shared by all runs, as Temporal advises for them): deterministic
libraries, the engine's data types and machines, and the activity definitions that workflows
reference by function. Only the workflow modules themselves are re-imported and checked.
"""
from __future__ import annotations

from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

SHARED_MODULES = (
    "sgp22", "asn1tools", "pyparsing", "transitions",  # deterministic libraries the workflows use
    "esimflow.contract", "esimflow.openharmony", "esimflow.search_attributes", "esimflow.machines",
    "esimflow.activities",
    "esimflow.migration.model", "esimflow.migration.policy", "esimflow.activities.migration",
)

STRICT = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*SHARED_MODULES))


def workflow_runner() -> WorkflowRunner:
    return STRICT
