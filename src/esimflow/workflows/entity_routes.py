"""The entity's check on an operation sent to a card host's queue: a host that is gone, or a
card that moved, before any worker took the operation up strands it; the entity then routes it
again or fails it as ``device.unreachable`` instead of waiting for its timeout."""
from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import CheckRouteInput, EngineStep, RouteCheck
    from esimflow.contract import DeviceInfo, OperationRequest, OperationResult
    from esimflow.devices import CardHostUnreachableError
    from esimflow.workflows.steps import StepFailed, engine_call

ROUTE_CHECK = timedelta(seconds=5)
"""How long an operation sent to a card host's queue may wait to be taken up before the entity
asks whether the host can still run it (it is gone, or the card moved: the operation is then
routed again or fails with ``device.unreachable``, instead of waiting for its own timeout)."""
ROUTES_TRIED = 3
PATCH_ROUTE_CHECK = "entity-checks-stranded-operations"


async def stranded_operation(eid: str, child: workflow.ChildWorkflowHandle, device: DeviceInfo | None) -> RouteCheck | None:
    """Wait for an operation sent to a card host's queue until it ends or has started there;
    every ``ROUTE_CHECK`` until then, ask whether it is stranded (the host gone, or the card
    moved, before any worker took it up: it was then terminated) and say so. None: it ran
    (its result is awaited as usual). An operation the entity runs itself needs no check:
    its steps on another host's queue see a gone host themselves (``Card.call``)."""
    if device is None or device.workflow_task_queue in ("", workflow.info().task_queue):
        return None
    if not workflow.patched(PATCH_ROUTE_CHECK):
        return None
    ended = asyncio.ensure_future(_ended(child))
    check = CheckRouteInput(eid, child.id, child.first_execution_run_id or "", device.card_host)
    while not ended.done():
        try:
            await workflow.wait_condition(ended.done, timeout=ROUTE_CHECK)
        except asyncio.TimeoutError:
            try:
                found = await engine_call(EngineStep.CHECK_ROUTE, check, RouteCheck)
            except StepFailed as failure:  # cannot tell: look again at the next check
                workflow.logger.warning("route of %s not checked: %s", child.id, failure.message)
                continue
            if found.started:
                break
            if found.withdrawn:
                with contextlib.suppress(ChildWorkflowError):
                    await child  # its termination, so the id is free for the next start
                return found
    return None


def unreachable(request: OperationRequest, eid: str, workflow_id: str, card_host: str, reason: str) -> OperationResult:
    error = CardHostUnreachableError(f"{request.operation} on eUICC {eid} was not taken up by card host "
                                     f"{card_host} ({reason}); nothing ran on the card: submit it again")
    return OperationResult.failure(request.operation, eid, oh_result=error.oh_result,
                                   win_status=error.win_status, error_kind=error.kind, message=error.message,
                                   data={"retryable": error.retryable}, workflow_id=workflow_id)


async def _ended(child: workflow.ChildWorkflowHandle) -> None:
    """Once the child has ended, however (its result or failure is taken where it is awaited)."""
    with contextlib.suppress(Exception):
        await child
