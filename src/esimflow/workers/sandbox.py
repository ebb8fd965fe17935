"""Which workflow runner esimflow's workers use: checked in tests, fast in service.

Temporal's sandbox does two things. It checks that workflow code calls nothing
non-deterministic (the clock, random, I/O), which only works on modules it imports itself, one
fresh copy per workflow run; and it isolates module state between runs. Both cost time on every
run of a short workflow: the import (10-15 ms before the first step of an operation) and a pass
through the sandbox for every payload the codec encrypts (about 15 ms over a download). An
engine that runs a workflow per operation pays that on every operation.

So the checks run where they find bugs: with ``ESIMFLOW_WORKFLOW_SANDBOX=strict`` (the test
suite sets it) every workflow module is imported into the sandbox and every call checked. In
service (the default) workflows run unsandboxed: the code is the tested code, and the project's
modules keep no module state between runs (the one shared table, ``activities.liveness``, is
shared on purpose).
"""
from __future__ import annotations

import os

from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from sgp22.errors import BadInputError

ENV_SANDBOX = "ESIMFLOW_WORKFLOW_SANDBOX"

SHARED_MODULES = (
    "sgp22", "asn1tools", "pyparsing", "transitions",  # deterministic libraries the workflows use
    # the engine's data types, machines and activity definitions (as Temporal advises: models
    # and activities are passed through; only the workflow modules are checked)
    "esimflow.api", "esimflow.openharmony", "esimflow.search_attributes", "esimflow.machines",
    "esimflow.activities",
    "esimflow.migration.model", "esimflow.migration.policy", "esimflow.migration.activities",
)

STRICT = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*SHARED_MODULES))
UNSANDBOXED = UnsandboxedWorkflowRunner()


def workflow_runner() -> WorkflowRunner:
    """The runner for this process: ``strict`` from the environment, else unsandboxed."""
    choice = os.environ.get(ENV_SANDBOX, "off").strip().lower()
    if choice == "strict":
        return STRICT
    if choice in ("off", ""):
        return UNSANDBOXED
    raise BadInputError(f"{ENV_SANDBOX} must be 'strict' or 'off', not {choice!r}")
