"""The RSP session on the card: GetEUICCChallenge, AuthenticateServer, PrepareDownload,
LoadBoundProfilePackage and CancelSession (SGP.22 ES10b, section 5.7).

Checks come in the order SGP.22 gives them and each refusal carries its result code. The
session is volatile: a reset or a new challenge drops it. An installation becomes visible in
one state commit together with its signed installation result, so a power cut can never leave
half a profile behind.
"""
from __future__ import annotations

import enum
import logging
import os
from dataclasses import dataclass, field
from functools import partial

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sgp22 import codec
from sgp22.certs import Role, load_certificate, smdp_oid_of, verify_server_certificate
from sgp22.crypto import generate_ephemeral, public_point, sign_plain, verify_plain
from sgp22.errors import (
    CertificateError,
    CertificateRoleError,
    InvalidSignatureError,
    MalformedDataError,
    UnsupportedCurveError,
)
from sgp22.tlv import build, children, parse_one

from rsplab.euicc import installation
from rsplab.euicc.apdu_io import SW_CONDITIONS_NOT_SATISFIED, SW_WRONG_DATA, ApduStatus
from rsplab.euicc.bpp import BppContext, BppError, BppLoader, ErrorReason, LoadedProfile
from rsplab.euicc.config import EuiccConfig
from rsplab.euicc.euicc_info import euicc_info2, free_bytes
from rsplab.euicc.identity import EuiccCredential, EuiccIdentity
from rsplab.euicc.state import StateStore

log = logging.getLogger(__name__)

RETAINED_OT_KEYS = 4


class AuthError(enum.IntEnum):
    INVALID_CERTIFICATE = 1
    INVALID_SIGNATURE = 2
    UNSUPPORTED_CURVE = 3
    NO_SESSION_CONTEXT = 4
    INVALID_OID = 5
    EUICC_CHALLENGE_MISMATCH = 6
    CI_PK_UNKNOWN = 7
    UNDEFINED = 127


class DownloadError(enum.IntEnum):
    INVALID_CERTIFICATE = 1
    INVALID_SIGNATURE = 2
    UNSUPPORTED_CURVE = 3
    NO_SESSION_CONTEXT = 4
    INVALID_TRANSACTION_ID = 5
    UNDEFINED = 127


CANCEL_INVALID_TRANSACTION_ID = 5


class Phase(enum.Enum):
    AUTHENTICATED = "authenticated"
    PREPARED = "prepared"
    LOADING = "loading"


@dataclass
class RspSession:
    transaction_id: bytes
    server_address: str
    smdp_oid: str
    credential: EuiccCredential
    ci: x509.Certificate
    euicc_signature1: bytes
    """Our ``5F37`` TLV over euiccSigned1: smdpSignature2 is computed over it."""
    phase: Phase = Phase.AUTHENTICATED
    dppb_cert: x509.Certificate | None = None
    ot_key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    loader: BppLoader | None = None


class _Refusal(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _certificate_code(error: CertificateError, enum_type) -> int:
    if isinstance(error, UnsupportedCurveError):
        return enum_type.UNSUPPORTED_CURVE
    if isinstance(error, CertificateRoleError) and enum_type is AuthError:
        return AuthError.INVALID_OID
    return enum_type.INVALID_CERTIFICATE


class DownloadFunctions:
    def __init__(self, identity: EuiccIdentity, config: EuiccConfig, store: StateStore) -> None:
        self.identity = identity
        self.config = config
        self.store = store
        self.session: RspSession | None = None
        self.challenge: bytes | None = None
        self._retained_ot_keys: dict[bytes, ec.EllipticCurvePrivateKey] = {}

    def reset(self) -> None:
        self.session = None
        self.challenge = None
        self._retained_ot_keys.clear()

    @property
    def loading(self) -> bool:
        return self.session is not None and self.session.phase is Phase.LOADING

    @property
    def loader_at_boundary(self) -> bool:
        return self.loading and self.session.loader.at_boundary

    # --- GetEUICCChallenge

    def get_challenge(self) -> bytes:
        """A fresh challenge opens a new RSP session: whatever session there was ends here."""
        self._abandon_session()
        self.challenge = os.urandom(16)
        return codec.encode("GetEuiccChallengeResponse", {"euiccChallenge": self.challenge})

    def _abandon_session(self) -> None:
        if self.loading:
            self._fail_load(BppError(self.session.loader.command, ErrorReason.INTERRUPTION,
                                     "a new RSP session started during the download"))
        self.session = None

    # --- AuthenticateServer

    def authenticate_server(self, raw: bytes) -> bytes:
        request = _decode("AuthenticateServerRequest", raw)
        signed1_raw, _signature_tlv, _pkid_tlv, _cert_tlv, ctx_raw = (c.raw for c in _fields(raw, 5))
        signed1 = request["serverSigned1"]
        transaction_id = signed1["transactionId"]
        challenge, self.challenge = self.challenge, None
        try:
            session = self._authenticate(request, signed1_raw, challenge)
        except _Refusal as refusal:
            self._abandon_session()
            return codec.encode("AuthenticateServerResponse", ("authenticateResponseError", {
                "transactionId": transaction_id, "authenticateErrorCode": refusal.code}))
        euicc_signed1 = build(0x30, b"".join([
            build(0x80, transaction_id),
            build(0x83, signed1["serverAddress"].encode("utf-8")),
            build(0x84, signed1["serverChallenge"]),
            euicc_info2(self.identity, self.config, self.store.state),
            ctx_raw,
        ]))
        signature = build(0x5F37, sign_plain(session.credential.euicc_key, euicc_signed1))
        session.euicc_signature1 = signature
        self._abandon_session()
        self.session = session
        body = euicc_signed1 + signature + session.credential.euicc_cert_der + session.credential.eum_cert_der
        return build(0xBF38, build(0xA0, body))

    def _authenticate(self, request: dict, signed1_raw: bytes, challenge: bytes | None) -> RspSession:
        ci_pkid = request["euiccCiPKIdToBeUsed"]
        ci = self.identity.ci_for(ci_pkid)
        credential = self.identity.credential_for(ci_pkid)
        if ci is None or credential is None:
            raise _Refusal(AuthError.CI_PK_UNKNOWN)
        try:
            server_cert = load_certificate(request["serverCertificate"])
            verify_server_certificate(server_cert, [ci], Role.DPAUTH, ci_pkid=ci_pkid,
                                      check_time=self.config.check_certificate_time)
            self._check_not_revoked(server_cert, ci_pkid)
            smdp_oid = smdp_oid_of(server_cert)
        except CertificateError as error:
            raise _Refusal(_certificate_code(error, AuthError)) from error
        try:
            verify_plain(server_cert, request["serverSignature1"], signed1_raw)
        except InvalidSignatureError as error:
            raise _Refusal(AuthError.INVALID_SIGNATURE) from error
        signed1 = request["serverSigned1"]
        if challenge is None or signed1["euiccChallenge"] != challenge:
            raise _Refusal(AuthError.EUICC_CHALLENGE_MISMATCH)
        return RspSession(signed1["transactionId"], signed1["serverAddress"], smdp_oid, credential, ci, b"")

    def _check_not_revoked(self, cert: x509.Certificate, ci_pkid: bytes) -> None:
        crl = self.store.state.crls.get(ci_pkid.hex().upper())
        if crl and format(cert.serial_number, "X") in crl["revoked"]:
            raise CertificateError(f"certificate serial {cert.serial_number:X} is revoked")

    # --- PrepareDownload

    def prepare_download(self, raw: bytes) -> bytes:
        request = _decode("PrepareDownloadRequest", raw)
        fields = _fields(raw)
        smdp_signed2_raw = fields[0].raw
        smdp_signature2_tlv = fields[1].raw
        signed2 = request["smdpSigned2"]
        transaction_id = signed2["transactionId"]
        try:
            session, dppb = self._prepare_checks(request, smdp_signed2_raw)
        except _Refusal as refusal:
            return codec.encode("PrepareDownloadResponse", ("downloadResponseError", {
                "transactionId": transaction_id, "downloadErrorCode": refusal.code}))
        ot_key = self._one_time_key(dppb, signed2.get("bppEuiccOtpk"))
        euicc_signed2_value = {"transactionId": transaction_id, "euiccOtpk": public_point(ot_key)}
        if request.get("hashCc") is not None:
            euicc_signed2_value["hashCc"] = request["hashCc"]
        euicc_signed2 = codec.encode("EUICCSigned2", euicc_signed2_value)
        signature = sign_plain(session.credential.euicc_key, euicc_signed2 + smdp_signature2_tlv)
        session.dppb_cert, session.ot_key, session.phase = dppb, ot_key, Phase.PREPARED
        return build(0xBF21, build(0xA0, euicc_signed2 + build(0x5F37, signature)))

    def _prepare_checks(self, request: dict, smdp_signed2_raw: bytes) -> tuple[RspSession, x509.Certificate]:
        session = self.session
        if session is None or session.phase is not Phase.AUTHENTICATED:
            raise _Refusal(DownloadError.NO_SESSION_CONTEXT)
        ci_pkid = session.credential.ci_pkid
        try:
            dppb = load_certificate(request["smdpCertificate"])
            verify_server_certificate(dppb, [session.ci], Role.DPPB, ci_pkid=ci_pkid,
                                      check_time=self.config.check_certificate_time)
            self._check_not_revoked(dppb, ci_pkid)
            if smdp_oid_of(dppb) != session.smdp_oid:
                raise CertificateError("CERT.DPpb names another SM-DP+ than CERT.DPauth")
        except CertificateError as error:
            raise _Refusal(_certificate_code(error, DownloadError)) from error
        try:
            verify_plain(dppb, request["smdpSignature2"], smdp_signed2_raw + session.euicc_signature1)
        except InvalidSignatureError as error:
            raise _Refusal(DownloadError.INVALID_SIGNATURE) from error
        signed2 = request["smdpSigned2"]
        if signed2["transactionId"] != session.transaction_id:
            raise _Refusal(DownloadError.INVALID_TRANSACTION_ID)
        if signed2["ccRequiredFlag"] and request.get("hashCc") is None:
            raise _Refusal(DownloadError.UNDEFINED)
        return session, dppb

    def _one_time_key(self, dppb: x509.Certificate, bound_otpk: bytes | None) -> ec.EllipticCurvePrivateKey:
        """A new otSK.EUICC.ECKA, or the retained one when the SM-DP+ re-binds a BPP to it."""
        if bound_otpk is not None and bound_otpk in self._retained_ot_keys:
            return self._retained_ot_keys[bound_otpk]
        key = generate_ephemeral(dppb)
        self._retained_ot_keys[public_point(key)] = key
        while len(self._retained_ot_keys) > RETAINED_OT_KEYS:
            del self._retained_ot_keys[next(iter(self._retained_ot_keys))]
        return key

    # --- LoadBoundProfilePackage

    def load_bound_profile_package(self, piece: bytes) -> bytes | None:
        """Feed the next piece of a BPP: None until the end, then the signed PIR (also on error)."""
        session = self.session
        if session is None or session.phase is Phase.AUTHENTICATED:
            raise ApduStatus(SW_CONDITIONS_NOT_SATISFIED, "no PrepareDownload before the BPP")
        if session.phase is Phase.PREPARED:
            state = self.store.state
            session.loader = BppLoader(BppContext(
                transaction_id=session.transaction_id,
                eid=bytes.fromhex(self.identity.eid),
                dppb_cert=session.dppb_cert,
                ot_key=session.ot_key,
                free_bytes=free_bytes(self.config, state),
                check_metadata=partial(installation.check_metadata, self.config, self.store),
            ))
            session.phase = Phase.LOADING
        try:
            loaded = session.loader.feed(piece)
        except BppError as error:
            return self._fail_load(error)
        except Exception as error:  # a card ends the download with a PIR, whatever went wrong inside
            log.exception("virtual eUICC failed while loading a bound profile package")
            return self._fail_load(BppError(session.loader.command, ErrorReason.UNKNOWN, type(error).__name__))
        if loaded is None:
            return None
        return self._install(loaded)

    def fail_load_inside_element(self) -> bytes:
        """The signed error PIR for a STORE DATA sequence that ended inside a BPP element."""
        return self._fail_load(BppError(self.session.loader.command, ErrorReason.SCP03T_STRUCTURE_ERROR,
                                        "a STORE DATA sequence ended inside a BPP element"))

    def _fail_load(self, error: BppError) -> bytes:
        session, self.session = self.session, None
        return installation.error_result(self.store, session, error)

    def _install(self, loaded: LoadedProfile) -> bytes:
        session = self.session
        try:
            installation.check_room(self.config, self.store, loaded)
        except BppError as error:
            return self._fail_load(error)
        self.session = None
        pir = installation.install(self.store, self.config, session, loaded)
        self._retained_ot_keys.pop(public_point(session.ot_key), None)
        return pir

    # --- CancelSession

    def cancel_session(self, raw: bytes) -> bytes:
        request = _decode("CancelSessionRequest", raw)
        session = self.session
        if session is None or request["transactionId"] != session.transaction_id:
            return codec.encode("CancelSessionResponse", ("cancelSessionResponseError", CANCEL_INVALID_TRANSACTION_ID))
        signed = {"transactionId": session.transaction_id, "smdpOid": session.smdp_oid, "reason": request["reason"]}
        signature = sign_plain(session.credential.euicc_key, codec.encode("EuiccCancelSessionSigned", signed))
        if session.phase is Phase.LOADING:
            self._fail_load(BppError(session.loader.command, ErrorReason.INTERRUPTION, "CancelSession during the download"))
        self.session = None
        return codec.encode("CancelSessionResponse", ("cancelSessionResponseOk", {
            "euiccCancelSessionSigned": signed, "euiccCancelSessionSignature": signature}))


def _decode(type_name: str, raw: bytes) -> dict:
    try:
        return codec.decode(type_name, raw)
    except MalformedDataError as error:
        raise ApduStatus(SW_WRONG_DATA, str(error)) from error


def _fields(raw: bytes, count: int | None = None):
    try:
        items = children(parse_one(raw).value)
    except MalformedDataError as error:
        raise ApduStatus(SW_WRONG_DATA, str(error)) from error
    if count is not None and len(items) < count:
        raise ApduStatus(SW_WRONG_DATA, "request is missing fields")
    return items[:count] if count is not None else items
