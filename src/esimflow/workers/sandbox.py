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

The other is the per-run import itself: a run's workflow module is executed afresh, which is
the point, but without a bytecode cache (``PYTHONDONTWRITEBYTECODE``, a read-only tree) Python
also compiles its source afresh each time (download.py: ~5-8 ms per download).
:class:`_CompiledOnceFinder` keeps the compiled code of the modules the sandbox imports, keyed
like Python's own ``.pyc`` check (path, modification time, size), so each run executes the same
fresh module from code compiled once. It acts only on imports made inside the sandbox.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType
from typing import Any

from temporalio import workflow
from temporalio.converter import SerializationContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox import _runner as sandbox_runner

SHARED_MODULES = (
    "sgp22", "asn1tools", "pyparsing", "transitions",  # deterministic libraries the workflows use
    "esimflow.contract", "esimflow.openharmony", "esimflow.search_attributes", "esimflow.machines",
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


class _CompiledOnce(importlib.machinery.SourceFileLoader):
    """A source loader that compiles each (path, mtime, size) once per process."""

    compiled: dict[tuple[str, int, int], CodeType] = {}

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
        code = self.compiled.get(key)
        if code is None:
            found = super().get_code(fullname)
            if found is None:
                raise ImportError(f"no code for {fullname}", name=fullname)
            code = self.compiled[key] = found
        return code


class _CompiledOnceFinder(importlib.abc.MetaPathFinder):
    """Hands the sandbox's imports of source modules to :class:`_CompiledOnce`; every other
    import goes on to Python's own finders untouched."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if not workflow.unsafe.in_sandbox():
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader or spec.origin is None:
            return None
        spec.loader = _CompiledOnce(fullname, spec.origin)
        return spec


_COMPILED_ONCE = _CompiledOnceFinder()


class ContextWithoutReentry(SandboxedWorkflowRunner):
    """Temporal's sandboxed runner, with the context lookups answered without re-entering it
    and the run's workflow module compiled once per process."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        if _COMPILED_ONCE not in sys.meta_path:
            sys.meta_path.insert(0, _COMPILED_ONCE)
        return _ContextWithoutReentryInstance(det, self.runner_class, self.restrictions)


STRICT = ContextWithoutReentry(restrictions=SandboxRestrictions.default.with_passthrough_modules(*SHARED_MODULES))


def workflow_runner() -> WorkflowRunner:
    return STRICT
