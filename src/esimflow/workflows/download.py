"""The DownloadProfile workflow (body: ``operations.download``) and the base of the workflows
that open an RSP session."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import (
        DownloadProfileInput,
        Operation,
        OperationResult,
    )
    from esimflow.workflows.base import OperationWorkflow
    from esimflow.workflows.operations.context import UserPrompts
    from esimflow.workflows.user_updates import UserUpdates


class RspSessionWorkflow(UserUpdates, OperationWorkflow):
    """An operation that opens an RSP session: the user answers its metadata preview with
    updates, and a CancelSession operation forwards its cancel here."""

    def running_prompts(self) -> UserPrompts | None:
        return self.context.prompts


@workflow.defn(name=Operation.DOWNLOAD_PROFILE)
class DownloadProfileWorkflow(RspSessionWorkflow):
    operation = Operation.DOWNLOAD_PROFILE

    @workflow.run
    async def run(self, request: DownloadProfileInput) -> OperationResult:
        return await self.perform(request)
