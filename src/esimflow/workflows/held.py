"""Operations run inside the workflow that holds the eUICC (see the entity's hold).

A device's migration runs five or six operations back to back; as child workflows submitted to
the entity one by one each costs an update, a child workflow and several workflow tasks. Under a
hold the same operation code runs in the holder itself, its card and network steps local
activities on the card host: the same checks, records and crash safety, without the round trips.
"""
from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.api import DeviceInfo, OperationResult, operation_name
    from esimflow.workflows.catalog import WORKFLOWS
    from esimflow.workflows.steps import use_held_device

_BY_OPERATION = {cls.operation: cls for cls in WORKFLOWS if getattr(cls, "operation", "")}


async def run_held(op_input: Any, device: DeviceInfo) -> OperationResult:
    """Run one operation on the held card, in this workflow; ends with its ``OperationResult``."""
    operation = _BY_OPERATION[operation_name(op_input)]()
    use_held_device(device)
    return await operation.run(op_input)
