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
    from esimflow.contract import OperationResult, operation_name
    from esimflow.workflows.catalog import WORKFLOWS
    from esimflow.workflows.steps import RunContext

_BY_OPERATION = {cls.operation: cls for cls in WORKFLOWS if getattr(cls, "operation", "")}


async def run_held(op_input: Any, context: RunContext) -> OperationResult:
    """Run one operation on the held card (``context.held_device``), in this workflow, sharing
    the holder's ``context``; ends with its ``OperationResult``."""
    operation = _BY_OPERATION[operation_name(op_input)]()
    operation.context = context
    return await operation.run(op_input)
