"""The GetDownloadableProfiles workflow (body: ``operations.discovery``)."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import (
        GetDownloadableProfilesInput,
        Operation,
        OperationResult,
    )
    from esimflow.workflows.base import OperationWorkflow


@workflow.defn(name=Operation.GET_DOWNLOADABLE_PROFILES)
class GetDownloadableProfilesWorkflow(OperationWorkflow):
    operation = Operation.GET_DOWNLOADABLE_PROFILES

    @workflow.run
    async def run(self, request: GetDownloadableProfilesInput) -> OperationResult:
        return await self.perform(request)
