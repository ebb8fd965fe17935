"""The one workflow runner of every esimflow worker: Temporal's sandbox, in service as in tests.

The sandbox checks that workflow code calls nothing non-deterministic (the clock, random, I/O)
and gives every workflow run fresh copies of the workflow modules, so no state a run leaves
in a module reaches another run. Running the same sandbox in service and in tests means the
code that ships is the code that was checked; what it costs per download is measured by
``bench/bench_download.py --variant unsandboxed`` (bench/RESULTS.md).

Passed through (imported once, shared by all runs, as Temporal advises for them): deterministic
libraries, the engine's data types and machines, and the activity definitions that workflows
reference by function. Only the workflow modules themselves are re-imported and checked.

One cost is the SDK's, not the sandbox's purpose: before the payload codec encodes or decodes
each payload of an activation or a completion, the worker asks the workflow instance for the
payload's serialization context (which activity or child workflow it belongs to), and the
sandboxed instance answers every such question by entering the sandbox (an ``exec`` with its
import hooks swapped in): about 85 times per download, most of the sandbox's cost.
:class:`ContextWithoutReentry` answers them directly from the instance's own bookkeeping. That
lookup is the SDK's code (a dictionary read), never workflow code, so nothing the sandbox
checks runs outside it; workflow code (activations, the run's imports) still runs only inside.
"""
from __future__ import annotations

from typing import Any

from temporalio.converter import SerializationContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox import _runner as sandbox_runner

SHARED_MODULES = (
    "sgp22", "asn1tools", "pyparsing", "transitions",  # deterministic libraries the workflows use
    "esimflow.api", "esimflow.openharmony", "esimflow.search_attributes", "esimflow.machines",
    "esimflow.activities",
    "esimflow.migration.model", "esimflow.migration.policy", "esimflow.activities.migration",
)

IN_SANDBOX = "__temporal_in_sandbox"
"""Where the SDK's sandboxed instance keeps its in-sandbox half (temporalio 1.15 to 1.35)."""


class _ContextWithoutReentryInstance(sandbox_runner._Instance):
    """A sandboxed workflow instance whose serialization and external-store context lookups
    read the in-sandbox instance's bookkeeping directly (see the module docstring); anything
    else is the SDK's sandboxed instance unchanged. Should a later SDK keep its in-sandbox half
    elsewhere, the lookups go through the sandbox as before."""

    def _in_sandbox(self) -> Any:
        return self.globals_and_locals.get(IN_SANDBOX)

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        in_sandbox = self._in_sandbox()
        if in_sandbox is None:
            return super().get_serialization_context(command_info)
        context: SerializationContext | None = in_sandbox.get_serialization_context(command_info)
        return context

    def get_external_store_context(self, command_info: Any) -> Any:
        in_sandbox = self._in_sandbox()
        if in_sandbox is None:
            return super().get_external_store_context(command_info)
        return in_sandbox.get_external_store_context(command_info)


class ContextWithoutReentry(SandboxedWorkflowRunner):
    """Temporal's sandboxed runner, with the context lookups answered without re-entering it."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _ContextWithoutReentryInstance(det, self.runner_class, self.restrictions)


STRICT = ContextWithoutReentry(restrictions=SandboxRestrictions.default.with_passthrough_modules(*SHARED_MODULES))


def workflow_runner() -> WorkflowRunner:
    return STRICT
