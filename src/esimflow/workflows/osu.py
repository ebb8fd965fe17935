"""The OsUpdate workflow (body: ``operations.osu``)."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import (
        Operation,
        OperationResult,
        OsUpdateInput,
    )
    from esimflow.workflows.base import OperationWorkflow


@workflow.defn(name=Operation.OS_UPDATE)
class OsUpdateWorkflow(OperationWorkflow):
    operation = Operation.OS_UPDATE

    @workflow.run
    async def run(self, request: OsUpdateInput) -> OperationResult:
        return await self.perform(request)
