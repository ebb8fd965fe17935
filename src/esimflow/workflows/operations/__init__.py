"""Every operation's body: a plain ``async def body(ctx, request) -> OperationResult`` over an
:class:`~esimflow.workflows.operations.context.OperationContext`.

The operation workflows (one thin ``@workflow.defn`` class each) and the workflows that hold an
eUICC (DeviceMigration) run the same bodies through :func:`perform`: the same checks, records
and crash safety. Under a hold the card and network steps are local activities on the card host,
without an update, a child workflow and several workflow tasks per operation.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import Operation, OperationResult
    from esimflow.workflows.operations import discovery, download, euicc, osu, preview, profiles
    from esimflow.workflows.operations.context import OperationContext
    from esimflow.workflows.steps import conclude

Body = Callable[[OperationContext, Any], Awaitable[OperationResult]]

BODIES: dict[str, Body] = {
    Operation.DOWNLOAD_PROFILE: download.download_profile,
    Operation.GET_DOWNLOADABLE_PROFILE_METADATA: preview.preview_profile,
    Operation.GET_DOWNLOADABLE_PROFILES: discovery.get_downloadable_profiles,
    Operation.SWITCH_PROFILE: profiles.switch_profile,
    Operation.DELETE_PROFILE: profiles.delete_profile,
    Operation.SET_NICKNAME: profiles.set_nickname,
    Operation.LIST_PROFILES: profiles.list_profiles,
    Operation.GET_EID: euicc.get_eid,
    Operation.LIST_DEVICES: euicc.list_devices,
    Operation.GET_EUICC_INFO: euicc.get_euicc_info,
    Operation.GET_DEFAULT_SMDP_ADDRESS: euicc.get_default_smdp_address,
    Operation.SET_DEFAULT_SMDP_ADDRESS: euicc.set_default_smdp_address,
    Operation.RESET_MEMORY: euicc.reset_memory,
    Operation.RESERVE_PROFILES_FOR_FACTORY_RESTORE: euicc.reserve_profiles_for_factory_restore,
    Operation.PROCESS_NOTIFICATIONS: euicc.process_notifications,
    Operation.CANCEL_SESSION: euicc.cancel_session,
    Operation.OS_UPDATE: osu.os_update,
}


def subject(request: Any) -> str:
    """Whom the result is about: the eUICC, or the device spec GetEid resolves ("" for all)."""
    return getattr(request, "eid", None) or getattr(request, "device", "")


async def perform(ctx: OperationContext, request: Any, body: Body | None = None) -> OperationResult:
    """Run ``ctx.operation``'s body (or ``body``) on ``request``; always ends with its result."""
    run = body or BODIES[ctx.operation]
    return await conclude(ctx, subject(request), lambda: run(ctx, request))
