"""Pending notifications: what the eUICC signs after a profile changes, until the LPA has
delivered it and calls RemoveNotificationFromList.

Every notification takes the next number of one eUICC-wide counter. The installation result
(PIR, ``BF37``) always goes to the SM-DP+ that ran the download; enable, disable and delete
(``30`` OtherSignedNotification) go only to the addresses the profile's
notificationConfigurationInfo lists for that event, as do install notifications to addresses
other than the SM-DP+'s.
"""
from __future__ import annotations

from sgp22 import codec
from sgp22.crypto import sign_plain
from sgp22.tlv import build

from rsplab.euicc.asn1_bits import to_bits, to_names
from rsplab.euicc.identity import EuiccCredential
from rsplab.euicc.state import NOTIFICATION_EVENTS, EuiccState, Notification, Profile


def metadata(seq: int, event: str, address: str, iccid: bytes | None) -> dict:
    value = {
        "seqNumber": seq,
        "profileManagementOperation": to_bits([event], NOTIFICATION_EVENTS),
        "notificationAddress": address,
    }
    if iccid is not None:
        value["iccid"] = iccid
    return value


def other_signed_notification(credential: EuiccCredential, seq: int, event: str, address: str,
                              iccid: bytes | None) -> bytes:
    tbs = metadata(seq, event, address, iccid)
    signature = sign_plain(credential.euicc_key, codec.encode("NotificationMetadata", tbs))
    return codec.encode("OtherSignedNotification", {
        "tbsOtherNotification": tbs,
        "euiccNotificationSignature": signature,
        "euiccCertificate": credential.euicc_cert_der,
        "eumCertificate": credential.eum_cert_der,
    })


def record_event(state: EuiccState, profile: Profile, event: str, credential: EuiccCredential,
                 *, skip_address: str | None = None) -> list[int]:
    """Queue one signed notification per address configured for ``event``; returns their numbers."""
    numbers = []
    for address in profile.targets_for(event):
        if address == skip_address:
            continue
        seq = state.take_seq()
        der = other_signed_notification(credential, seq, event, address, profile.iccid_bytes)
        state.notifications.append(Notification(seq, event, address, profile.iccid, der.hex().upper()))
        numbers.append(seq)
    return numbers


def list_response(state: EuiccState, request: dict) -> bytes:
    wanted = to_names(request.get("profileManagementOperation"), NOTIFICATION_EVENTS)
    entries = [
        metadata(n.seq, n.event, n.address, bytes.fromhex(n.iccid) if n.iccid else None)
        for n in state.notifications
        if not wanted or n.event in wanted
    ]
    return codec.encode("ListNotificationResponse", ("notificationMetadataList", entries))


def retrieve_response(state: EuiccState, request: dict) -> bytes:
    """The pending notifications asked for, as the exact signed bytes stored at creation."""
    criteria = request.get("searchCriteria")
    selected = state.notifications
    if criteria is not None:
        kind, value = criteria
        if kind == "seqNumber":
            selected = [n for n in selected if n.seq == value]
            if not selected:
                return codec.encode("RetrieveNotificationsListResponse", ("notificationsListResultError", 1))
        else:
            events = to_names(value, NOTIFICATION_EVENTS)
            selected = [n for n in selected if n.event in events]
    body = b"".join(bytes.fromhex(n.der) for n in selected)
    return build(0xBF2B, build(0xA0, body))
