"""The card and history steps every operation body shares: the card's profiles, the platform
status record and the delivery of pending notifications."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import (
        CardStep,
        EngineStep,
        HandleNotificationStepInput,
        NetStep,
        PendingNotificationData,
        ProfilesInfoInput,
        ProfilesOnCard,
        RecordProfileStatusInput,
        RemoveNotificationStepInput,
        RetrieveNotificationsStepInput,
    )
    from esimflow.contract import ProfileInfo, ProfileState
    from esimflow.machines import Change, EuiccContext, Status
    from esimflow.machines.euicc_profile import Phase as ProfilePhase
    from esimflow.workflows import policies
    from esimflow.workflows.steps import Card, StepFailed, engine_call, net_call


async def profiles_on(card: Card, iccid: str | None = None) -> list[ProfileInfo]:
    found = await card.call(CardStep.GET_PROFILES_INFO, ProfilesInfoInput(card.ref, iccid), ProfilesOnCard)
    return found.profiles


def context_of(profiles: list[ProfileInfo], port: int = 0) -> EuiccContext:
    """The machines' view of the card, built from what the card just reported."""
    context = EuiccContext()
    for profile in profiles:
        state = ProfilePhase.ENABLED if profile.state == ProfileState.PROFILE_STATE_ENABLED else ProfilePhase.DISABLED
        profile_class = profile.profile_class if profile.profile_class >= 0 else 2
        context.add(profile.iccid, profile_class=profile_class, policy_rules=profile.policy_rules,
                    state=state, port=port)
    return context


# the platform status a card-side phase of the EuiccProfile machine implies
_PLATFORM_STATUS = {ProfilePhase.INSTALLED: Status.INSTALLED, ProfilePhase.DISABLED: Status.DISABLED,
                    ProfilePhase.ENABLED: Status.ENABLED}


async def record_changes(card: Card, changes: list[Change], operation: str) -> None:
    """Record the platform status of every card change the EuiccProfile machines made (their
    context's journal, in order: a switch's implicit disable before the enable), so the history
    says exactly what the machines decided and no caller names the triggers again."""
    for change in changes:
        await record_status(card, str(change.subject), operation, change.trigger,
                            fallback=_PLATFORM_STATUS[ProfilePhase(change.from_state)])


async def record_status(card: Card, iccid: str, operation: str, trigger: str, *, fallback: Status,
                        error_reason: str | None = None) -> None:
    """Move the profile's platform status with ``trigger`` and record the machine's Change; a
    change the platform model does not allow from the recorded status (history written by
    someone else) is recorded as drift, so the card's truth always lands in the history and says
    so. ``fallback``: where the card implies the profile was, the start when the history has
    none. The statuses this workflow recorded (``card.context``) say where the next change starts."""
    known = card.context.known_statuses
    sequences = card.context.status_sequences
    moved_to = await engine_call(
        EngineStep.RECORD_PROFILE_STATUS,
        RecordProfileStatusInput(
            iccid=iccid, eid=card.device.eid, trigger=trigger, fallback=str(fallback), operation=operation,
            workflow_id=workflow.info().workflow_id, at=workflow.now().isoformat(), known=known.get(iccid),
            sequence=sequences.get(iccid, 0), error_reason=error_reason,
        ),
        str,
    )
    if moved_to:
        sequences[iccid] = sequences.get(iccid, 0) + 1
        known[iccid] = moved_to


async def deliver_notifications(card: Card, sequence_numbers: list[int] | None = None, *,
                                patient: bool = False) -> dict:
    """Send pending notifications to their SM-DP+ and remove each from the card once the SM-DP+
    acknowledged it. Best effort: one that cannot be delivered stays on the card for later.
    ``patient``: retry each delivery as long as any network step (ProcessNotifications); by
    default a short try that does not hold up the operation that produced them."""
    retry = policies.net_retry() if patient else policies.notification_retry()
    pending = await card.call(
        CardStep.RETRIEVE_NOTIFICATIONS, RetrieveNotificationsStepInput(card.ref, sequence_numbers),
        list[PendingNotificationData],
    )
    outcome: dict = {"delivered": [], "failed": []}
    for notification in sorted(pending, key=lambda n: n.seq):
        await deliver_one(card, notification, outcome, retry=retry)
    return outcome


async def deliver_one(card: Card, notification: PendingNotificationData, outcome: dict, *,
                      retry=None) -> None:
    """handleNotification, then RemoveNotificationFromList once the SM-DP+ acknowledged it;
    ``outcome`` collects ``delivered`` sequence numbers and ``failed`` entries."""
    try:
        await net_call(NetStep.HANDLE_NOTIFICATION,
                       HandleNotificationStepInput(notification.address, notification.notification),
                       retry=retry or policies.notification_retry())
        await card.call(CardStep.REMOVE_NOTIFICATION, RemoveNotificationStepInput(card.ref, notification.seq))
    except StepFailed as failure:
        outcome["failed"].append({"seq": notification.seq, "event": notification.event,
                                  "error_kind": failure.kind, "message": failure.message})
        return
    outcome["delivered"].append(notification.seq)
