"""A deliberately wrong DeleteProfile: the status record moved from after the card step to
before it, with no ``workflow.patched`` guard. Everything else is the shipped operation's own
body, so the copy cannot drift from it. Replaying a recorded DeleteProfile history against it
must fail; tests/engine/test_engine_replay.py shows it does."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import DeleteProfileInput, Operation, OperationResult
    from esimflow.machines import Status
    from esimflow.workflows.base import OperationWorkflow
    from esimflow.workflows.operations import perform
    from esimflow.workflows.operations.context import OperationContext
    from esimflow.workflows.operations.profiles import delete_profile


async def _reordered_delete(ctx: OperationContext, request: DeleteProfileInput) -> OperationResult:
    card = await ctx.card(request.eid)
    await ctx.record_status(card, request.iccid, "delete", fallback=Status.DISABLED)  # moved up
    return await delete_profile(ctx, request)


@workflow.defn(name=Operation.DELETE_PROFILE)
class ReorderedDeleteProfileWorkflow(OperationWorkflow):
    operation = Operation.DELETE_PROFILE

    @workflow.run
    async def run(self, request: DeleteProfileInput) -> OperationResult:
        return await perform(self.context, request, _reordered_delete)
