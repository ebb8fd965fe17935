"""Common mutual authentication (SGP.22 section 3.1.2), the part ES9+ and ES11 share.

initiateAuthentication picks the CI both sides trust and signs serverSigned1 with DPauth;
authenticateClient checks the eUICC: its EUM chains to the CI it was told to use (8.11.1),
EUM and eUICC certificates are valid (8.1.2, 8.1.3), the EID lies in the EUM's range, the
eUICC signed its own challenge answer over the bytes it sent (8.1), for this session (8.10.1).
ES11 uses the same checks with its SM-DS subject codes for the address and CI steps.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from sgp22 import certs, codec, crypto, tlv
from sgp22.errors import (
    CertificateError,
    CertificateExpiredError,
    EidOutsideEumRangeError,
    InvalidSignatureError,
    MalformedDataError,
    UnknownCiError,
)

from rsplab.smdp.config import SmdpConfig
from rsplab.smdp.sessions import Session, SessionStore
from rsplab.smdp.wire import FunctionFailed, binary_field, transaction_id_field
from sgp22.es9_functions import ES9, Function

SUPPORTED_SVN_MAJOR = 2

_SUBJECTS = {
    # step: (ES9+ subject, ES11 subject)
    "address": ("8.8.1", "8.9.1"),
    "ci_for_signing": ("8.8.2", "8.9.2"),
    "svn": ("8.8.3", "8.9.3"),
    "ci_for_verification": ("8.8.4", "8.9.4"),
}
ADDRESS_FIELDS = {"es9": "smdpAddress", "es11": "smdsAddress"}


def _subject(step: str, group: str) -> str:
    return _SUBJECTS[step][0 if group == "es9" else 1]


def decode_field(type_name: str, data: bytes, field_name: str):
    try:
        return codec.decode(type_name, data)
    except MalformedDataError:
        raise FunctionFailed("1.1", "2.1", f"{field_name} is not a valid {type_name}") from None


def request_field(function: Function, name: str, body: dict) -> tuple[bytes, Any]:
    """A binary request field of the binding table: its bytes and its value decoded as the
    table's ASN.1 type for it; missing, not base64 or not that type is refused (1.1/2.x)."""
    asn1 = function.request_field(name).asn1
    if asn1 is None:
        raise ValueError(f"{function.name}: {name} has no single ASN.1 type")
    raw = binary_field(body, name)
    return raw, decode_field(asn1, raw, name)


def initiate_authentication(config: SmdpConfig, sessions: SessionStore, body: dict, group: str) -> dict:
    address_field = ADDRESS_FIELDS[group]
    address = body.get(address_field, body.get("smdpAddress")) if group == "es11" else body.get(address_field)
    if address is None:
        raise FunctionFailed("1.1", "2.2", f"{address_field} is missing")
    if not isinstance(address, str) or not config.accepts_address(address):
        raise FunctionFailed(_subject("address", group), "3.8", f"{address_field} is not this server's address")
    euicc_challenge = binary_field(body, "euiccChallenge")
    if len(euicc_challenge) != 16:
        raise FunctionFailed("1.1", "2.1", "euiccChallenge must be 16 bytes")
    _, info1 = request_field(ES9.initiate_authentication, "euiccInfo1", body)  # the same in ES11
    if info1["svn"][0] != SUPPORTED_SVN_MAJOR:
        version = ".".join(str(b) for b in info1["svn"])
        raise FunctionFailed(_subject("svn", group), "3.1", f"SGP.22 version {version} is not supported")
    trusted = {certs.ski_of(ci) for ci in config.trusted_cis}
    for_signing = [pkid for pkid in info1["euiccCiPKIdListForSigning"] if pkid in trusted]
    if not for_signing:
        raise FunctionFailed(_subject("ci_for_signing", group), "3.1",
                             "none of the eUICC's CI public key identifiers is trusted here")
    usable = [s for s in config.signing_sets if s.ci_pkid in info1["euiccCiPKIdListForVerification"]]
    if not usable:
        raise FunctionFailed(_subject("ci_for_verification", group), "3.7",
                             "no DPauth certificate chains to a CI the eUICC can verify")
    signing_set = next((s for s in usable if s.ci_pkid in for_signing), usable[0])
    euicc_ci_pkid = signing_set.ci_pkid if signing_set.ci_pkid in for_signing else for_signing[0]
    session = sessions.open(
        function_group=group,
        server_address=address,
        euicc_challenge=euicc_challenge,
        server_challenge=os.urandom(16),
        signing_set=signing_set,
        euicc_ci_pkid=euicc_ci_pkid,
    )
    server_signed1 = codec.encode("ServerSigned1", {
        "transactionId": session.transaction_id,
        "euiccChallenge": euicc_challenge,
        "serverAddress": address,
        "serverChallenge": session.server_challenge,
    })
    signature = crypto.sign_plain(signing_set.dpauth_key, server_signed1)
    return ES9.initiate_authentication.encode_response({  # ES11 answers with the same fields
        "transactionId": session.transaction_id_hex,
        "serverSigned1": server_signed1,
        "serverSignature1": tlv.build(0x5F37, signature),
        "euiccCiPKIdToBeUsed": tlv.build(0x04, euicc_ci_pkid),
        "serverCertificate": signing_set.dpauth_der,
    })


@dataclass(frozen=True)
class AuthenticatedEuicc:
    eid: str
    euicc_certificate: x509.Certificate
    euicc_der: bytes
    eum_der: bytes
    euicc_signature1: bytes
    """The complete 5F37 TLV, which smdpSignature2 covers."""
    matching_id: str | None
    euicc_info2: dict


def session_for(sessions: SessionStore, body: dict, group: str) -> Session:
    session = sessions.get(transaction_id_field(body), group)
    if session is None:
        raise FunctionFailed("8.10.1", "3.9", "transactionId is unknown")
    return session


def authenticate_client(config: SmdpConfig, session: Session, body: dict) -> AuthenticatedEuicc:
    raw, decoded = request_field(ES9.authenticate_client, "authenticateServerResponse", body)  # and ES11's
    if decoded[0] != "authenticateResponseOk":
        code = decoded[1].get("authenticateErrorCode")
        raise FunctionFailed("8.1", "4.2", f"the eUICC refused to authenticate the server (error {code})")
    try:
        ok_tlv = tlv.children(tlv.parse_one(raw).value)[0]
        signed1_tlv, signature1_tlv, euicc_cert_tlv, eum_cert_tlv = tlv.children(ok_tlv.value)[:4]
    except (MalformedDataError, ValueError):
        raise FunctionFailed("1.1", "2.1", "authenticateServerResponse is not a valid AuthenticateServerResponse") from None
    signed1 = decoded[1]["euiccSigned1"]
    try:
        eum_cert = certs.load_certificate(eum_cert_tlv.raw)
    except CertificateError:
        raise FunctionFailed("8.1.2", "6.1", "the EUM certificate is not a certificate") from None
    try:
        euicc_cert = certs.load_certificate(euicc_cert_tlv.raw)
    except CertificateError:
        raise FunctionFailed("8.1.3", "6.1", "the eUICC certificate is not a certificate") from None
    try:
        eum_aki = certs.aki_of(eum_cert)
    except CertificateError:
        raise FunctionFailed("8.1.2", "6.1", "the EUM certificate names no issuer key") from None
    if eum_aki != session.euicc_ci_pkid:
        raise FunctionFailed("8.11.1", "3.9", "the EUM certificate is not issued by the CI the eUICC was asked to use")
    eid = _verify_chain(config, session, euicc_cert, eum_cert)
    try:
        crypto.verify_plain(euicc_cert, tlv.parse_one(signature1_tlv.raw, expected_tag=0x5F37).value,
                            signed1_tlv.raw)
    except (InvalidSignatureError, MalformedDataError, CertificateError):
        raise FunctionFailed("8.1", "6.1", "euiccSignature1 does not verify") from None
    if signed1["serverChallenge"] != session.server_challenge:
        raise FunctionFailed("8.1", "6.1", "serverChallenge does not match this session")
    if signed1["transactionId"] != session.transaction_id:
        raise FunctionFailed("8.10.1", "3.9", "euiccSigned1 belongs to another transaction")
    context = signed1["ctxParams1"][1]
    return AuthenticatedEuicc(
        eid=eid,
        euicc_certificate=euicc_cert,
        euicc_der=euicc_cert_tlv.raw,
        eum_der=eum_cert_tlv.raw,
        euicc_signature1=signature1_tlv.raw,
        matching_id=context.get("matchingId") or None,
        euicc_info2=signed1["euiccInfo2"],
    )


def _verify_chain(config: SmdpConfig, session: Session, euicc_cert, eum_cert) -> str:
    try:
        return certs.verify_euicc_chain(euicc_cert, eum_cert, config.trusted_cis, ci_pkid=session.euicc_ci_pkid)
    except UnknownCiError:
        raise FunctionFailed("8.11.1", "3.9", "the EUM certificate chains to an unknown CI") from None
    except EidOutsideEumRangeError:
        raise FunctionFailed("8.1.3", "6.1", "the EID is outside the range its EUM may issue") from None
    except CertificateError as error:
        subject = "8.1.2" if getattr(error, "role", None) == "EUM" else "8.1.3"
        reason = "6.3" if isinstance(error, CertificateExpiredError) else "6.1"
        which = "EUM" if subject == "8.1.2" else "eUICC"
        raise FunctionFailed(subject, reason, f"the {which} certificate is {'expired' if reason == '6.3' else 'invalid'}") from None
