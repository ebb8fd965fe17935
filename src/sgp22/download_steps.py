"""The phase logic of one profile download, as pure functions: build each request from the
previous answer, check each answer, decide what comes next. No I/O: the plain LPA
(`sgp22.lpa.download`) calls them in a loop, the engine's activities and workflow call them one
step at a time and add durability around them, so both follow the same decisions.

Why a download stops, and the CancelSessionReason that says so, is `sgp22.cancel_reasons`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sgp22 import certs, codec, crypto, es10
from sgp22.cancel_reasons import Stop
from sgp22.errors import MalformedDataError, ServerAddressMismatchError, ServerResponseError
from sgp22.es9 import TransactionMismatchError
from sgp22.es10_enums import PprFlags, PprIds
from sgp22.es10_session_types import DeviceInfo
from sgp22.es10_types import OperatorId, ProfileMetadata, RatRule

_POLICY_RULES = PprIds.ppr1 | PprIds.ppr2


# --- initiateAuthentication -> AuthenticateServer -------------------------------------------------


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
            f"serverSigned1 carries transaction {signed['transactionId'].hex().upper()}, the answer {transaction_id}"
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


def authenticate_server_request(
    server_signed1: str, server_signature1: str, euicc_ci_pkid: str, server_certificate: str,
    matching_id: str | None, device_info: DeviceInfo | None = None,
) -> es10.AuthenticateServerRequest:
    """AuthenticateServer from initiateAuthentication's (checked) answer, fields in hex."""
    return es10.AuthenticateServerRequest(
        server=es10.ServerAuthentication(
            server_signed1=bytes.fromhex(server_signed1),
            server_signature1=bytes.fromhex(server_signature1),
            euicc_ci_pkid_to_be_used=bytes.fromhex(euicc_ci_pkid),
            server_certificate=bytes.fromhex(server_certificate),
        ),
        matching_id=matching_id,
        device_info=device_info or DeviceInfo(),
    )


def check_card_transaction(signed: bytes, transaction_id: str, what: str) -> None:
    """The eUICC's signed answer (AuthenticateServer, PrepareDownload) must be for the session's
    transaction: another one means the card mixed up sessions."""
    if signed != bytes.fromhex(transaction_id):
        raise MalformedDataError(f"the eUICC {what} transaction {signed.hex().upper()}, not {transaction_id}")


# --- authenticateClient: the offer --------------------------------------------------------------


def check_smdp_signed2(smdp_signed2: bytes, transaction_id: str) -> bool:
    """smdpSigned2 must belong to our transaction; returns its ccRequiredFlag."""
    try:
        signed = codec.decode("SmdpSigned2", smdp_signed2)
    except MalformedDataError as exc:
        raise ServerResponseError(f"smdpSigned2 does not decode: {exc.message}") from None
    if signed["transactionId"] != bytes.fromhex(transaction_id):
        raise TransactionMismatchError(
            f"smdpSigned2 carries transaction {signed['transactionId'].hex().upper()}, not {transaction_id}"
        )
    return bool(signed["ccRequiredFlag"])


def confirmation_code_required(smdp_signed2_flag: bool, activation_code_flag: bool) -> bool:
    """A confirmation code is asked for when smdpSigned2's ccRequiredFlag demands it or the
    activation code announces it (its last field): the user learns of it before PrepareDownload."""
    return smdp_signed2_flag or activation_code_flag


def decode_metadata(raw: bytes) -> ProfileMetadata:
    """authenticateClient's profileMetadata (StoreMetadataRequest); undecodable is the server's fault."""
    try:
        return ProfileMetadata.from_asn1(raw, codec.decode("StoreMetadataRequest", raw))
    except MalformedDataError as exc:
        raise ServerResponseError(f"profile metadata does not decode: {exc.message}") from None


# --- Profile policy rules -----------------------------------------------------------------------


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


def has_policy_rules(metadata: ProfileMetadata) -> bool:
    return bool(metadata.ppr_ids & _POLICY_RULES)


def policy_rules_decision(rat: list[RatRule], metadata: ProfileMetadata) -> tuple[bool, bool]:
    """(allowed, consent_required) for a profile's PPR1/PPR2 against the eUICC's RAT."""
    wanted = metadata.ppr_ids & _POLICY_RULES
    if not wanted:
        return True, False
    for rule in rat:
        if wanted & ~rule.ppr_ids & _POLICY_RULES:
            continue
        if any(_operator_matches(operator, metadata.profile_owner) for operator in rule.allowed_operators):
            return True, bool(rule.ppr_flags & PprFlags.consentRequired)
    return False, False


def policy_rules_stop(allowed: bool, *, consent_needed: bool, accepted: bool) -> Stop | None:
    """Whether the profile's policy rules end the download: the RAT refuses them, or they need
    a consent that was not given (None: go on)."""
    if not allowed:
        return Stop.POLICY_RULES_NOT_ALLOWED
    if consent_needed and not accepted:
        return Stop.POLICY_RULES_DECLINED
    return None


# --- PrepareDownload ------------------------------------------------------------------------------


def prepare_download_request(
    transaction_id: str, smdp_signed2: str, smdp_signature2: str, smdp_certificate: str,
    confirmation_code: str | None,
) -> es10.PrepareDownloadRequest:
    """PrepareDownload from authenticateClient's answer (hex); a confirmation code goes in as
    hashCc, bound to this transaction."""
    hash_cc = (crypto.hash_confirmation_code(confirmation_code, bytes.fromhex(transaction_id))
               if confirmation_code else None)
    return es10.PrepareDownloadRequest(
        smdp_signed2=bytes.fromhex(smdp_signed2),
        smdp_signature2=bytes.fromhex(smdp_signature2),
        smdp_certificate=bytes.fromhex(smdp_certificate),
        hash_cc=hash_cc,
    )


# --- getBoundProfilePackage -----------------------------------------------------------------------


@dataclass(frozen=True)
class PackageFacts:
    """What the LPA reads from a bound profile package before loading it."""

    iccid: str
    segments: int
    metadata_matches: bool  # its readable StoreMetadata is the metadata reviewed earlier


def package_facts(bound_profile_package: bytes, announced_metadata: bytes) -> PackageFacts:
    """Cut the package into its segments and compare its StoreMetadata with authenticateClient's
    profileMetadata; a package that does not parse is the server's fault, and final."""
    try:
        segments = es10.bpp_segments(bound_profile_package)
        carried = es10.bpp_profile_metadata(bound_profile_package)
    except MalformedDataError as exc:
        raise ServerResponseError(f"bound profile package: {exc.message}", retryable=False) from None
    announced = decode_metadata(announced_metadata)
    return PackageFacts(carried.iccid, len(segments), carried.same_content(announced))


def package_stop(facts: PackageFacts) -> Stop | None:
    """A package that installs other metadata than was reviewed is not loaded."""
    return None if facts.metadata_matches else Stop.METADATA_MISMATCH
