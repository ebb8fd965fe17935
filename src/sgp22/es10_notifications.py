"""ES10b notification functions: list, retrieve (with the signed bytes to forward) and remove."""
from __future__ import annotations

from typing import Any

from sgp22 import codec, tlv
from sgp22.errors import BadInputError, MalformedDataError
from sgp22.es10_base import Es10Channel, call, check_result, exchange, result_error
from sgp22.es10_enums import (
    ListNotificationError,
    NotificationEvent,
    NotificationSentResult,
    RetrieveNotificationsListError,
    enum_value,
    flags_to_bits,
)
from sgp22.es10_types import NotificationMetadata, PendingNotification


def _single_event(event: NotificationEvent) -> tuple[bytes, int]:
    event = NotificationEvent(event)
    if bin(int(event)).count("1") != 1:
        raise BadInputError(f"filter by exactly one notification event, got {event!r}")
    return flags_to_bits(event)


def list_notifications(isdr: Es10Channel, event: NotificationEvent | None = None) -> list[NotificationMetadata]:
    request = {} if event is None else {"profileManagementOperation": _single_event(event)}
    alternative, value = call(isdr, "ListNotificationRequest", request, "ListNotificationResponse")
    if alternative == "listNotificationsResultError":
        raise result_error("listNotification", enum_value(ListNotificationError, value))
    return [NotificationMetadata.from_asn1(item) for item in value]


def _metadata_of(choice: tuple[str, dict[str, Any]]) -> NotificationMetadata:
    alternative, value = choice
    if alternative == "profileInstallationResult":
        return NotificationMetadata.from_asn1(value["profileInstallationResultData"]["notificationMetadata"])
    return NotificationMetadata.from_asn1(value["tbsOtherNotification"])


def retrieve_notifications_list(
    isdr: Es10Channel, *, seq_number: int | None = None, event: NotificationEvent | None = None
) -> list[PendingNotification]:
    """Pending notifications with their signed bytes. ``noResultAvailable`` (nothing matches)
    is an empty list, not an error."""
    if seq_number is not None and event is not None:
        raise BadInputError("retrieve notifications by sequence number or by event, not both")
    request: dict[str, Any] = {}
    if seq_number is not None:
        request["searchCriteria"] = ("seqNumber", seq_number)
    elif event is not None:
        request["searchCriteria"] = ("profileManagementOperation", _single_event(event))
    raw, (alternative, value) = exchange(
        isdr, codec.encode("RetrieveNotificationsListRequest", request), "RetrieveNotificationsListResponse"
    )
    if alternative == "notificationsListResultError":
        result = enum_value(RetrieveNotificationsListError, value)
        if result == RetrieveNotificationsListError.noResultAvailable:
            return []
        raise result_error("retrieveNotificationsList", result)
    # the decoded list says what each one is; the raw TLVs are what the SM-DP+ must receive
    (list_tlv,) = tlv.children(tlv.parse_one(raw).value)
    raw_items = tlv.children(list_tlv.value)
    if len(raw_items) != len(value):
        raise MalformedDataError("RetrieveNotificationsList: notification count differs between framing and content")
    return [PendingNotification(item.raw, _metadata_of(choice)) for item, choice in zip(raw_items, value)]


def remove_notification_from_list(isdr: Es10Channel, seq_number: int) -> None:
    value = call(isdr, "NotificationSentRequest", {"seqNumber": seq_number}, "NotificationSentResponse")
    check_result("removeNotificationFromList", NotificationSentResult, value["deleteNotificationStatus"])
