"""A deliberately wrong DeleteProfile: the status record moved from after the card step to
before it, with no ``workflow.patched`` guard. Everything else is the shipped workflow's own
code (a subclass), so the copy cannot drift from it. Replaying a recorded DeleteProfile history
against it must fail; tests/engine/test_engine_replay.py shows it does."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import DeleteProfileInput, Operation, OperationResult
    from esimflow.machines import Status
    from esimflow.workflows.base import deliver_notifications, record_status
    from esimflow.workflows.profiles import DeleteProfileWorkflow


@workflow.defn(name=Operation.DELETE_PROFILE)
class ReorderedDeleteProfileWorkflow(DeleteProfileWorkflow):
    @workflow.run
    async def run(self, request: DeleteProfileInput) -> OperationResult:
        return await super().run(request)

    async def _delete(self, request: DeleteProfileInput) -> OperationResult:
        await record_status(request.iccid, request.eid, self.operation, "delete", fallback=Status.DISABLED)  # moved up
        return await super()._delete(request)

    async def _deleted(self, card, request: DeleteProfileInput) -> OperationResult:
        notifications = await deliver_notifications(card)  # the status record is no longer here
        return OperationResult.success(self.operation, request.eid,
                                       {"iccid": request.iccid, "notifications": notifications})
