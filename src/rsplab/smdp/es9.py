"""The five ES9+ functions of the lab SM-DP+ (SGP.22 v2.2 section 5.6), on JSON bodies.

Each function takes the decoded request body and returns the response payload, or raises
:class:`FunctionFailed` with the subject/reason codes of SGP.22. The profile inventory moves
with the flow: a delivered package makes the profile DOWNLOADED, installation results and the
other notifications move it further (see ``status.py``). Refusals that concern a known profile
are written to its history too, so an operator sees why a download did not happen.

What the device reports back (handleNotification, cancelSession) is ``device_reports.py``.
"""
from __future__ import annotations

import hashlib
import hmac
import logging

from sgp22 import codec, crypto, profile_builder, tlv
from sgp22.errors import CertificateError, InvalidSignatureError, MalformedDataError

from rsplab.smdp import bpp
from rsplab.smdp.authentication import (
    AuthenticatedEuicc,
    authenticate_client,
    initiate_authentication,
    request_field,
    session_for,
)
from rsplab.smdp.config import SmdpConfig
from rsplab.smdp.device_reports import DeviceReports, bit_set
from rsplab.smdp.inventory import Inventory, Profile
from rsplab.smdp.sessions import Binding, Session, SessionStore
from rsplab.smdp.status import ProfileStatus
from rsplab.smdp.wire import FunctionFailed
from sgp22.es9_functions import ES9

log = logging.getLogger(__name__)

TEST_PROFILE_SUPPORT_BIT = 3


class Es9Service(DeviceReports):
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
        if profile.profile_class == "test" and not bit_set(info2["rspCapability"], TEST_PROFILE_SUPPORT_BIT):
            raise FunctionFailed("8.2.5", "4.3", "the eUICC does not support test profiles")
        forbidden = info2.get("forbiddenProfilePolicyRules")
        if forbidden is not None and ((profile.ppr1 and bit_set(forbidden, 1)) or (profile.ppr2 and bit_set(forbidden, 2))):
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
