"""The end of a download on the card: the StoreMetadata policy, and the installation committed in
one state transaction with its signed installation result (PIR), or the error PIR when the
download stops. Apart from the RSP session (``rsplab.euicc.download``), which authenticates and
feeds the package, because this is what becomes durable.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sgp22 import codec
from sgp22.certs import smdp_oid_of
from sgp22.crypto import sign_plain
from sgp22.profile_package import EUICC_RESPONSE_OK

from rsplab.euicc.asn1_bits import to_names
from rsplab.euicc.bpp import BppCommand, BppError, ErrorReason, LoadedProfile
from rsplab.euicc.config import PPR_NAMES, EuiccConfig
from rsplab.euicc.euicc_info import free_bytes
from rsplab.euicc.notifications import NOTIFICATION_EVENTS, metadata, record_event
from rsplab.euicc.state import EuiccState, Notification, NotificationTarget, Profile, StateStore

if TYPE_CHECKING:
    from rsplab.euicc.download import RspSession

ISDP_AID_PREFIX = bytes.fromhex("A0000005591010FFFFFFFF89")


def isdp_aid(index: int) -> bytes:
    return ISDP_AID_PREFIX + (0x1000 + 0x100 * index).to_bytes(4, "big")


def check_metadata(config: EuiccConfig, store: StateStore, stored: dict) -> None:
    """Card policy on a StoreMetadata (class supported, ICCID new, PPRs allowed): raises BppError."""
    state = store.state
    profile_class = stored.get("profileClass", 2)
    if profile_class not in config.supported_profile_classes:
        raise BppError(BppCommand.STORE_METADATA, ErrorReason.UNSUPPORTED_PROFILE_CLASS,
                       f"profile class {profile_class} is not supported")
    if state.profile_by_iccid(stored["iccid"]) is not None:
        raise BppError(BppCommand.STORE_METADATA, ErrorReason.ICCID_ALREADY_EXISTS, "ICCID already installed")
    pprs = [p for p in to_names(stored.get("profilePolicyRules"), PPR_NAMES) if p in ("ppr1", "ppr2")]
    owner = _owner(stored.get("profileOwner"))
    for ppr in pprs:
        if not config.ppr_allowed(ppr, owner):
            raise BppError(BppCommand.STORE_METADATA, ErrorReason.PPR_NOT_ALLOWED,
                           f"the RAT does not allow {ppr} for this profile owner")
    if "ppr1" in pprs and any("ppr1" in p.pprs and p.profile_class == 2 for p in state.profiles):
        raise BppError(BppCommand.STORE_METADATA, ErrorReason.PPR_NOT_ALLOWED,
                       "another operational profile already forbids its disabling (PPR1)")


def check_room(config: EuiccConfig, store: StateStore, loaded: LoadedProfile) -> None:
    """The whole profile is in: its metadata still acceptable, and room for it (BppError otherwise)."""
    check_metadata(config, store, loaded.metadata)
    if loaded.size > free_bytes(config, store.state):
        raise BppError(BppCommand.LOAD_PROFILE_ELEMENTS, ErrorReason.INSUFFICIENT_MEMORY, "memory is full")


def install(store: StateStore, config: EuiccConfig, session: RspSession, loaded: LoadedProfile) -> bytes:
    """Commit the profile with its success PIR (and its notifications) in one state transaction."""
    stored = loaded.metadata
    with store.transaction() as state:
        aid = isdp_aid(state.next_isdp_index)
        state.next_isdp_index += 1
        profile = _profile_from(stored, loaded, aid, session.credential.ci_pkid)
        state.profiles.append(profile)
        seq, pir = _signed_result(state, session, stored["iccid"],
                                  ("successResult", {"aid": aid, "simaResponse": EUICC_RESPONSE_OK}))
        state.notifications.append(Notification(seq, "install", session.server_address, profile.iccid,
                                                pir.hex().upper()))
        if config.extra_notification_on_install:
            record_event(state, profile, "install", session.credential, skip_address=session.server_address)
    return pir


def error_result(store: StateStore, session: RspSession, error: BppError) -> bytes:
    """The error PIR for a download that stops at ``error``, kept as a pending notification."""
    iccid = session.loader.iccid if session.loader else None
    result = {"bppCommandId": int(error.command), "errorReason": int(error.reason)}
    if error.sima_response is not None:
        result["simaResponse"] = error.sima_response
    with store.transaction() as state:
        seq, pir = _signed_result(state, session, iccid, ("errorResult", result))
        state.notifications.append(Notification(seq, "install", session.server_address,
                                                iccid.hex().upper() if iccid else None, pir.hex().upper()))
    return pir


def _signed_result(state: EuiccState, session: RspSession, iccid: bytes | None, result) -> tuple[int, bytes]:
    """The next sequence number and the PIR carrying ``result``, signed with the session's eUICC key."""
    seq = state.take_seq()
    data = {
        "transactionId": session.transaction_id,
        "notificationMetadata": metadata(seq, "install", session.server_address, iccid),
        "smdpOid": smdp_oid_of(session.dppb_cert),
        "finalResult": result,
    }
    signature = sign_plain(session.credential.euicc_key, codec.encode("ProfileInstallationResultData", data))
    return seq, codec.encode("ProfileInstallationResult", {
        "profileInstallationResultData": data, "euiccSignPIR": signature})


def _owner(value: dict | None) -> dict | None:
    if value is None:
        return None
    return {key: item.hex().upper() for key, item in value.items()}


def _profile_from(stored: dict, loaded: LoadedProfile, aid: bytes, ci_pkid: bytes) -> Profile:
    targets = [
        NotificationTarget(to_names(entry["profileManagementOperation"], NOTIFICATION_EVENTS),
                           entry["notificationAddress"])
        for entry in stored.get("notificationConfigurationInfo") or []
    ]
    icon = stored.get("icon")
    return Profile(
        iccid=stored["iccid"].hex().upper(),
        isdp_aid=aid.hex().upper(),
        profile_class=stored.get("profileClass", 2),
        service_provider_name=stored["serviceProviderName"],
        profile_name=stored["profileName"],
        icon_type=stored.get("iconType"),
        icon=icon.hex().upper() if icon is not None else None,
        notification_targets=targets,
        profile_owner=_owner(stored.get("profileOwner")),
        pprs=to_names(stored.get("profilePolicyRules"), PPR_NAMES),
        dp_oid=loaded.dp_oid,
        size=loaded.size,
        ci_pkid=ci_pkid.hex().upper(),
        access_rules=[{"certificate_hash": rule.certificate_hash.hex().upper(), "package_name": rule.package_name,
                       "permissions": rule.permissions} for rule in loaded.access_rules],
    )
