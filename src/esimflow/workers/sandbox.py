"""The workflow sandbox every esimflow worker uses.

Temporal's sandbox imports a workflow's module afresh for every workflow run. For an engine that
runs one short workflow per operation (and one per device of a bulk migration) that import was
the largest single cost on the critical path: about 10-15 ms per run, before the first step. The
project's own modules and the pure libraries its workflows use keep no mutable module state the
workflows read (the one shared table, ``activities.liveness``, is shared on purpose), so they are
imported once and shared; the sandbox still guards everything else a workflow touches.
"""
from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSED_THROUGH = ("esimflow", "sgp22", "asn1tools", "pyparsing", "transitions")

SANDBOX = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
