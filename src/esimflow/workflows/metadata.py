"""The GetDownloadableProfileMetadata workflow (body: ``operations.preview``)."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import (
        GetDownloadableProfileMetadataInput,
        Operation,
        OperationResult,
    )
    from esimflow.workflows.download import RspSessionWorkflow


@workflow.defn(name=Operation.GET_DOWNLOADABLE_PROFILE_METADATA)
class GetDownloadableProfileMetadataWorkflow(RspSessionWorkflow):
    operation = Operation.GET_DOWNLOADABLE_PROFILE_METADATA

    @workflow.run
    async def run(self, request: GetDownloadableProfileMetadataInput) -> OperationResult:
        return await self.perform(request)
