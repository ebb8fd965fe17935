"""The operations on the eUICC as a whole: identity, information, default SM-DP+, memory reset,
factory-restore preparation, notifications and stray sessions."""
from __future__ import annotations

import dataclasses

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import (
        CardCancelSessionInput,
        CardInput,
        CardStep,
        ConfiguredAddresses,
        EngineStep,
        EuiccInfo2Data,
        FindDeviceInput,
        MemoryResetStepInput,
        NetCancelSessionInput,
        NetStep,
        SetDefaultDpAddressStepInput,
    )
    from esimflow.contract import (
        CancelReason,
        CancelSessionInput,
        DeviceInfo,
        GetDefaultSmdpAddressInput,
        GetEidInput,
        GetEuiccInfoInput,
        ListDevicesInput,
        OperationResult,
        ProcessNotificationsInput,
        ProfileClass,
        ProfileState,
        ReserveProfilesForFactoryRestoreInput,
        ResetMemoryInput,
        ResetOption,
        SetDefaultSmdpAddressInput,
    )
    from esimflow.machines import Status
    from esimflow.workflows.operations.context import OperationContext
    from esimflow.workflows.operations.records import deliver_notifications, profiles_on
    from esimflow.workflows.steps import Card, OperationFailed, StepFailed, engine_call, net_call
    from sgp22.results import OhResultCode, WinStatus


async def get_eid(ctx: OperationContext, request: GetEidInput) -> OperationResult:
    """Reads the EID from the card itself (the registry only says where the card is)."""
    device = await engine_call(EngineStep.FIND_DEVICE, FindDeviceInput(request.device), DeviceInfo)
    eid = await Card(device).call(CardStep.GET_EID, CardInput(Card(device).ref), str)
    return OperationResult.success(ctx.operation, eid, {"eid": eid, "device": dataclasses.asdict(device)})


async def list_devices(ctx: OperationContext, request: ListDevicesInput) -> OperationResult:
    devices = await engine_call(EngineStep.LIST_DEVICES, request, list[DeviceInfo])
    return OperationResult.success(ctx.operation, "", {"devices": [dataclasses.asdict(d) for d in devices]})


async def get_euicc_info(ctx: OperationContext, request: GetEuiccInfoInput) -> OperationResult:
    card = await ctx.card(request.eid)
    info = await card.call(CardStep.GET_EUICC_INFO2, CardInput(card.ref), EuiccInfo2Data)
    return OperationResult.success(ctx.operation, request.eid, {"eid": request.eid, **dataclasses.asdict(info)})


async def get_default_smdp_address(ctx: OperationContext, request: GetDefaultSmdpAddressInput) -> OperationResult:
    card = await ctx.card(request.eid)
    addresses = await card.call(CardStep.GET_CONFIGURED_ADDRESSES, CardInput(card.ref), ConfiguredAddresses)
    return OperationResult.success(ctx.operation, request.eid, {
        "default_smdp_address": addresses.default_dp_address or "",
        "root_smds_address": addresses.root_ds_address or "",
    })


async def set_default_smdp_address(ctx: OperationContext, request: SetDefaultSmdpAddressInput) -> OperationResult:
    card = await ctx.card(request.eid)
    await card.call(CardStep.SET_DEFAULT_DP_ADDRESS, SetDefaultDpAddressStepInput(card.ref, request.address))
    return OperationResult.success(ctx.operation, request.eid, {"default_smdp_address": request.address})


# A memory reset records one ``reset`` change per erased profile (an enabled one included)
# instead of "disable, then delete": one record command fewer per enabled profile.
PATCH_RESET_IS_ONE_CHANGE = "memory-reset-records-one-change"


async def _reset(ctx: OperationContext, card: Card, options: ResetOption) -> dict:
    """eUICCMemoryReset, recording each deleted profile; a retry after a lost answer (the card
    says nothingToDelete) is judged by what is left on the card."""
    before = await profiles_on(card)
    try:
        # an ordinary activity even on the card host: ``before`` is recorded before the card
        # deletes anything, so a re-run after a dead worker still knows what was there
        await card.call(CardStep.MEMORY_RESET, MemoryResetStepInput(card.ref, int(options)), recorded_first=True)
    except StepFailed as failure:
        if not failure.kind.endswith("nothingToDelete") or not before:
            raise
    after = {profile.iccid for profile in await profiles_on(card)}
    deleted = [profile for profile in before if profile.iccid not in after]
    one_change = workflow.patched(PATCH_RESET_IS_ONE_CHANGE)
    for profile in deleted:
        enabled = profile.state == ProfileState.PROFILE_STATE_ENABLED
        if one_change:  # the platform's ``reset``: deleted whatever its state
            await ctx.record_status(card, profile.iccid, "reset",
                                    fallback=Status.ENABLED if enabled else Status.DISABLED)
            continue
        if enabled:  # before the patch: recorded as "disable, then delete"
            await ctx.record_status(card, profile.iccid, "disable", fallback=Status.ENABLED)
        await ctx.record_status(card, profile.iccid, "delete", fallback=Status.DISABLED)
    return {"deleted": [profile.iccid for profile in deleted], "kept": sorted(after)}


def _reset_options(requested: int) -> ResetOption:
    try:
        options = ResetOption(requested)
    except ValueError:
        options = ResetOption(0)
    if not options or requested & ~int(ResetOption(7)):
        raise OperationFailed(f"reset options {requested} are not a combination of ResetOption bits 1, 2, 4",
                              kind="input.invalid", oh_result=OhResultCode.RESULT_SGP_22_OTHER,
                              win_status=WinStatus.Other)
    return options


async def reset_memory(ctx: OperationContext, request: ResetMemoryInput) -> OperationResult:
    options = _reset_options(request.options)
    card = await ctx.card(request.eid)
    deliver_first = workflow.patched("deliver-before-memory-reset")
    if deliver_first:
        # the reset takes the erased profiles' pending notifications with it: deliver
        # them first, so their SM-DP+s hear of every change before the profiles vanish
        ctx.phase("delivering notifications")
        delivered_first = await deliver_notifications(card)
    ctx.phase("resetting memory", options.name or str(int(options)))
    data = await _reset(ctx, card, options)
    ctx.phase("delivering notifications")
    data["notifications"] = await deliver_notifications(card)
    if deliver_first:
        data["notifications_before_reset"] = delivered_first
    data["options"] = int(options)
    return OperationResult.success(ctx.operation, request.eid, data)


async def reserve_profiles_for_factory_restore(ctx: OperationContext,
                                               request: ReserveProfilesForFactoryRestoreInput) -> OperationResult:
    """Prepares the eUICC for a device factory reset that keeps the subscriptions.

    Operational (and provisioning) profiles stay with their state and nicknames; field-loaded
    test profiles are deleted (eUICCMemoryReset with only that option bit); pending
    notifications are delivered first and again afterwards, so the operators' view matches the
    card before the device forgets its own state.
    """
    card = await ctx.card(request.eid)
    ctx.phase("delivering notifications")
    delivered_before = await deliver_notifications(card)
    profiles = await profiles_on(card)
    data: dict = {"deleted": [], "kept": sorted(p.iccid for p in profiles)}
    if any(p.profile_class == ProfileClass.PROFILE_CLASS_TEST for p in profiles):
        ctx.phase("deleting test profiles")
        data = await _reset(ctx, card, ResetOption.DELETE_FIELD_LOADED_TEST_PROFILES)
    data["notifications"] = {"before": delivered_before, "after": await deliver_notifications(card)}
    return OperationResult.success(ctx.operation, request.eid, data)


async def process_notifications(ctx: OperationContext, request: ProcessNotificationsInput) -> OperationResult:
    card = await ctx.card(request.eid)
    ctx.phase("delivering notifications")
    outcome = await deliver_notifications(card, request.sequence_numbers, patient=True)
    if outcome["failed"]:
        first = outcome["failed"][0]
        return OperationResult.failure(
            ctx.operation, request.eid, oh_result=OhResultCode.RESULT_SERVER_UNAVAILABLE,
            win_status=WinStatus.ServerNotReachable, error_kind=first["error_kind"],
            message=f"{len(outcome['failed'])} notification(s) not delivered: {first['message']}",
            data=outcome,
        )
    return OperationResult.success(ctx.operation, request.eid, outcome)


async def cancel_session(ctx: OperationContext, request: CancelSessionInput) -> OperationResult:
    """Cancels a session no running download owns (e.g. one left by another LPA): the card
    signs the cancellation and the SM-DP+ (given, or the eUICC's default) receives it."""
    try:
        reason = CancelReason(request.reason)
    except ValueError:
        raise OperationFailed(f"cancel reason {request.reason} is not a CancelSessionReason",
                              kind="input.invalid", oh_result=OhResultCode.RESULT_SGP_22_OTHER,
                              win_status=WinStatus.Other) from None
    card = await ctx.card(request.eid)
    ctx.phase("cancelling on the card")
    signed = await card.call(CardStep.CANCEL_SESSION,
                             CardCancelSessionInput(card.ref, request.transaction_id, int(reason)), str)
    address = request.smdp_address
    if not address:
        addresses = await card.call(CardStep.GET_CONFIGURED_ADDRESSES, CardInput(card.ref), ConfiguredAddresses)
        address = addresses.default_dp_address
    data = {"transaction_id": request.transaction_id, "reason": reason.name, "smdp": "not sent"}
    if address:
        ctx.phase("cancelling at the SM-DP+")
        await net_call(NetStep.CANCEL_SESSION, NetCancelSessionInput(address, request.transaction_id, signed))
        data["smdp"] = address
    return OperationResult.success(ctx.operation, request.eid, data)
