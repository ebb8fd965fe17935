"""The common authentication of an RSP session (SGP.22 3.1.2/3.1.3) and its cancellation,
shared by DownloadProfile, GetDownloadableProfileMetadata and GetDownloadableProfiles.

The DownloadSession machine says which CancelSessionReason is legal in each phase; a cancel
is sent to the card first (which signs it) and then, with that signature, to the SM-DP+.
"""
from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import (
        AuthenticateClientResult,
        AuthenticateClientStepInput,
        AuthenticateServerStepInput,
        CardCancelSessionInput,
        CardStep,
        EuiccAuthData,
        InitiateAuthenticationResult,
        InitiateAuthenticationStepInput,
        NetCancelSessionInput,
        NetStep,
        ReadAuthDataInput,
    )
    from esimflow.contract import ProfileInfo
    from esimflow.machines import DownloadSession
    from sgp22.es10_enums import CancelSessionReason
    from esimflow.workflows import policies
    from esimflow.workflows.steps import Card, StepFailed, net_call


@dataclass
class Authenticated:
    server_address: str
    init: InitiateAuthenticationResult
    auth: AuthenticateClientResult
    profiles: list[ProfileInfo] | None = None  # on the card before the session, when asked for

    @property
    def transaction_id(self) -> str:
        return self.init.transaction_id


async def mutual_authentication(card: Card, session: DownloadSession, server_address: str,
                                matching_id: str | None, *, expected_oid: str | None = None,
                                on_transaction=None, with_profiles: bool = False) -> Authenticated:
    """GetEUICCChallenge/Info1, initiateAuthentication, AuthenticateServer, authenticateClient.

    Leaves ``session`` in ``metadata_reviewed`` (or ``authenticated`` if authenticateClient
    failed, so the caller can cancel the card's session with a legal reason). ``with_profiles``:
    also list the card's profiles, in the card step that starts the session.
    """
    euicc = await card.call(CardStep.READ_AUTH_DATA, ReadAuthDataInput(card.ref, with_profiles), EuiccAuthData)
    init = await net_call(
        NetStep.INITIATE_AUTHENTICATION,
        InitiateAuthenticationStepInput(server_address, euicc.euicc_challenge, euicc.euicc_info1, expected_oid),
        InitiateAuthenticationResult,
    )
    if on_transaction is not None:
        on_transaction(init.transaction_id)
    session.subject = init.transaction_id
    authenticate_server_response = await card.call(
        CardStep.AUTHENTICATE_SERVER,
        AuthenticateServerStepInput(
            card.ref, init.transaction_id, init.server_signed1, init.server_signature1,
            init.euicc_ci_pkid, init.server_certificate, matching_id,
        ),
        str,
    )
    session.authenticate()
    auth = await net_call(
        NetStep.AUTHENTICATE_CLIENT,
        AuthenticateClientStepInput(server_address, init.transaction_id, authenticate_server_response),
        AuthenticateClientResult,
    )
    session.review_metadata(cc_required=auth.metadata.confirmation_code_required)
    return Authenticated(server_address, init, auth, euicc.profiles)


async def cancel_session(card: Card, session: DownloadSession, server_address: str | None,
                         transaction_id: str | None, wanted: CancelSessionReason | int) -> dict:
    """Cancel on the card and then at the SM-DP+ with the reason the session machine allows
    (``DownloadSession.cancel_reason``: ``wanted``, or undefinedReason reported as a replacement).

    Best effort after the decision: a card that already dropped the session (it answers
    invalidTransactionId) has nothing to sign, and the SM-DP+ then ends the session on its own
    timeout; the outcome says what happened.
    """
    reason = session.cancel_reason(wanted)
    if reason is None or transaction_id is None:
        return {"cancelled": False, "reason": None, "detail": "no session held"}
    outcome: dict = {"cancelled": True, "reason": reason.name, "transaction_id": transaction_id,
                     "card": "ok", "smdp": "not sent"}
    if reason != wanted:  # the caller asked for a reason this phase does not allow: say so
        outcome["requested"] = CancelSessionReason(int(wanted)).name
        workflow.logger.warning("cancel reason %s is not legal in %s: cancelled with %s",
                                outcome["requested"], session.phase, reason.name)
    session.cancel(reason)
    try:
        signed = await card.call(CardStep.CANCEL_SESSION,
                                 CardCancelSessionInput(card.ref, transaction_id, int(reason)), str,
                                 retry=policies.card_retry())
    except StepFailed as failure:
        outcome["card"] = failure.kind
        return outcome
    if server_address:
        try:
            await net_call(NetStep.CANCEL_SESSION,
                           NetCancelSessionInput(server_address, transaction_id, signed))
            outcome["smdp"] = "ok"
        except StepFailed as failure:
            outcome["smdp"] = failure.kind
    return outcome
