"""A deliberately wrong copy of DeleteProfile: the status record moved before the card step,
with no ``workflow.patched`` guard. Replaying a recorded DeleteProfile history against it must
fail; that is what the replay test shows (tests/engine/test_engine_replay.py)."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import CardStep, ProfileRefInput
    from esimflow.api import DeleteProfileInput, Operation, OperationResult
    from esimflow.machines import Status
    from esimflow.workflows.base import OperationWorkflow, context_of, deliver_notifications, profiles_on, record_status
    from esimflow.workflows.steps import card_of, conclude


@workflow.defn(name=Operation.DELETE_PROFILE)
class ReorderedDeleteProfileWorkflow(OperationWorkflow):
    operation = Operation.DELETE_PROFILE

    @workflow.run
    async def run(self, request: DeleteProfileInput) -> OperationResult:
        return await conclude(self.operation, request.eid, lambda: self._delete(request))

    async def _delete(self, request: DeleteProfileInput) -> OperationResult:
        card = await card_of(request.eid)
        context_of(await profiles_on(card))
        await record_status(request.iccid, request.eid, self.operation, "delete", fallback=Status.DISABLED)  # moved up
        await card.call(CardStep.DELETE_PROFILE, ProfileRefInput(card.ref, request.iccid))
        notifications = await deliver_notifications(card)
        return OperationResult.success(self.operation, request.eid,
                                       {"iccid": request.iccid, "notifications": notifications})
