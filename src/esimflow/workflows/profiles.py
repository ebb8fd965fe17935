"""The workflows of the operations on installed profiles (bodies: ``operations.profiles``)."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import (
        DeleteProfileInput,
        ListProfilesInput,
        Operation,
        OperationResult,
        SetNicknameInput,
        SwitchProfileInput,
    )
    from esimflow.workflows.base import OperationWorkflow


@workflow.defn(name=Operation.SWITCH_PROFILE)
class SwitchProfileWorkflow(OperationWorkflow):
    operation = Operation.SWITCH_PROFILE

    @workflow.run
    async def run(self, request: SwitchProfileInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.DELETE_PROFILE)
class DeleteProfileWorkflow(OperationWorkflow):
    operation = Operation.DELETE_PROFILE

    @workflow.run
    async def run(self, request: DeleteProfileInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.SET_NICKNAME)
class SetNicknameWorkflow(OperationWorkflow):
    operation = Operation.SET_NICKNAME

    @workflow.run
    async def run(self, request: SetNicknameInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.LIST_PROFILES)
class ListProfilesWorkflow(OperationWorkflow):
    operation = Operation.LIST_PROFILES

    @workflow.run
    async def run(self, request: ListProfilesInput) -> OperationResult:
        return await self.perform(request)
