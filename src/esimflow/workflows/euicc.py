"""The workflows of the operations on the eUICC as a whole (bodies: ``operations.euicc``)."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import (
        CancelSessionInput,
        GetDefaultSmdpAddressInput,
        GetEidInput,
        GetEuiccInfoInput,
        ListDevicesInput,
        Operation,
        OperationResult,
        ProcessNotificationsInput,
        ReserveProfilesForFactoryRestoreInput,
        ResetMemoryInput,
        SetDefaultSmdpAddressInput,
    )
    from esimflow.workflows.base import OperationWorkflow


@workflow.defn(name=Operation.GET_EID)
class GetEidWorkflow(OperationWorkflow):
    operation = Operation.GET_EID

    @workflow.run
    async def run(self, request: GetEidInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.LIST_DEVICES)
class ListDevicesWorkflow(OperationWorkflow):
    operation = Operation.LIST_DEVICES

    @workflow.run
    async def run(self, request: ListDevicesInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.GET_EUICC_INFO)
class GetEuiccInfoWorkflow(OperationWorkflow):
    operation = Operation.GET_EUICC_INFO

    @workflow.run
    async def run(self, request: GetEuiccInfoInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.GET_DEFAULT_SMDP_ADDRESS)
class GetDefaultSmdpAddressWorkflow(OperationWorkflow):
    operation = Operation.GET_DEFAULT_SMDP_ADDRESS

    @workflow.run
    async def run(self, request: GetDefaultSmdpAddressInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.SET_DEFAULT_SMDP_ADDRESS)
class SetDefaultSmdpAddressWorkflow(OperationWorkflow):
    operation = Operation.SET_DEFAULT_SMDP_ADDRESS

    @workflow.run
    async def run(self, request: SetDefaultSmdpAddressInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.RESET_MEMORY)
class ResetMemoryWorkflow(OperationWorkflow):
    operation = Operation.RESET_MEMORY

    @workflow.run
    async def run(self, request: ResetMemoryInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.RESERVE_PROFILES_FOR_FACTORY_RESTORE)
class ReserveProfilesForFactoryRestoreWorkflow(OperationWorkflow):
    operation = Operation.RESERVE_PROFILES_FOR_FACTORY_RESTORE

    @workflow.run
    async def run(self, request: ReserveProfilesForFactoryRestoreInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.PROCESS_NOTIFICATIONS)
class ProcessNotificationsWorkflow(OperationWorkflow):
    operation = Operation.PROCESS_NOTIFICATIONS

    @workflow.run
    async def run(self, request: ProcessNotificationsInput) -> OperationResult:
        return await self.perform(request)


@workflow.defn(name=Operation.CANCEL_SESSION)
class CancelSessionWorkflow(OperationWorkflow):
    operation = Operation.CANCEL_SESSION

    @workflow.run
    async def run(self, request: CancelSessionInput) -> OperationResult:
        return await self.perform(request)
