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
        Operation,
        OperationResult,
        ProfileState,
        SetNicknameInput,
        SwitchProfileInput,
    )
    from esimflow.machines import Status
    from esimflow.machines.euicc_profile import Phase as ProfilePhase
    from esimflow.workflows import policies
    from esimflow.workflows.base import (
        OperationWorkflow,
        context_of,
        deliver_notifications,
        profiles_on,
        record_changes,
        record_status,
    )
    from esimflow.workflows.steps import Card, OperationFailed, StepFailed, card_of, conclude
    from sgp22.errors import MustDisableProfileError
    from sgp22.results import OhResultCode, WinStatus


def profile_not_found(iccid: str, *, oh_result: OhResultCode = OhResultCode.RESULT_SGP_22_OTHER) -> OperationFailed:
    return OperationFailed(f"no profile {iccid} on this eUICC", kind="profile.not_found",
                           oh_result=oh_result, win_status=WinStatus.ProfileNotPresent)


async def switch_to(workflow_self: OperationWorkflow, card: Card, iccid: str, *, port: int,
                    force_disable: bool, operation: str) -> OperationResult:
    """Enable ``iccid`` (the eUICC disables the profile enabled on the port in the same step)."""
    workflow_self.phase("reading profiles")
    profiles = await profiles_on(card)
    context = context_of(profiles, port)
    target = context.profiles.get(iccid)
    if target is None:
        raise profile_not_found(iccid)
    if target.state == ProfilePhase.ENABLED:
        return await _finish_enabled_earlier(workflow_self, card, iccid, operation)
    holder = context.enabled_on(port)
    if holder is not None and not force_disable:
        raise OperationFailed.of(MustDisableProfileError(
            f"profile {holder.iccid} is enabled; switching disables it: confirm with force_disable_profile"),
            data={"enabled_iccid": holder.iccid})
    target.enable(reason=f"switch from {holder.iccid}" if holder else "switch")  # PPR/class guards

    workflow_self.phase("enabling", iccid)
    try:
        await card.call(CardStep.ENABLE_PROFILE, EnableProfileInput(card.ref, iccid, refresh=True),
                        retry=policies.card_retry())
    except StepFailed as failure:
        # a retry after a lost answer finds the profile already enabled: that is success
        if not failure.kind.endswith("profileNotInDisabledState") or not await _is_enabled(card, iccid):
            raise
    await record_changes(card, context.journal, operation)  # the holder's disable, then the enable

    workflow_self.phase("delivering notifications")
    notifications = await deliver_notifications(card)
    return OperationResult.success(operation, card.device.eid, {
        "iccid": iccid, "disabled_iccid": holder.iccid if holder else None, "notifications": notifications,
    }, message=f"{iccid} enabled")


async def _finish_enabled_earlier(workflow_self: OperationWorkflow, card: Card, iccid: str,
                                  operation: str) -> OperationResult:
    """The profile is enabled already: by someone before us, or by a run of this step whose
    worker died right after the card enabled it (before anything was recorded). The card tells
    which: its enable notification is then still pending, and the change is recorded and
    delivered now, as the step would have."""
    pending = await _pending(card)
    if not any(n.iccid == iccid and n.event == "enable" for n in pending):
        return OperationResult.success(operation, card.device.eid, {"iccid": iccid, "already_enabled": True},
                                       message=f"{iccid} is already enabled")
    disabled = next((n.iccid for n in pending if n.event == "disable" and n.iccid != iccid), None)
    if disabled is not None:
        await record_status(card, disabled, operation, "disable", fallback=Status.ENABLED)
    await record_status(card, iccid, operation, "enable", fallback=Status.DISABLED)
    workflow_self.phase("delivering notifications")
    notifications = await deliver_notifications(card)
    return OperationResult.success(operation, card.device.eid, {
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


@workflow.defn(name=Operation.SWITCH_PROFILE)
class SwitchProfileWorkflow(OperationWorkflow):
    operation = Operation.SWITCH_PROFILE

    @workflow.run
    async def run(self, request: SwitchProfileInput) -> OperationResult:
        async def body() -> OperationResult:
            card = await card_of(self.context, request.eid)
            return await switch_to(self, card, request.iccid, port=request.port_index,
                                   force_disable=request.force_disable_profile, operation=self.operation)

        return await conclude(self, request.eid, body)


@workflow.defn(name=Operation.DELETE_PROFILE)
class DeleteProfileWorkflow(OperationWorkflow):
    operation = Operation.DELETE_PROFILE

    @workflow.run
    async def run(self, request: DeleteProfileInput) -> OperationResult:
        return await conclude(self, request.eid, lambda: self._delete(request))

    async def _delete(self, request: DeleteProfileInput) -> OperationResult:
        card = await card_of(self.context, request.eid)
        self.phase("reading profiles")
        context = context_of(await profiles_on(card))
        target = context.profiles.get(request.iccid)
        if target is None:
            if not await _pending(card, request.iccid, "delete"):
                raise profile_not_found(request.iccid, oh_result=OhResultCode.RESULT_NOTHING_TO_DELETE)
            # deleted by a run of this step whose worker died right after the card did it
            return await self._deleted(card, request)
        if target.state == ProfilePhase.ENABLED:  # the eUICC would refuse it (profileNotInDisabledState)
            raise OperationFailed.of(MustDisableProfileError(
                f"profile {request.iccid} is enabled: switch to another profile before deleting it"))
        target.delete(reason="user request")  # PPR2 guard

        self.phase("deleting", request.iccid)
        try:
            await card.call(CardStep.DELETE_PROFILE, ProfileRefInput(card.ref, request.iccid))
        except StepFailed as failure:
            if not failure.kind.endswith("iccidOrAidNotFound") or await profiles_on(card, request.iccid):
                raise  # (a retry after a lost answer finds it gone: that is success)
        return await self._deleted(card, request)

    async def _deleted(self, card: Card, request: DeleteProfileInput) -> OperationResult:
        await record_status(card, request.iccid, self.operation, "delete", fallback=Status.DISABLED)
        self.phase("delivering notifications")
        notifications = await deliver_notifications(card)
        return OperationResult.success(self.operation, request.eid,
                                       {"iccid": request.iccid, "notifications": notifications},
                                       message=f"{request.iccid} deleted")


@workflow.defn(name=Operation.SET_NICKNAME)
class SetNicknameWorkflow(OperationWorkflow):
    operation = Operation.SET_NICKNAME

    @workflow.run
    async def run(self, request: SetNicknameInput) -> OperationResult:
        async def body() -> OperationResult:
            card = await card_of(self.context, request.eid)
            self.phase("setting nickname")
            await card.call(CardStep.SET_NICKNAME, SetNicknameStepInput(card.ref, request.iccid, request.nickname))
            return OperationResult.success(self.operation, request.eid,
                                           {"iccid": request.iccid, "nickname": request.nickname})

        return await conclude(self, request.eid, body)


@workflow.defn(name=Operation.LIST_PROFILES)
class ListProfilesWorkflow(OperationWorkflow):
    operation = Operation.LIST_PROFILES

    @workflow.run
    async def run(self, request: ListProfilesInput) -> OperationResult:
        async def body() -> OperationResult:
            card = await card_of(self.context, request.eid)
            self.phase("reading profiles")
            profiles = await profiles_on(card)
            return OperationResult.success(self.operation, request.eid, {
                "profiles": [dataclasses.asdict(profile) for profile in profiles],
                # a card in a PC/SC reader can be taken out; an in-process eUICC is soldered in
                "is_removable": card.device.reader.startswith("pcsc:"),
            })

        return await conclude(self, request.eid, body)
