"""Operations on installed profiles: list, switch, delete, nickname.

Each checks the change against the EuiccProfile machine (built from what the card reports now)
before sending an APDU, so a refusal names the policy rule or the enabled profile in the way,
and each tolerates its own retry after a lost answer (the card already did it).
"""
from __future__ import annotations

import dataclasses

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import (
        CardStep,
        EnableProfileInput,
        PendingNotificationData,
        ProfileRefInput,
        RetrieveNotificationsStepInput,
        SetNicknameStepInput,
    )
    from esimflow.contract import (
        DeleteProfileInput,
        ListProfilesInput,
        OperationResult,
        ProfileState,
        SetNicknameInput,
        SwitchProfileInput,
    )
    from esimflow.machines import Change, Status
    from esimflow.machines.euicc_profile import Phase as ProfilePhase
    from esimflow.workflows import policies
    from esimflow.workflows.operations.context import OperationContext
    from esimflow.workflows.operations.records import context_of, deliver_notifications, profiles_on, record_changes
    from esimflow.workflows.steps import Card, OperationFailed, StepFailed
    from sgp22.errors import MustDisableProfileError
    from sgp22.results import OhResultCode, WinStatus


def profile_not_found(iccid: str, *, oh_result: OhResultCode = OhResultCode.RESULT_SGP_22_OTHER) -> OperationFailed:
    return OperationFailed(f"no profile {iccid} on this eUICC", kind="profile.not_found",
                           oh_result=oh_result, win_status=WinStatus.ProfileNotPresent)


async def switch_profile(ctx: OperationContext, request: SwitchProfileInput) -> OperationResult:
    card = await ctx.card(request.eid)
    return await switch_to(ctx, card, request.iccid, port=request.port_index,
                           force_disable=request.force_disable_profile)


async def switch_to(ctx: OperationContext, card: Card, iccid: str, *, port: int,
                    force_disable: bool) -> OperationResult:
    """Enable ``iccid`` (the eUICC disables the profile enabled on the port in the same step)."""
    ctx.phase("reading profiles")
    profiles = await profiles_on(card)
    context = context_of(profiles, port)
    target = context.profiles.get(iccid)
    if target is None:
        raise profile_not_found(iccid)
    if target.state == ProfilePhase.ENABLED:
        return await _finish_enabled_earlier(ctx, card, iccid)
    holder = context.enabled_on(port)
    if holder is not None and not force_disable:
        raise OperationFailed.of(MustDisableProfileError(
            f"profile {holder.iccid} is enabled; switching disables it: confirm with force_disable_profile"),
            data={"enabled_iccid": holder.iccid})
    target.enable(reason=f"switch from {holder.iccid}" if holder else "switch")  # PPR/class guards

    ctx.phase("enabling", iccid)
    try:
        await card.call(CardStep.ENABLE_PROFILE, EnableProfileInput(card.ref, iccid, refresh=True),
                        retry=policies.card_retry())
    except StepFailed as failure:
        # a retry after a lost answer finds the profile already enabled: that is success
        if not failure.kind.endswith("profileNotInDisabledState") or not await _is_enabled(card, iccid):
            raise
    disabled = holder.iccid if holder is not None else None
    return await _record_switch(ctx, card, iccid, disabled, context.journal)


async def _finish_enabled_earlier(ctx: OperationContext, card: Card, iccid: str) -> OperationResult:
    """The profile is enabled already: by someone before us, or by a run of this step whose
    worker died right after the card enabled it (before anything was recorded). The card tells
    which: its enable notification is then still pending, and the change is recorded and
    delivered now, as the step would have."""
    pending = await _pending(card)
    if not any(n.iccid == iccid and n.event == "enable" for n in pending):
        return OperationResult.success(ctx.operation, card.device.eid, {"iccid": iccid, "already_enabled": True},
                                       message=f"{iccid} is already enabled")
    disabled = next((n.iccid for n in pending if n.event == "disable" and n.iccid != iccid), None)
    return await _record_switch(ctx, card, iccid, disabled)


async def _record_switch(ctx: OperationContext, card: Card, iccid: str, disabled: str | None,
                         changes: list[Change] | None = None) -> OperationResult:
    """Record the disable (if any) and the enable, deliver the card's notifications. ``changes``:
    the EuiccProfile machines' journal of this switch (the holder's disable, then the enable);
    without one (a switch a dead worker made, found from the card's notifications) the same two
    changes are named here."""
    if changes is not None:
        await record_changes(card, changes, ctx.operation)
    else:
        if disabled is not None:
            await ctx.record_status(card, disabled, "disable", fallback=Status.ENABLED)
        await ctx.record_status(card, iccid, "enable", fallback=Status.DISABLED)
    ctx.phase("delivering notifications")
    notifications = await deliver_notifications(card)
    return OperationResult.success(ctx.operation, card.device.eid, {
        "iccid": iccid, "disabled_iccid": disabled, "notifications": notifications,
    }, message=f"{iccid} enabled")


async def _pending(card: Card, iccid: str | None = None, event: str | None = None) -> list[PendingNotificationData]:
    """The card's pending notifications (those about ``iccid`` and ``event`` when given): what
    the card did that its SM-DP+ has not heard of yet."""
    pending = await card.call(CardStep.RETRIEVE_NOTIFICATIONS, RetrieveNotificationsStepInput(card.ref, None),
                              list[PendingNotificationData])
    return [n for n in pending if (iccid is None or n.iccid == iccid) and (event is None or n.event == event)]


async def _is_enabled(card: Card, iccid: str) -> bool:
    found = await profiles_on(card, iccid)
    return any(p.iccid == iccid and p.state == ProfileState.PROFILE_STATE_ENABLED for p in found)


async def delete_profile(ctx: OperationContext, request: DeleteProfileInput) -> OperationResult:
    card = await ctx.card(request.eid)
    ctx.phase("reading profiles")
    context = context_of(await profiles_on(card))
    target = context.profiles.get(request.iccid)
    if target is None:
        if not await _pending(card, request.iccid, "delete"):
            raise profile_not_found(request.iccid, oh_result=OhResultCode.RESULT_NOTHING_TO_DELETE)
        # deleted by a run of this step whose worker died right after the card did it
        return await profile_deleted(ctx, card, request)
    if target.state == ProfilePhase.ENABLED:  # the eUICC would refuse it (profileNotInDisabledState)
        raise OperationFailed.of(MustDisableProfileError(
            f"profile {request.iccid} is enabled: switch to another profile before deleting it"))
    target.delete(reason="user request")  # PPR2 guard

    ctx.phase("deleting", request.iccid)
    try:
        await card.call(CardStep.DELETE_PROFILE, ProfileRefInput(card.ref, request.iccid))
    except StepFailed as failure:
        if not failure.kind.endswith("iccidOrAidNotFound") or await profiles_on(card, request.iccid):
            raise  # (a retry after a lost answer finds it gone: that is success)
    return await profile_deleted(ctx, card, request)


async def profile_deleted(ctx: OperationContext, card: Card, request: DeleteProfileInput) -> OperationResult:
    await ctx.record_status(card, request.iccid, "delete", fallback=Status.DISABLED)
    ctx.phase("delivering notifications")
    notifications = await deliver_notifications(card)
    return OperationResult.success(ctx.operation, request.eid,
                                   {"iccid": request.iccid, "notifications": notifications},
                                   message=f"{request.iccid} deleted")


async def set_nickname(ctx: OperationContext, request: SetNicknameInput) -> OperationResult:
    card = await ctx.card(request.eid)
    ctx.phase("setting nickname")
    await card.call(CardStep.SET_NICKNAME, SetNicknameStepInput(card.ref, request.iccid, request.nickname))
    return OperationResult.success(ctx.operation, request.eid, {"iccid": request.iccid, "nickname": request.nickname})


async def list_profiles(ctx: OperationContext, request: ListProfilesInput) -> OperationResult:
    card = await ctx.card(request.eid)
    ctx.phase("reading profiles")
    profiles = await profiles_on(card)
    return OperationResult.success(ctx.operation, request.eid, {
        "profiles": [dataclasses.asdict(profile) for profile in profiles],
        # a card in a PC/SC reader can be taken out; an in-process eUICC is soldered in
        "is_removable": card.device.reader.startswith("pcsc:"),
    })
