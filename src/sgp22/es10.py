"""The ES10 functions in one namespace: ``from sgp22 import es10; es10.get_eid(isdr)``.

Each takes an open ISD-R session (`sgp22.apdu.IsdrChannel`), returns typed values
(`sgp22.es10_types`, named enumerations in `sgp22.es10_enums`) and raises the taxonomy's errors
for result codes other than ok. The code lives in one module per concern:
`es10_info` (EID, EUICCInfo, addresses, RAT), `es10_profiles` (ES10c), `es10_download`
(authentication, download, cancel), `es10_notifications`.
"""
from sgp22.es10_download import (
    BppSegment,
    SegmentProgress,
    authenticate_server,
    bpp_profile_metadata,
    bpp_segments,
    cancel_session,
    decode_installation_result,
    encode_authenticate_server,
    encode_prepare_download,
    get_euicc_challenge,
    installation_error,
    load_bound_profile_package,
    prepare_download,
)
from sgp22.es10_enums import CancelSessionReason, NotificationEvent, ProfileClass, ResetOption
from sgp22.es10_info import (
    get_eid,
    get_euicc_configured_addresses,
    get_euicc_info1,
    get_euicc_info2,
    get_rat,
    set_default_dp_address,
)
from sgp22.es10_notifications import list_notifications, remove_notification_from_list, retrieve_notifications_list
from sgp22.es10_profiles import (
    ALL_PROFILE_INFO_TAGS,
    delete_profile,
    disable_profile,
    enable_profile,
    get_profiles_info,
    memory_reset,
    set_nickname,
)
from sgp22.es10_session_types import (
    AuthenticateServerRequest,
    AuthenticateServerResult,
    DeviceInfo,
    PrepareDownloadRequest,
    PrepareDownloadResult,
    ProfileInstallationResult,
    ServerAuthentication,
)
from sgp22.es10_types import (
    ConfiguredAddresses,
    EuiccInfo1,
    EuiccInfo2,
    NotificationMetadata,
    PendingNotification,
    AccessRule,
    ProfileInfo,
    ProfileMetadata,
)

__all__ = [
    "ALL_PROFILE_INFO_TAGS",
    "AuthenticateServerRequest",
    "AuthenticateServerResult",
    "BppSegment",
    "CancelSessionReason",
    "ConfiguredAddresses",
    "DeviceInfo",
    "EuiccInfo1",
    "EuiccInfo2",
    "NotificationEvent",
    "NotificationMetadata",
    "PendingNotification",
    "PrepareDownloadRequest",
    "PrepareDownloadResult",
    "ProfileClass",
    "AccessRule",
    "ProfileInfo",
    "ProfileInstallationResult",
    "ProfileMetadata",
    "ResetOption",
    "SegmentProgress",
    "ServerAuthentication",
    "authenticate_server",
    "bpp_profile_metadata",
    "bpp_segments",
    "cancel_session",
    "decode_installation_result",
    "delete_profile",
    "disable_profile",
    "enable_profile",
    "encode_authenticate_server",
    "encode_prepare_download",
    "get_eid",
    "get_euicc_challenge",
    "get_euicc_configured_addresses",
    "get_euicc_info1",
    "get_euicc_info2",
    "get_profiles_info",
    "get_rat",
    "installation_error",
    "list_notifications",
    "load_bound_profile_package",
    "memory_reset",
    "prepare_download",
    "remove_notification_from_list",
    "retrieve_notifications_list",
    "set_default_dp_address",
    "set_nickname",
]
