"""What a device reports back to the lab SM-DP+: pending notifications (handleNotification)
and cancelled sessions (cancelSession). They move the profile's status through the
ProfileStatus machine (``status.py``); a report the status model refuses is recorded, never
applied.

Each notification carries a number from the eUICC-wide counter, and the SM-DP+ keeps the
numbers it handled for a profile since its installation result. The same notification again
(an LPA retrying after a lost 204) is acknowledged and recorded as a duplicate; one numbered
before the installation result (delivered late from an earlier life of the profile on that
card, e.g. one erased by a memory reset and downloaded again) is acknowledged and recorded as
stale, and revives nothing.
"""
from __future__ import annotations

import logging

from sgp22 import certs, crypto, profile_package, tlv
from sgp22.errors import CertificateError, InvalidSignatureError, MalformedDataError
from sgp22.es9_functions import ES9
from sgp22.es10_enums import CancelSessionReason

from rsplab.smdp.authentication import decode_field, request_field, session_for
from rsplab.smdp.config import SmdpConfig
from rsplab.smdp.inventory import Inventory, Profile, ProfileNotFoundError
from rsplab.smdp.sessions import Session, SessionStore
from rsplab.smdp.status import CANCEL_REASON_EVENTS, IllegalStatusChange, ProfileStatus
from rsplab.smdp.wire import FunctionFailed, binary_field

log = logging.getLogger(__name__)


def bit_set(bits: tuple[bytes, int], index: int) -> bool:
    """Whether bit ``index`` of an ASN.1 BIT STRING (as the codec gives it) is set."""
    data, length = bits
    return index < length and bool(data[index // 8] & (0x80 >> (index % 8)))


class DeviceReports:
    """handleNotification and cancelSession of :class:`rsplab.smdp.es9.Es9Service`."""

    config: SmdpConfig
    inventory: Inventory
    sessions: SessionStore

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
    return [name for index, name in enumerate(("install", "enable", "disable", "delete")) if bit_set((data, length), index)]


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
