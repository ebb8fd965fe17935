"""The five ES9+ functions of the lab SM-DP+ (SGP.22 v2.2 section 5.6), on JSON bodies.

Each function takes the decoded request body and returns the response payload, or raises
:class:`FunctionFailed` with the subject/reason codes of SGP.22. The profile inventory moves
with the flow: a delivered package makes the profile DOWNLOADED, installation results and the
other notifications move it further (see ``status.py``). Refusals that concern a known profile
are written to its history too, so an operator sees why a download did not happen.

Each notification carries a number from the eUICC-wide counter, and the SM-DP+ keeps the
numbers it handled for a profile since its installation result. The same notification again
(an LPA retrying after a lost 204) is acknowledged and recorded as a duplicate; one numbered
before the installation result (delivered late from an earlier life of the profile on that
card, e.g. one erased by a memory reset and downloaded again) is acknowledged and recorded as
stale, and revives nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import logging

from sgp22 import certs, codec, crypto, profile_builder, profile_package, tlv
from sgp22.errors import CertificateError, InvalidSignatureError, MalformedDataError
from sgp22.es10_enums import CancelSessionReason

from rsplab.smdp import bpp
from rsplab.smdp.authentication import (
    AuthenticatedEuicc,
    authenticate_client,
    decode_field,
    initiate_authentication,
    request_field,
    session_for,
)
from rsplab.smdp.config import SmdpConfig
from rsplab.smdp.inventory import Inventory, Profile, ProfileNotFoundError
from rsplab.smdp.sessions import Binding, Session, SessionStore
from rsplab.smdp.status import CANCEL_REASON_EVENTS, IllegalStatusChange, ProfileStatus
from rsplab.smdp.wire import FunctionFailed, binary_field
from sgp22.es9_functions import ES9

log = logging.getLogger(__name__)

TEST_PROFILE_SUPPORT_BIT = 3


def _bit(bits: tuple[bytes, int], index: int) -> bool:
    data, length = bits
    return index < length and bool(data[index // 8] & (0x80 >> (index % 8)))


class Es9Service:
    def __init__(self, config: SmdpConfig, inventory: Inventory, sessions: SessionStore) -> None:
        self.config = config
        self.inventory = inventory
        self.sessions = sessions

    # --- initiateAuthentication -------------------------------------------------------------------

    def initiate_authentication(self, body: dict) -> dict:
        return initiate_authentication(self.config, self.sessions, body, "es9")

    # --- authenticateClient --------------------------------------------------------------------

    def authenticate_client(self, body: dict) -> dict:
        session = session_for(self.sessions, body, "es9")
        try:
            euicc = authenticate_client(self.config, session, body)
            session.eid = euicc.eid
            profile = self._select_profile(session, euicc)
        except FunctionFailed:
            self.sessions.close(session)
            raise
        session.euicc_certificate = euicc.euicc_certificate
        session.euicc_signature1 = euicc.euicc_signature1
        session.cc_required = profile.cc_required
        self.inventory.remember_euicc(euicc.eid, euicc.euicc_der, euicc.eum_der)
        binding = self.sessions.binding(profile.iccid)
        rebinding = profile.status == ProfileStatus.DOWNLOADED and binding is not None and binding.eid == euicc.eid
        session.bpp_euicc_otpk = binding.euicc_otpk if rebinding else None
        session.profile_metadata = self._metadata(profile)
        signed2 = {"transactionId": session.transaction_id, "ccRequiredFlag": profile.cc_required}
        if session.bpp_euicc_otpk is not None:
            signed2["bppEuiccOtpk"] = session.bpp_euicc_otpk
        smdp_signed2 = codec.encode("SmdpSigned2", signed2)
        signature2 = crypto.sign_plain(session.signing_set.dppb_key, smdp_signed2 + session.euicc_signature1)
        session.smdp_signature2 = tlv.build(0x5F37, signature2)
        return ES9.authenticate_client.encode_response({
            "transactionId": session.transaction_id_hex,
            "profileMetadata": session.profile_metadata,
            "smdpSigned2": smdp_signed2,
            "smdpSignature2": session.smdp_signature2,
            "smdpCertificate": session.signing_set.dppb_der,
        })

    def _select_profile(self, session: Session, euicc: AuthenticatedEuicc) -> Profile:
        if euicc.matching_id is not None:
            profile = self.inventory.find_by_matching_id(euicc.matching_id)
            if profile is None or profile.status == ProfileStatus.REMOVED:
                raise FunctionFailed("8.2.6", "3.8", "matchingId is refused")
        else:
            waiting = self.inventory.waiting_for(euicc.eid)
            if not waiting:
                raise FunctionFailed("8.2.5", "4.3", "no profile is waiting for this eUICC")
            profile = waiting[0]
        try:
            self._check_downloadable(profile, euicc.eid)
            self._check_eligible(profile, euicc.euicc_info2)
            if not self.sessions.claim(session, profile.iccid, euicc.eid):
                raise FunctionFailed("8.2.6", "3.8", "matchingId is in use by another download")
        except FunctionFailed as failure:
            self.inventory.note(profile.iccid, "authenticate_client", error=failure.message, eid=euicc.eid)
            raise
        return profile

    def _check_downloadable(self, profile: Profile, eid: str) -> None:
        """The checks authenticateClient and getBoundProfilePackage both make on the profile."""
        if profile.eid is not None and profile.eid != eid:
            raise FunctionFailed("8.1.1", "3.8", "EID doesn't match the expected value")
        if profile.status == ProfileStatus.EXPIRED:
            raise FunctionFailed("8.8.5", "4.10", "the download order has expired")
        if profile.status == ProfileStatus.DOWNLOADED:
            if profile.downloaded_eid != eid:
                raise FunctionFailed("8.1.1", "3.8", "the profile is bound to another eUICC")
        elif profile.status != ProfileStatus.AVAILABLE:
            raise FunctionFailed("8.2.6", "3.8", f"matchingId is refused (profile {profile.status})")
        if not profile.released:
            raise FunctionFailed("8.2", "1.2", "the profile has not been released")
        if profile.cc_required and profile.cc_failures >= profile.cc_retry_limit:
            raise FunctionFailed("8.8.5", "6.4", "the maximum number of confirmation code attempts was exceeded")

    @staticmethod
    def _check_eligible(profile: Profile, info2: dict) -> None:
        if profile.profile_class == "test" and not _bit(info2["rspCapability"], TEST_PROFILE_SUPPORT_BIT):
            raise FunctionFailed("8.2.5", "4.3", "the eUICC does not support test profiles")
        forbidden = info2.get("forbiddenProfilePolicyRules")
        if forbidden is not None and ((profile.ppr1 and _bit(forbidden, 1)) or (profile.ppr2 and _bit(forbidden, 2))):
            raise FunctionFailed("8.2.5", "4.3", "the eUICC forbids the profile's policy rules")

    def _metadata(self, profile: Profile) -> bytes:
        return bpp.store_metadata_request(
            iccid=profile.iccid,
            service_provider_name=profile.service_provider_name,
            profile_name=profile.profile_name,
            profile_class=profile.profile_class,
            notification_address=self.config.address,
            ppr1=profile.ppr1,
            ppr2=profile.ppr2,
            icon_type=profile.icon_type,
            icon=profile.icon,
            access_rules=self.inventory.access_rules(profile.iccid),
            profile_owner=self.inventory.profile_owner(profile.iccid),
        )

    # --- getBoundProfilePackage ------------------------------------------------------------------

    def get_bound_profile_package(self, body: dict) -> dict:
        session = session_for(self.sessions, body, "es9")
        if session.iccid is None:
            raise FunctionFailed("8.10.1", "3.9", "transactionId is unknown (client not authenticated)")
        try:
            package = self._bind(session, body)
        except FunctionFailed as failure:
            self.inventory.note(session.iccid, "get_bound_profile_package", error=failure.message, eid=session.eid)
            if failure.end_session:
                self.sessions.close(session)
            raise
        return ES9.get_bound_profile_package.encode_response(
            {"transactionId": session.transaction_id_hex, "boundProfilePackage": package})

    def _bind(self, session: Session, body: dict) -> bytes:
        raw, decoded = request_field(ES9.get_bound_profile_package, "prepareDownloadResponse", body)
        if decoded[0] != "downloadResponseOk":
            code = decoded[1].get("downloadErrorCode")
            raise FunctionFailed("8.1", "4.2", f"the eUICC refused to prepare the download (error {code})")
        try:
            signed2_tlv, signature2_tlv = tlv.children(tlv.children(tlv.parse_one(raw).value)[0].value)[:2]
            signature2 = tlv.parse_one(signature2_tlv.raw, expected_tag=0x5F37).value
        except (MalformedDataError, ValueError):
            raise FunctionFailed("1.1", "2.1", "prepareDownloadResponse is not a valid PrepareDownloadResponse") from None
        signed2 = decoded[1]["euiccSigned2"]
        if signed2["transactionId"] != session.transaction_id:
            raise FunctionFailed("8.10.1", "3.9", "euiccSigned2 belongs to another transaction")
        try:
            crypto.verify_plain(session.euicc_certificate, signature2, signed2_tlv.raw + session.smdp_signature2)
        except (InvalidSignatureError, CertificateError):
            raise FunctionFailed("8.1", "6.1", "euiccSignature2 does not verify") from None
        profile = self.inventory.get(session.iccid)
        self._check_downloadable(profile, session.eid)
        if session.cc_required:
            self._check_confirmation_code(session, profile, signed2.get("hashCc"))
        euicc_otpk = signed2["euiccOtpk"]
        try:
            crypto.load_public_point(session.signing_set.dppb, euicc_otpk)
        except MalformedDataError:
            raise FunctionFailed("1.1", "2.1", "euiccOtpk is not a point on the DPpb curve") from None
        if session.bound_package is not None and session.bound_otpk == euicc_otpk:
            self.inventory.note(profile.iccid, "download", reason="bound profile package delivered again",
                                eid=session.eid)
            return session.bound_package  # the same request again: the same package
        smdp_otsk = self._one_time_key(session, euicc_otpk)
        upp = self.inventory.package(profile.iccid) or profile_builder.build_upp(
            profile.iccid, size=profile.size, access_rules=self.inventory.access_rules(profile.iccid))
        package = bpp.bound_profile_package(
            transaction_id=session.transaction_id,
            host_id=self.config.host_id,
            eid=session.eid,
            euicc_otpk=euicc_otpk,
            smdp_otsk=smdp_otsk,
            dppb_key=session.signing_set.dppb_key,
            smdp_oid=self.config.oid,
            metadata=session.profile_metadata,
            profile_package=upp,
        )
        self.sessions.bind(profile.iccid, Binding(session.eid, euicc_otpk, smdp_otsk))
        session.bound_otpk, session.bound_package = euicc_otpk, package
        if profile.status == ProfileStatus.AVAILABLE:
            self.inventory.apply(profile.iccid, "download", eid=session.eid, expect=ProfileStatus.AVAILABLE,
                                 reason="bound profile package delivered")
        else:
            self.inventory.note(profile.iccid, "download", reason="bound profile package delivered again",
                                eid=session.eid)
        return package

    def _check_confirmation_code(self, session: Session, profile: Profile, hash_cc: bytes | None) -> None:
        if hash_cc is None:
            raise FunctionFailed("8.2.7", "2.2", "the confirmation code is missing", end_session=False)
        expected = hashlib.sha256(profile.cc_hash + session.transaction_id).digest()
        if hmac.compare_digest(expected, hash_cc):
            return
        failures, limit = self.inventory.record_cc_failure(profile.iccid)
        if failures >= limit:
            raise FunctionFailed("8.2.7", "6.4", "the maximum number of confirmation code attempts was exceeded")
        session.cc_refused = True
        raise FunctionFailed("8.2.7", "3.8", f"the confirmation code is refused ({limit - failures} attempts left)",
                             end_session=False)

    def _one_time_key(self, session: Session, euicc_otpk: bytes):
        """otSK.DP: the one of the earlier binding when the eUICC kept its key, else a new one."""
        if session.bpp_euicc_otpk is not None:
            binding = self.sessions.binding(session.iccid)
            if euicc_otpk == session.bpp_euicc_otpk and binding is not None:
                return binding.smdp_otsk
            if not self.config.allow_rebinding:
                raise FunctionFailed("8.2", "3.7", "the bound profile package is not available for a new binding")
        return crypto.generate_ephemeral(session.signing_set.dppb)

    # --- handleNotification --------------------------------------------------------------------

    def handle_notification(self, body: dict) -> None:
        """Verify and apply one pending notification; refusals are recorded, never answered."""
        raw = binary_field(body, "pendingNotification")
        if _is_installation_result(raw):
            self._installation_result(raw)
        else:
            self._other_notification(raw)

    def _installation_result(self, raw: bytes) -> None:
        value = decode_field("ProfileInstallationResult", raw, "pendingNotification")
        data = value["profileInstallationResultData"]
        metadata = data["notificationMetadata"]
        session = self.sessions.find(data["transactionId"])
        iccid = _iccid(metadata.get("iccid")) or (session.iccid if session is not None else None)
        if iccid is None or not self._known(iccid):
            log.warning("installation result for an unknown profile ignored")
            return
        profile = self.inventory.get(iccid)
        eid = session.eid if session is not None and session.eid else profile.downloaded_eid
        certificate = session.euicc_certificate if session is not None and session.euicc_certificate else None
        if certificate is None and eid is not None:
            stored = self.inventory.euicc_certificates(eid)
            certificate = certs.load_certificate(stored[0]) if stored else None
        data_tlv, signature_tlv = tlv.children(tlv.parse_one(raw).value)[:2]
        error = None
        if certificate is None:
            error = "installation result from an eUICC this SM-DP+ has not authenticated"
        elif not _signature_ok(certificate, signature_tlv.raw, data_tlv.raw):
            error = "installation result signature does not verify"
        elif data["smdpOid"] != self.config.oid:
            error = f"installation result names SM-DP+ OID {data['smdpOid']}"
        if error is not None:
            self.inventory.note(iccid, "installation_result", error=error, eid=eid)
            return
        if self._already_handled(iccid, eid, metadata["seqNumber"], "install"):
            return
        if session is not None:
            self.sessions.close(session)
        self.sessions.unbind(iccid)
        result_kind, result = data["finalResult"]
        handled = (metadata["seqNumber"], "install")
        if result_kind == "successResult":
            self._apply(iccid, "install", eid=eid, reason=_sima_summary(result.get("simaResponse")), handled=handled)
        else:
            reason = f"bppCommandId {result['bppCommandId']}, errorReason {result['errorReason']}"
            self._apply(iccid, "abandon", eid=eid, reason=f"installation failed: {reason}", handled=handled)

    def _other_notification(self, raw: bytes) -> None:
        value = decode_field("OtherSignedNotification", raw, "pendingNotification")
        metadata = value["tbsOtherNotification"]
        iccid = _iccid(metadata.get("iccid"))
        if iccid is None or not self._known(iccid):
            log.warning("notification for an unknown profile ignored")
            return
        tbs_tlv, signature_tlv, euicc_tlv, eum_tlv = tlv.children(tlv.parse_one(raw).value)[:4]
        try:
            euicc_cert = certs.load_certificate(euicc_tlv.raw)
            eid = certs.verify_euicc_chain(euicc_cert, certs.load_certificate(eum_tlv.raw), self.config.trusted_cis)
        except CertificateError as error:
            self.inventory.note(iccid, "notification", error=f"notification certificates refused: {error.message}")
            return
        operations = _operations(metadata["profileManagementOperation"])
        profile = self.inventory.get(iccid)
        error = None
        if not _signature_ok(euicc_cert, signature_tlv.raw, tbs_tlv.raw):
            error = "notification signature does not verify"
        elif profile.downloaded_eid is not None and profile.downloaded_eid != eid:
            error = "notification from an eUICC the profile was not downloaded to"
        elif len(operations) != 1 or operations[0] == "install":
            error = f"notification carries operations {operations or 'none'}"
        if error is not None:
            self.inventory.note(iccid, "notification", error=error, eid=eid)
            return
        (operation,) = operations
        seq = metadata["seqNumber"]
        if self._already_handled(iccid, eid, seq, operation):
            return
        applied = self._apply(iccid, operation, eid=eid, reason=f"{operation} notification, sequence {seq}",
                              handled=(seq, operation), observed=True)
        if applied and operation == "delete" and profile.reusable:
            self._apply(iccid, "reuse", eid=eid, reason="deleted from the device; available for a new download")

    def _already_handled(self, iccid: str, eid: str | None, seq: int, operation: str) -> bool:
        """A verified notification that must not be applied: a duplicate or a stale one (recorded)."""
        if eid is None:
            return False
        if self.inventory.notification_handled(eid, iccid, seq, operation):
            self.inventory.note(iccid, "duplicate_notification", eid=eid,
                                reason=f"{operation} notification, sequence {seq}, again: acknowledged, already handled")
            return True
        installed_at = self.inventory.installed_at(eid, iccid)
        if operation != "install" and installed_at is not None and seq < installed_at:
            self.inventory.note(iccid, "stale_notification", eid=eid,
                                reason=f"{operation} notification, sequence {seq}, predates the installation "
                                       f"(sequence {installed_at}): acknowledged, not applied")
            return True
        return False

    def _apply(self, iccid: str, event: str, *, eid: str | None, reason: str,
               handled: tuple[int, str] | None = None, observed: bool = False) -> bool:
        """Apply a device-reported event; one the status model refuses is recorded as ignored
        (``observed``, a notification of what the device did: as drift)."""
        try:
            self.inventory.apply(iccid, event, eid=eid, reason=reason, handled=handled, observed=observed)
        except IllegalStatusChange as refused:
            self.inventory.note(iccid, event, error=f"ignored: {refused.message}", reason=reason, eid=eid,
                                handled=handled)
            return False
        return True

    def _known(self, iccid: str) -> bool:
        try:
            self.inventory.get(iccid)
        except ProfileNotFoundError:
            return False
        return True

    # --- cancelSession -----------------------------------------------------------------------------

    def cancel_session(self, body: dict) -> dict:
        session = session_for(self.sessions, body, "es9")
        if session.euicc_certificate is None:
            raise FunctionFailed("8.10.1", "3.9", "transactionId is unknown (client not authenticated)")
        raw, decoded = request_field(ES9.cancel_session, "cancelSessionResponse", body)
        if decoded[0] != "cancelSessionResponseOk":
            raise FunctionFailed("8.1", "4.2", f"the eUICC refused to cancel the session (error {decoded[1]})")
        try:
            signed_tlv, signature_tlv = tlv.children(tlv.children(tlv.parse_one(raw).value)[0].value)[:2]
        except (MalformedDataError, ValueError):
            raise FunctionFailed("1.1", "2.1", "cancelSessionResponse is not a valid CancelSessionResponse") from None
        if not _signature_ok(session.euicc_certificate, signature_tlv.raw, signed_tlv.raw):
            raise FunctionFailed("8.1", "6.1", "euiccCancelSessionSignature does not verify")
        signed = decoded[1]["euiccCancelSessionSigned"]
        if signed["transactionId"] != session.transaction_id:
            raise FunctionFailed("8.10.1", "3.9", "the cancellation belongs to another transaction")
        if signed["smdpOid"] != self.config.oid:
            raise FunctionFailed("8.8", "3.10", "the SM-DP+ OID is invalid")
        reason = _cancel_reason_name(signed["reason"])
        self.sessions.close(session)
        if session.iccid is not None:
            self.sessions.unbind(session.iccid)
            profile = self.inventory.get(session.iccid)
            event, note = CANCEL_REASON_EVENTS[reason], f"session cancelled: {reason}"
            if event == "refuse" and self._mistyped_code(session, profile, reason):
                event = "abandon"
                left = profile.cc_retry_limit - profile.cc_failures
                note += (f" after a refused confirmation code: taken as the LPA's answer to the refusal, "
                         f"the order stays usable ({left} attempts left)")
            if event == "abandon" and profile.status == ProfileStatus.AVAILABLE:
                self.inventory.note(session.iccid, "cancel_session", reason=note, eid=session.eid)
            else:
                self._apply(session.iccid, event, eid=session.eid, reason=note)
        return {}

    @staticmethod
    def _mistyped_code(session: Session, profile: Profile, reason: str) -> bool:
        """Many LPAs cancel every failed download with endUserRejection, a refused confirmation
        code included: in that session it means "the code was wrong", not "the user declines the
        profile", so it does not end the order while attempts are left (the retry limit does)."""
        return reason == "endUserRejection" and session.cc_refused and profile.cc_failures < profile.cc_retry_limit


def _cancel_reason_name(value: int) -> str:
    """A reason this SM-DP+ does not know is taken as undefinedReason."""
    try:
        return CancelSessionReason(value).name
    except ValueError:
        return CancelSessionReason.undefinedReason.name


def _is_installation_result(raw: bytes) -> bool:
    """BF37 is an installation result, 30 any other notification; anything else is refused."""
    try:
        tag = tlv.parse_one(raw).tag
    except MalformedDataError:
        raise FunctionFailed("1.1", "2.1", "pendingNotification is not one DER value") from None
    if tag not in (0xBF37, 0x30):
        raise FunctionFailed("1.1", "2.1", "pendingNotification is neither an installation result nor a notification")
    return tag == 0xBF37


def _operations(event: tuple[bytes, int]) -> list[str]:
    """Names of the NotificationEvent bits set (a notification must carry exactly one)."""
    data, length = event
    return [name for index, name in enumerate(("install", "enable", "disable", "delete")) if _bit((data, length), index)]


def _iccid(coded: bytes | None) -> str | None:
    if coded is None:
        return None
    try:
        return profile_package.decode_iccid(coded)
    except MalformedDataError:
        return None


def _signature_ok(certificate, signature_tlv: bytes, signed: bytes) -> bool:
    try:
        crypto.verify_plain(certificate, tlv.parse_one(signature_tlv, expected_tag=0x5F37).value, signed)
    except (InvalidSignatureError, MalformedDataError, CertificateError):
        return False
    return True


def _sima_summary(sima_response: bytes | None) -> str:
    if not sima_response:
        return "installed"
    try:
        statuses = profile_package.parse_euicc_response(sima_response)
    except MalformedDataError:
        return "installed (simaResponse does not decode)"
    bad = [s for s in statuses if s["status"] != "ok"]
    return "installed" if not bad else f"installed with profile element status {bad[0]['status']}"
