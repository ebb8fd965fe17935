"""What every operation workflow shares: an operation context, the progress query and the
operator's skip signal. The operation itself is a plain body (``workflows.operations``)."""
from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import QUERY_PROGRESS, SIGNAL_SKIP, OperationResult, Progress
    from esimflow.workflows.operations import perform
    from esimflow.workflows.operations.context import OperationContext


class OperationWorkflow:
    """Base of the operation workflows: ``progress`` tells a client what is happening."""

    operation = ""

    def __init__(self) -> None:
        self.context = OperationContext(self.operation)

    @workflow.query(name=QUERY_PROGRESS)
    def progress(self) -> Progress:
        return self.context.progress

    @workflow.signal(name=SIGNAL_SKIP)
    def skip(self, reason: str) -> None:
        """Sent by the entity just before it cancels this operation for an operator: the
        failed result then names the reason."""
        self.context.skip_reason = reason

    async def perform(self, request: Any) -> OperationResult:
        """This workflow's operation body, always ending with an ``OperationResult``."""
        return await perform(self.context, request)
