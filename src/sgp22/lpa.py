"""The plain (non-durable) LPA: profile download and notification delivery composed from ES10
and ES9+/ES11, with the checks an LPA owes the user (server address, transaction, SM-DP+ OID,
profile metadata, policy rules) and session cancellation on failure.

Each step is its own function taking and returning plain dataclasses (hex strings for bytes),
so a durable engine can run them one at a time; `download` and `process_notifications` run
them in order for the lab, the CLI and the benchmark baseline. Card steps are synchronous
(pyscard blocks); network steps are async.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sgp22 import certs, codec, crypto, es10
from sgp22.errors import (
    BadInputError,
    EsimError,
    MalformedDataError,
    ServerAddressMismatchError,
    ServerResponseError,
)
from sgp22.es9 import Es9Client, Es11Client, EventEntry, RspServerClient, TransactionMismatchError, parse_server_address
from sgp22.es10_base import Es10Channel
from sgp22.es10_enums import CancelSessionReason, PprFlags, PprIds
from sgp22.es10_types import DeviceInfo, OperatorId, ProfileMetadata, RatRule
from sgp22.identifiers import ActivationCode
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
    oh_result = OhResultCode.RESULT_SOLVABLE_ERRORS
    win_status = WinStatus.ConfirmationCodeMissing


class MetadataMismatchError(ServerResponseError):
    """The BPP installs other profile metadata than authenticateClient announced."""

    kind = "lpa.metadata_mismatch"
    retryable = False
    win_status = WinStatus.ProfileProcessingError


class PolicyRulesNotAllowedError(EsimError):
    """The profile carries policy rules the eUICC's Rules Authorisation Table does not allow,
    or that need a consent the caller did not give."""

    kind = "lpa.ppr_not_allowed"
    oh_result = OhResultCode.RESULT_PPR_NOT_MATCH
    win_status = WinStatus.PolicyViolation


# --- Step results ------------------------------------------------------------------------------------


@dataclass
class EuiccAuthData:
    euicc_challenge: str
    euicc_info1: str


@dataclass
class ServerChallenge:
    """initiateAuthentication's answer, checked against what the LPA asked for."""

    smdp_address: str
    transaction_id: str
    server_signed1: str = field(repr=False)
    server_signature1: str = field(repr=False)
    euicc_ci_pkid: str
    server_certificate: str = field(repr=False)


@dataclass
class AuthResult:
    transaction_id: str
    # carries the matching ID (in euiccSigned1.ctxParams1): keep it out of reprs
    authenticate_server_response: str = field(repr=False)


@dataclass
class ProfileOffer:
    """What the SM-DP+ will install (its metadata) and what PrepareDownload needs."""

    transaction_id: str
    iccid: str
    service_provider_name: str
    profile_name: str
    profile_class: int
    ppr_ids: int
    cc_required: bool
    profile_metadata: str = field(repr=False)
    smdp_signed2: str = field(repr=False)
    smdp_signature2: str = field(repr=False)
    smdp_certificate: str = field(repr=False)


@dataclass
class PrepareResult:
    transaction_id: str
    prepare_download_response: str = field(repr=False)


@dataclass
class BppResult:
    transaction_id: str
    iccid: str
    segments: int
    bound_profile_package: str = field(repr=False)


@dataclass
class InstallResult:
    """The eUICC's ProfileInstallationResult; ``pir`` must still be sent to the SM-DP+."""

    ok: bool
    iccid: str | None
    transaction_id: str
    seq_number: int
    notification_address: str
    isdp_aid: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    pir: str = field(default="", repr=False)


@dataclass
class DownloadResult:
    iccid: str
    transaction_id: str
    isdp_aid: str | None
    install: InstallResult
    pir_delivered: bool


@dataclass
class NotificationOutcome:
    seq_number: int
    event: str
    address: str
    delivered: bool
    error_kind: str | None = None
    error_message: str | None = None


# --- Authentication --------------------------------------------------------------------------------


def read_euicc_auth_data(isdr: Es10Channel) -> EuiccAuthData:
    info1 = es10.get_euicc_info1(isdr)
    challenge = es10.get_euicc_challenge(isdr)
    return EuiccAuthData(euicc_challenge=_hex(challenge), euicc_info1=_hex(info1.raw))


def check_server_signed1(server_signed1: bytes, *, transaction_id: str, smdp_address: str, euicc_challenge: bytes) -> None:
    """What an LPA verifies in serverSigned1 before handing it to the eUICC: it names the server
    we contacted, the transaction the server announced and the challenge the eUICC made."""
    try:
        signed = codec.decode("ServerSigned1", server_signed1)
    except MalformedDataError as exc:
        raise ServerResponseError(f"serverSigned1 does not decode: {exc.message}") from None
    if signed["serverAddress"].lower() != smdp_address.lower():
        raise ServerAddressMismatchError(
            f"serverSigned1 names SM-DP+ {signed['serverAddress']!r}, but {smdp_address!r} was contacted"
        )
    if signed["transactionId"] != bytes.fromhex(transaction_id):
        raise TransactionMismatchError(
            f"serverSigned1 carries transaction {_hex(signed['transactionId'])}, the answer {transaction_id}"
        )
    if signed["euiccChallenge"] != euicc_challenge:
        raise ServerResponseError("serverSigned1 does not carry the eUICC's challenge", kind="lpa.challenge_mismatch",
                                  retryable=False)


def check_smdp_oid(server_certificate: bytes, expected_oid: str) -> None:
    """The activation code may pin the SM-DP+ OID; the DPauth certificate must carry it."""
    found = certs.smdp_oid_of(certs.load_certificate(server_certificate))
    if found != expected_oid:
        raise ServerAddressMismatchError(
            f"the SM-DP+ certificate carries OID {found}, the activation code names {expected_oid}",
            kind="server.oid_mismatch",
        )


async def initiate_authentication(
    server: RspServerClient, euicc: EuiccAuthData, *, expected_oid: str | None = None
) -> ServerChallenge:
    challenge = _bytes(euicc.euicc_challenge, "eUICC challenge")
    answer = await server.initiate_authentication(challenge, _bytes(euicc.euicc_info1, "EUICCInfo1"))
    check_server_signed1(
        answer.server_signed1,
        transaction_id=answer.transaction_id,
        smdp_address=server.address.text,
        euicc_challenge=challenge,
    )
    if expected_oid:
        check_smdp_oid(answer.server_certificate, expected_oid)
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
    request = es10.AuthenticateServerRequest(
        es10.ServerAuthentication(
            server_signed1=bytes.fromhex(challenge.server_signed1),
            server_signature1=bytes.fromhex(challenge.server_signature1),
            euicc_ci_pkid_to_be_used=bytes.fromhex(challenge.euicc_ci_pkid),
            server_certificate=bytes.fromhex(challenge.server_certificate),
        ),
        matching_id,
        device_info or DeviceInfo(),
    )
    result = es10.authenticate_server(isdr, request)
    if result.transaction_id != bytes.fromhex(challenge.transaction_id):
        raise MalformedDataError(
            f"the eUICC signed transaction {_hex(result.transaction_id)}, not {challenge.transaction_id}"
        )
    return AuthResult(transaction_id=challenge.transaction_id, authenticate_server_response=_hex(result.raw))


def check_smdp_signed2(smdp_signed2: bytes, transaction_id: str) -> bool:
    """smdpSigned2 must belong to our transaction; returns its ccRequiredFlag."""
    try:
        signed = codec.decode("SmdpSigned2", smdp_signed2)
    except MalformedDataError as exc:
        raise ServerResponseError(f"smdpSigned2 does not decode: {exc.message}") from None
    if signed["transactionId"] != bytes.fromhex(transaction_id):
        raise TransactionMismatchError(
            f"smdpSigned2 carries transaction {_hex(signed['transactionId'])}, not {transaction_id}"
        )
    return bool(signed["ccRequiredFlag"])


def decode_metadata(raw: bytes) -> ProfileMetadata:
    try:
        return ProfileMetadata.from_asn1(raw, codec.decode("StoreMetadataRequest", raw))
    except MalformedDataError as exc:
        raise ServerResponseError(f"profile metadata does not decode: {exc.message}") from None


async def authenticate_client(es9: Es9Client, auth: AuthResult) -> ProfileOffer:
    answer = await es9.authenticate_client(auth.transaction_id, bytes.fromhex(auth.authenticate_server_response))
    cc_required = check_smdp_signed2(answer.smdp_signed2, auth.transaction_id)
    metadata = decode_metadata(answer.profile_metadata)
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


def _operator_matches(allowed: OperatorId, owner: OperatorId | None) -> bool:
    """RAT operator entries may use the nibble E as a wildcard (SGP.22 2.9.2.x)."""
    if owner is None:
        return all(nibble == 0xE for byte in allowed.mcc_mnc for nibble in (byte >> 4, byte & 0x0F))
    for want, have in zip(allowed.mcc_mnc, owner.mcc_mnc):
        for shift in (4, 0):
            nibble = (want >> shift) & 0x0F
            if nibble != 0xE and nibble != (have >> shift) & 0x0F:
                return False
    return all(
        getattr(allowed, gid) is None or getattr(allowed, gid) == getattr(owner, gid) for gid in ("gid1", "gid2")
    )


def policy_rules_decision(rat: list[RatRule], metadata: ProfileMetadata) -> tuple[bool, bool]:
    """(allowed, consent_required) for a profile's PPR1/PPR2 against the eUICC's RAT."""
    wanted = metadata.ppr_ids & (PprIds.ppr1 | PprIds.ppr2)
    if not wanted:
        return True, False
    for rule in rat:
        if wanted & ~rule.ppr_ids & (PprIds.ppr1 | PprIds.ppr2):
            continue
        if any(_operator_matches(operator, metadata.profile_owner) for operator in rule.allowed_operators):
            return True, bool(rule.ppr_flags & PprFlags.consentRequired)
    return False, False


def check_policy_rules(isdr: Es10Channel, offer: ProfileOffer, *, accept_policy_rules: bool) -> None:
    metadata = decode_metadata(bytes.fromhex(offer.profile_metadata))
    if not metadata.ppr_ids & (PprIds.ppr1 | PprIds.ppr2):
        return
    allowed, consent_required = policy_rules_decision(es10.get_rat(isdr), metadata)
    if not allowed:
        raise PolicyRulesNotAllowedError(
            f"profile {metadata.iccid} carries policy rules {metadata.ppr_ids!r} that this eUICC does not allow"
        )
    if consent_required and not accept_policy_rules:
        raise PolicyRulesNotAllowedError(
            f"profile {metadata.iccid} carries policy rules that need the user's consent",
            kind="lpa.ppr_consent_required",
        )


# --- Download ---------------------------------------------------------------------------------------


def prepare(isdr: Es10Channel, offer: ProfileOffer, confirmation_code: str | None = None) -> PrepareResult:
    transaction = bytes.fromhex(offer.transaction_id)
    if offer.cc_required and not confirmation_code:
        raise ConfirmationCodeRequiredError("the SM-DP+ requires a confirmation code for this profile")
    hash_cc = crypto.hash_confirmation_code(confirmation_code, transaction) if offer.cc_required else None
    result = es10.prepare_download(isdr, es10.PrepareDownloadRequest(
        smdp_signed2=bytes.fromhex(offer.smdp_signed2),
        smdp_signature2=bytes.fromhex(offer.smdp_signature2),
        smdp_certificate=bytes.fromhex(offer.smdp_certificate),
        hash_cc=hash_cc,
    ))
    if result.transaction_id != transaction:
        raise MalformedDataError(f"the eUICC prepared transaction {_hex(result.transaction_id)}, not {offer.transaction_id}")
    return PrepareResult(transaction_id=offer.transaction_id, prepare_download_response=_hex(result.raw))


def check_bpp_metadata(installed: ProfileMetadata, offer: ProfileOffer) -> None:
    """The BPP's readable StoreMetadata must be what authenticateClient announced."""
    announced = decode_metadata(bytes.fromhex(offer.profile_metadata))
    if not installed.same_content(announced):
        raise MetadataMismatchError(
            f"the bound profile package installs {installed.iccid}, the offer announced {announced.iccid} "
            "(or other metadata differs)"
        )


async def fetch_bpp(es9: Es9Client, prepared: PrepareResult, offer: ProfileOffer) -> BppResult:
    answer = await es9.get_bound_profile_package(prepared.transaction_id, bytes.fromhex(prepared.prepare_download_response))
    bpp = answer.bound_profile_package
    try:
        segments = es10.bpp_segments(bpp)
        metadata = es10.bpp_profile_metadata(bpp)
    except MalformedDataError as exc:
        raise ServerResponseError(f"bound profile package: {exc.message}", retryable=False) from None
    check_bpp_metadata(metadata, offer)
    return BppResult(
        transaction_id=prepared.transaction_id, iccid=metadata.iccid, segments=len(segments),
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
    """Which CancelSessionReason tells the SM-DP+ why a download stopped."""
    if isinstance(error, ConfirmationCodeRequiredError):
        return CancelSessionReason.postponed
    if isinstance(error, PolicyRulesNotAllowedError):
        if error.kind == "lpa.ppr_consent_required":
            return CancelSessionReason.endUserRejection
        return CancelSessionReason.pprNotAllowed
    if isinstance(error, MetadataMismatchError):
        return CancelSessionReason.metadataMismatch
    return CancelSessionReason.undefinedReason


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
    code = ActivationCode.parse(activation_code)
    if parse_server_address(code.smdp_address).text.lower() != es9.address.text.lower():
        raise BadInputError(f"the activation code names {code.smdp_address!r}, the client talks to {es9.address.text!r}")
    es9.add_secret(code.matching_id)
    es9.add_secret(confirmation_code)

    def progress(phase: str) -> None:
        if on_progress is not None:
            on_progress(phase)

    progress("authenticating")
    euicc = read_euicc_auth_data(isdr)
    challenge = await initiate_authentication(es9, euicc, expected_oid=code.smdp_oid or None)
    auth = authenticate_server(isdr, challenge, code.matching_id or None, device_info)
    transaction_id = auth.transaction_id
    try:
        offer = await authenticate_client(es9, auth)
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
        await abandon(isdr, es9, transaction_id, CancelSessionReason.loadBppExecutionError)
        raise
    progress("notifying")
    delivered = await _deliver_pir(isdr, es9, installed)
    if not installed.ok:
        raise es10.installation_error(es10.decode_installation_result(bytes.fromhex(installed.pir)))
    return DownloadResult(
        iccid=installed.iccid or bpp.iccid,
        transaction_id=transaction_id,
        isdp_aid=installed.isdp_aid,
        install=installed,
        pir_delivered=delivered,
    )


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
    """Ask an SM-DS which downloads wait for this eUICC (ES11 event retrieval)."""
    euicc = read_euicc_auth_data(isdr)
    challenge = await initiate_authentication(es11, euicc)
    auth = authenticate_server(isdr, challenge, None, device_info)
    answer = await es11.authenticate_client(auth.transaction_id, bytes.fromhex(auth.authenticate_server_response))
    return answer.events
