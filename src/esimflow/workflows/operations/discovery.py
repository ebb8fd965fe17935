"""GetDownloadableProfiles: what waits for this eUICC at its default SM-DP+ and at its root
SM-DS, without installing anything.

- Default SM-DP+: a session without a matching ID; if the SM-DP+ holds a profile for this EID
  it answers with the metadata, and the session is cancelled with ``postponed``.
- Root SM-DS (ES11): mutual authentication returns the event records; each names the SM-DP+ and
  the EventID to use as matching ID, given back as an activation code.
A source that fails is reported in ``errors`` and does not hide the other's answer.
"""
from __future__ import annotations

import dataclasses

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import (
        AuthenticateClientStepInput,
        AuthenticateServerStepInput,
        CardInput,
        CardStep,
        ConfiguredAddresses,
        EuiccAuthData,
        InitiateAuthenticationResult,
        InitiateAuthenticationStepInput,
        NetStep,
        SmdsAuthenticateClientResult,
    )
    from esimflow.contract import DownloadableProfile, GetDownloadableProfilesInput, OperationResult
    from esimflow.machines import DownloadSession
    from sgp22.cancel_reasons import Stop, cancel_reason
    from esimflow.openharmony import downloadable_profile_json
    from esimflow.workflows.operations.context import OperationContext
    from esimflow.workflows.rsp import cancel_session, mutual_authentication
    from esimflow.workflows.steps import Card, StepFailed, net_call
    from sgp22.results import OhResultCode, WinStatus


async def get_downloadable_profiles(ctx: OperationContext, request: GetDownloadableProfilesInput) -> OperationResult:
    card = await ctx.card(request.eid)
    addresses = await card.call(CardStep.GET_CONFIGURED_ADDRESSES, CardInput(card.ref), ConfiguredAddresses)
    profiles: list[dict] = []
    errors: list[dict] = []
    if addresses.default_dp_address:
        ctx.phase("asking the default SM-DP+")
        try:
            profiles.extend(await _default_smdp(card, addresses.default_dp_address))
        except StepFailed as failure:
            errors.append({"source": "smdp", "address": addresses.default_dp_address,
                           "error_kind": failure.kind, "message": failure.message})
    if addresses.root_ds_address:
        ctx.phase("asking the SM-DS")
        try:
            profiles.extend(await _smds(card, addresses.root_ds_address))
        except StepFailed as failure:
            errors.append({"source": "smds", "address": addresses.root_ds_address,
                           "error_kind": failure.kind, "message": failure.message})
    if errors and not profiles and len(errors) == sum(
            1 for address in (addresses.default_dp_address, addresses.root_ds_address) if address):
        first = errors[0]
        return OperationResult.failure(
            ctx.operation, request.eid, oh_result=OhResultCode.RESULT_NO_PROFILE_ON_SERVER,
            win_status=WinStatus.NoEligibleProfileForThisDevice,
            error_kind=first["error_kind"], message=first["message"], data={"profiles": [], "errors": errors},
        )
    return OperationResult.success(ctx.operation, request.eid, {
        "profiles": profiles, "errors": errors,
        "downloadable_profiles": [_openharmony_shape(entry) for entry in profiles],
    })

async def _default_smdp(card: Card, address: str) -> list[dict]:
    session = DownloadSession()
    transaction: list[str] = []
    try:
        authenticated = await mutual_authentication(card, session, address, None,
                                                    on_transaction=transaction.append)
    except StepFailed as failure:
        await cancel_session(card, session, None, transaction[-1] if transaction else None,
                             cancel_reason(Stop.STEP_FAILED))
        if failure.kind.startswith("es9."):  # the SM-DP+ holds nothing for this EID
            return []
        raise
    await cancel_session(card, session, address, authenticated.transaction_id, cancel_reason(Stop.PREVIEW_DONE))
    return [{**dataclasses.asdict(DownloadableProfile(smdp_address=address, source="smdp")),
             "metadata": dataclasses.asdict(authenticated.auth.metadata)}]

async def _smds(card: Card, address: str) -> list[dict]:
    euicc = await card.call(CardStep.READ_AUTH_DATA, CardInput(card.ref), EuiccAuthData)
    init = await net_call(NetStep.SMDS_INITIATE_AUTHENTICATION,
                          InitiateAuthenticationStepInput(address, euicc.euicc_challenge, euicc.euicc_info1),
                          InitiateAuthenticationResult)
    session = DownloadSession(init.transaction_id)
    response = await card.call(CardStep.AUTHENTICATE_SERVER, AuthenticateServerStepInput(
        card.ref, init.transaction_id, init.server_signed1, init.server_signature1, init.euicc_ci_pkid,
        init.server_certificate, None), str)
    session.authenticate()
    try:
        events = await net_call(NetStep.SMDS_AUTHENTICATE_CLIENT,
                                AuthenticateClientStepInput(address, init.transaction_id, response),
                                SmdsAuthenticateClientResult)
    finally:
        # the eUICC holds a session after AuthenticateServer and an SM-DS never ends it, so
        # end it here, with the reason the session machine allows (no metadata was shown:
        # undefinedReason); the card only, the SM-DS has no session to cancel
        await cancel_session(card, session, None, init.transaction_id, cancel_reason(Stop.EVENTS_RETRIEVED))
    return [dataclasses.asdict(DownloadableProfile(
        smdp_address=event.smdp_address, activation_code=f"LPA:1${event.smdp_address}${event.event_id}",
        source="smds", event_id=event.event_id)) for event in events.events]


def _openharmony_shape(entry: dict) -> dict:
    """OpenHarmony's ``DownloadableProfile`` for one entry: what ``download --profile-json``
    takes back. A default-SM-DP+ entry has no activation code (the eUICC's default address is
    used); its carrier name and rules come from the metadata the SM-DP+ showed."""
    metadata = entry.get("metadata") or {}
    return downloadable_profile_json(entry.get("activation_code"), metadata.get("service_provider_name", ""),
                                     metadata.get("access_rules"))
