"""GetDownloadableProfileMetadata: authenticate far enough to see the profile metadata, then
cancel with ``postponed`` (the profile stays available at the SM-DP+)."""
from __future__ import annotations

import dataclasses

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import GetDownloadableProfileMetadataInput, OperationResult, SolvableErrors
    from esimflow.machines import DownloadSession
    from sgp22.cancel_reasons import Stop, cancel_reason
    from sgp22.es10_enums import CancelSessionReason
    from esimflow.openharmony import downloadable_profile_json
    from esimflow.workflows.operations.context import OperationContext
    from esimflow.workflows.operations.target import resolve_target
    from esimflow.workflows.rsp import cancel_session, mutual_authentication
    from esimflow.workflows.steps import StepFailed
    from sgp22.activation_code import ActivationCode

R = CancelSessionReason


async def preview_profile(ctx: OperationContext, request: GetDownloadableProfileMetadataInput) -> OperationResult:
    card = await ctx.card(request.eid)
    target = await resolve_target(card, request.activation_code, None)
    session = DownloadSession()
    ctx.phase("authenticating")
    try:
        authenticated = await mutual_authentication(card, session, target.server_address,
                                                    target.matching_id, expected_oid=target.smdp_oid,
                                                    on_transaction=ctx.on_transaction)
    except StepFailed:
        await cancel_session(card, session, None, ctx.progress.transaction_id, cancel_reason(Stop.STEP_FAILED))
        raise
    metadata = authenticated.auth.metadata
    metadata.confirmation_code_required = metadata.confirmation_code_required or target.cc_required
    metadata.solvable_errors = (
        (SolvableErrors.SOLVABLE_ERROR_NEED_POLICY_RULE if metadata.policy_rules else 0)
        | (SolvableErrors.SOLVABLE_ERROR_NEED_CONFIRMATION_CODE if metadata.confirmation_code_required else 0)
    )
    ctx.progress.metadata = metadata
    outcome = await cancel_session(card, session, target.server_address, authenticated.transaction_id,
                                   cancel_reason(Stop.PREVIEW_DONE))
    shown_code = str(ActivationCode.parse(request.activation_code)) if request.activation_code else None
    return OperationResult.success(ctx.operation, request.eid, {
        "metadata": dataclasses.asdict(metadata), "smdp_address": target.server_address, "cancel": outcome,
        "downloadable_profile": downloadable_profile_json(
            shown_code, request.carrier_name or metadata.service_provider_name, metadata.access_rules),
    })
