"""The plain (non-durable) LPA: profile download and notification delivery composed from ES10
and ES9+/ES11, with session cancellation on failure.

The checks and decisions of each phase (server address, transaction, SM-DP+ OID, profile
metadata, policy rules, which CancelSessionReason) are `sgp22.download_steps` and
`sgp22.cancel_reasons`, which the engine's activities and workflow use too; this module only
runs them in order over a card and a client, for the lab, the CLI and the benchmark baseline.
Card steps are synchronous (pyscard blocks); network steps are async.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from sgp22 import download_steps as steps
from sgp22 import es10
from sgp22.cancel_reasons import Stop, cancel_reason
from sgp22.errors import BadInputError, EsimError, ServerResponseError
from sgp22.es9 import Es9Client, Es11Client, RspServerClient
from sgp22.es9_types import EventEntry, parse_server_address
from sgp22.es10_base import Es10Channel
from sgp22.es10_enums import CancelSessionReason
from sgp22.es10_session_types import DeviceInfo
from sgp22.activation_code import ActivationCode
from sgp22.lpa_types import (
    AuthResult,
    BppResult,
    DownloadResult,
    EuiccAuthData,
    InstallResult,
    NotificationOutcome,
    PrepareResult,
    ProfileOffer,
    ServerChallenge,
)
from sgp22.results import OhResultCode, WinStatus

log = logging.getLogger(__name__)

Es9Factory = Callable[[str], Es9Client]


def _hex(data: bytes) -> str:
    return data.hex().upper()


def _bytes(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except (TypeError, ValueError):
        raise BadInputError(f"{what} is not hex") from None


# --- Errors the LPA itself raises -------------------------------------------------------------------


class ConfirmationCodeRequiredError(BadInputError):
    """The SM-DP+ requires a confirmation code and none was given (the order stays open)."""

    kind = "lpa.confirmation_code_required"
    stop = Stop.CONFIRMATION_CODE_MISSING
    oh_result = OhResultCode.RESULT_SOLVABLE_ERRORS
    win_status = WinStatus.ConfirmationCodeMissing


class MetadataMismatchError(ServerResponseError):
    """The BPP installs other profile metadata than authenticateClient announced."""

    kind = "lpa.metadata_mismatch"
    stop = Stop.METADATA_MISMATCH
    retryable = False
    win_status = WinStatus.ProfileProcessingError


class PolicyRulesNotAllowedError(EsimError):
    """The profile carries policy rules the eUICC's Rules Authorisation Table does not allow."""

    kind = "lpa.ppr_not_allowed"
    oh_result = OhResultCode.RESULT_PPR_NOT_MATCH
    win_status = WinStatus.PolicyViolation
    stop = Stop.POLICY_RULES_NOT_ALLOWED


class PolicyRulesDeclinedError(PolicyRulesNotAllowedError):
    """The profile's policy rules need the user's consent, which the caller did not give."""

    kind = "lpa.ppr_consent_required"
    stop = Stop.POLICY_RULES_DECLINED


# --- Authentication --------------------------------------------------------------------------------


def read_euicc_auth_data(isdr: Es10Channel) -> EuiccAuthData:
    info1 = es10.get_euicc_info1(isdr)
    challenge = es10.get_euicc_challenge(isdr)
    return EuiccAuthData(euicc_challenge=_hex(challenge), euicc_info1=_hex(info1.raw))


async def initiate_authentication(
    server: RspServerClient, euicc: EuiccAuthData, *, expected_oid: str | None = None
) -> ServerChallenge:
    challenge = _bytes(euicc.euicc_challenge, "eUICC challenge")
    answer = await server.initiate_authentication(challenge, _bytes(euicc.euicc_info1, "EUICCInfo1"))
    steps.check_server_signed1(
        answer.server_signed1,
        transaction_id=answer.transaction_id,
        smdp_address=server.address.text,
        euicc_challenge=challenge,
    )
    if expected_oid:
        steps.check_smdp_oid(answer.server_certificate, expected_oid)
    return ServerChallenge(
        smdp_address=server.address.text,
        transaction_id=answer.transaction_id,
        server_signed1=_hex(answer.server_signed1),
        server_signature1=_hex(answer.server_signature1),
        euicc_ci_pkid=_hex(answer.euicc_ci_pkid_to_be_used),
        server_certificate=_hex(answer.server_certificate),
    )


def authenticate_server(
    isdr: Es10Channel, challenge: ServerChallenge, matching_id: str | None, device_info: DeviceInfo | None = None
) -> AuthResult:
    request = steps.authenticate_server_request(
        challenge.server_signed1, challenge.server_signature1, challenge.euicc_ci_pkid, challenge.server_certificate,
        matching_id, device_info,
    )
    result = es10.authenticate_server(isdr, request)
    steps.check_card_transaction(result.transaction_id, challenge.transaction_id, "signed")
    return AuthResult(transaction_id=challenge.transaction_id, authenticate_server_response=_hex(result.raw))


async def authenticate_client(es9: Es9Client, auth: AuthResult) -> ProfileOffer:
    answer = await es9.authenticate_client(auth.transaction_id, bytes.fromhex(auth.authenticate_server_response))
    cc_required = steps.check_smdp_signed2(answer.smdp_signed2, auth.transaction_id)
    metadata = steps.decode_metadata(answer.profile_metadata)
    return ProfileOffer(
        transaction_id=auth.transaction_id,
        iccid=metadata.iccid,
        service_provider_name=metadata.service_provider_name,
        profile_name=metadata.profile_name,
        profile_class=int(metadata.profile_class),
        ppr_ids=int(metadata.ppr_ids),
        cc_required=cc_required,
        profile_metadata=_hex(answer.profile_metadata),
        smdp_signed2=_hex(answer.smdp_signed2),
        smdp_signature2=_hex(answer.smdp_signature2),
        smdp_certificate=_hex(answer.smdp_certificate),
    )


# --- Profile policy rules ------------------------------------------------------------------------


def check_policy_rules(isdr: Es10Channel, offer: ProfileOffer, *, accept_policy_rules: bool) -> None:
    metadata = steps.decode_metadata(bytes.fromhex(offer.profile_metadata))
    if not steps.has_policy_rules(metadata):
        return
    allowed, consent_required = steps.policy_rules_decision(es10.get_rat(isdr), metadata)
    stop = steps.policy_rules_stop(allowed, consent_needed=consent_required, accepted=accept_policy_rules)
    if stop is Stop.POLICY_RULES_NOT_ALLOWED:
        raise PolicyRulesNotAllowedError(
            f"profile {metadata.iccid} carries policy rules {metadata.ppr_ids!r} that this eUICC does not allow"
        )
    if stop is Stop.POLICY_RULES_DECLINED:
        raise PolicyRulesDeclinedError(f"profile {metadata.iccid} carries policy rules that need the user's consent")


# --- Download ---------------------------------------------------------------------------------------


def prepare(isdr: Es10Channel, offer: ProfileOffer, confirmation_code: str | None = None) -> PrepareResult:
    if offer.cc_required and not confirmation_code:
        raise ConfirmationCodeRequiredError("the SM-DP+ requires a confirmation code for this profile")
    result = es10.prepare_download(isdr, steps.prepare_download_request(
        offer.transaction_id, offer.smdp_signed2, offer.smdp_signature2, offer.smdp_certificate,
        confirmation_code if offer.cc_required else None,
    ))
    steps.check_card_transaction(result.transaction_id, offer.transaction_id, "prepared")
    return PrepareResult(transaction_id=offer.transaction_id, prepare_download_response=_hex(result.raw))


async def fetch_bpp(es9: Es9Client, prepared: PrepareResult, offer: ProfileOffer) -> BppResult:
    answer = await es9.get_bound_profile_package(prepared.transaction_id, bytes.fromhex(prepared.prepare_download_response))
    bpp = answer.bound_profile_package
    facts = steps.package_facts(bpp, bytes.fromhex(offer.profile_metadata))
    if steps.package_stop(facts) is Stop.METADATA_MISMATCH:
        raise MetadataMismatchError(
            f"the bound profile package installs {facts.iccid}, the offer announced {offer.iccid} "
            "(or other metadata differs)"
        )
    return BppResult(
        transaction_id=prepared.transaction_id, iccid=facts.iccid, segments=facts.segments,
        bound_profile_package=_hex(bpp),
    )


def install(
    isdr: Es10Channel, bpp: BppResult, on_segment: Callable[[es10.SegmentProgress], None] | None = None
) -> InstallResult:
    """LoadBoundProfilePackage; a PIR reporting failure is returned (``ok`` False), since it
    still has to be delivered to the SM-DP+."""
    pir = es10.load_bound_profile_package(isdr, bytes.fromhex(bpp.bound_profile_package), on_segment)
    error = es10.installation_error(pir)
    return InstallResult(
        ok=pir.ok,
        iccid=pir.iccid,
        transaction_id=_hex(pir.transaction_id),
        seq_number=pir.notification.seq_number,
        notification_address=pir.notification.address,
        isdp_aid=_hex(pir.isdp_aid) if pir.isdp_aid else None,
        error_kind=error.kind if error else None,
        error_message=error.message if error else None,
        pir=_hex(pir.raw),
    )


# --- Cancelling ---------------------------------------------------------------------------------------


def cancel_on_card(isdr: Es10Channel, transaction_id: str, reason: CancelSessionReason) -> str:
    return _hex(es10.cancel_session(isdr, bytes.fromhex(transaction_id), reason))


async def cancel_at_server(es9: Es9Client, transaction_id: str, cancel_session_response: str) -> None:
    await es9.cancel_session(transaction_id, bytes.fromhex(cancel_session_response))


def cancel_reason_for(error: BaseException) -> CancelSessionReason:
    """Which CancelSessionReason tells the SM-DP+ why a download stopped (the LPA's own errors
    name their `Stop`; any other failure is ``Stop.STEP_FAILED``)."""
    return cancel_reason(getattr(error, "stop", Stop.STEP_FAILED))


async def abandon(isdr: Es10Channel, es9: Es9Client, transaction_id: str, reason: CancelSessionReason) -> bool:
    """Cancel the session on the eUICC, then at the SM-DP+; best effort (the caller is already
    failing and reports that failure). True when both sides confirmed."""
    try:
        response = cancel_on_card(isdr, transaction_id, reason)
    except EsimError as exc:
        log.warning("cancelling transaction %s on the eUICC failed: %s", transaction_id, exc.message)
        return False
    try:
        await cancel_at_server(es9, transaction_id, response)
    except EsimError as exc:
        log.warning("cancelling transaction %s at %s failed: %s", transaction_id, es9.address.text, exc.message)
        return False
    return True


# --- Notifications ---------------------------------------------------------------------------------------


async def deliver_notification(es9: Es9Client, isdr: Es10Channel, notification: es10.PendingNotification) -> None:
    """handleNotification, then remove it from the eUICC (only once the SM-DP+ took it)."""
    await es9.handle_notification(notification.raw)
    es10.remove_notification_from_list(isdr, notification.metadata.seq_number)


async def process_notifications(
    isdr: Es10Channel, es9_factory: Es9Factory, *, seq_numbers: list[int] | None = None
) -> list[NotificationOutcome]:
    """Deliver pending notifications to their addresses; one that cannot be delivered stays on
    the eUICC for a later run and does not stop the others. Card failures do stop the run."""
    pending = es10.retrieve_notifications_list(isdr)
    if seq_numbers is not None:
        pending = [item for item in pending if item.metadata.seq_number in set(seq_numbers)]
    outcomes = []
    for item in pending:
        meta = item.metadata
        outcome = NotificationOutcome(meta.seq_number, meta.event_name, meta.address, delivered=False)
        try:
            async with es9_factory(meta.address) as es9:
                await es9.handle_notification(item.raw)
        except EsimError as exc:
            outcome.error_kind, outcome.error_message = exc.kind, exc.message
            outcomes.append(outcome)
            continue
        es10.remove_notification_from_list(isdr, meta.seq_number)
        outcome.delivered = True
        outcomes.append(outcome)
    return outcomes


# --- The whole download ------------------------------------------------------------------------------------


async def download(
    isdr: Es10Channel,
    es9: Es9Client,
    activation_code: str,
    confirmation_code: str | None = None,
    *,
    device_info: DeviceInfo | None = None,
    accept_policy_rules: bool = False,
    on_progress: Callable[[str], None] | None = None,
    on_segment: Callable[[es10.SegmentProgress], None] | None = None,
) -> DownloadResult:
    """Download and install the profile an activation code points to.

    ``es9`` is a client for the activation code's SM-DP+. After AuthenticateServer every failure
    cancels the session on the eUICC and at the SM-DP+ (with the matching CancelSessionReason)
    before it is raised. The PIR is delivered to the SM-DP+ and removed from the eUICC; if that
    delivery fails, it stays pending for `process_notifications`. A PIR reporting failure is
    raised as its ES10 error after delivery.
    """
    code = _code_for(es9, activation_code, confirmation_code)
    progress = on_progress or _no_progress
    progress("authenticating")
    euicc = read_euicc_auth_data(isdr)
    challenge = await initiate_authentication(es9, euicc, expected_oid=code.smdp_oid or None)
    auth = authenticate_server(isdr, challenge, code.matching_id or None, device_info)
    transaction_id = auth.transaction_id
    try:
        offer = await authenticate_client(es9, auth)
        offer = dataclasses.replace(offer, cc_required=steps.confirmation_code_required(
            offer.cc_required, code.confirmation_code_required))
        check_policy_rules(isdr, offer, accept_policy_rules=accept_policy_rules)
        progress("preparing")
        prepared = prepare(isdr, offer, confirmation_code)
        progress("fetching")
        bpp = await fetch_bpp(es9, prepared, offer)
    except Exception as exc:
        await abandon(isdr, es9, transaction_id, cancel_reason_for(exc))
        raise
    progress("installing")
    try:
        installed = install(isdr, bpp, on_segment)
    except Exception:
        await abandon(isdr, es9, transaction_id, cancel_reason(Stop.INSTALL_BROKE_OFF))
        raise
    progress("notifying")
    delivered = await _deliver_pir(isdr, es9, installed)
    failure = None if installed.ok else es10.installation_error(es10.decode_installation_result(bytes.fromhex(installed.pir)))
    if failure is not None:
        raise failure
    return DownloadResult(
        iccid=installed.iccid or bpp.iccid,
        transaction_id=transaction_id,
        isdp_aid=installed.isdp_aid,
        install=installed,
        pir_delivered=delivered,
    )


def _code_for(es9: Es9Client, activation_code: str, confirmation_code: str | None) -> ActivationCode:
    """The activation code, which must name the SM-DP+ ``es9`` talks to; its secrets (and the
    confirmation code) are masked should the server echo them."""
    code = ActivationCode.parse(activation_code)
    if parse_server_address(code.smdp_address).text.lower() != es9.address.text.lower():
        raise BadInputError(f"the activation code names {code.smdp_address!r}, the client talks to {es9.address.text!r}")
    es9.add_secret(code.matching_id)
    es9.add_secret(confirmation_code)
    return code


def _no_progress(phase: str) -> None:
    """No one follows the download's progress."""


async def _deliver_pir(isdr: Es10Channel, es9: Es9Client, installed: InstallResult) -> bool:
    pir = es10.decode_installation_result(bytes.fromhex(installed.pir))
    try:
        await deliver_notification(es9, isdr, pir.as_pending())
    except EsimError as exc:
        log.warning("the installation result stays on the eUICC for later delivery: %s", exc.message)
        return False
    return True


# --- SM-DS discovery ------------------------------------------------------------------------------------


async def discover(isdr: Es10Channel, es11: Es11Client, device_info: DeviceInfo | None = None) -> list[EventEntry]:
    """Ask an SM-DS which downloads wait for this eUICC (ES11 event retrieval). The eUICC holds
    a session after AuthenticateServer that an SM-DS never ends, so it is cancelled on the card
    (as the engine's discovery does), best effort."""
    euicc = read_euicc_auth_data(isdr)
    challenge = await initiate_authentication(es11, euicc)
    auth = authenticate_server(isdr, challenge, None, device_info)
    try:
        answer = await es11.authenticate_client(auth.transaction_id, bytes.fromhex(auth.authenticate_server_response))
    finally:
        try:
            cancel_on_card(isdr, auth.transaction_id, cancel_reason(Stop.EVENTS_RETRIEVED))
        except EsimError as exc:
            log.warning("ending the SM-DS session %s on the eUICC failed: %s", auth.transaction_id, exc.message)
    return answer.events
