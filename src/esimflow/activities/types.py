"""Inputs, results and names of every activity, shared by workflows and activity code.

Pure dataclasses: workflows import this module (inside the sandbox) without pulling in pyscard
or httpx, and call activities by name.

Binary values travel as upper-case hex strings. A bound profile package is the largest value:
a 100 KB profile becomes ~200 KB of hex, well inside Temporal's 2 MB payload limit (payloads
are also encrypted by the codec, which adds a few dozen bytes).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from esimflow.contract import LOAD_STEP, DeviceInfo, ProfileInfo, ProfileMetadata


class CardStep:
    """Card activities: one per ES10 call; run on the task queue of the host owning the reader."""

    GET_EID = "card_get_eid"
    GET_EUICC_INFO2 = "card_get_euicc_info2"
    READ_AUTH_DATA = "card_read_auth_data"  # GetEUICCChallenge + GetEUICCInfo1: always asked together
    AUTHENTICATE_SERVER = "card_authenticate_server"
    PREPARE_DOWNLOAD = "card_prepare_download"
    LOAD_BOUND_PROFILE_PACKAGE = LOAD_STEP
    CANCEL_SESSION = "card_cancel_session"
    RETRIEVE_NOTIFICATIONS = "card_retrieve_notifications"
    REMOVE_NOTIFICATION = "card_remove_notification"
    GET_PROFILES_INFO = "card_get_profiles_info"
    ENABLE_PROFILE = "card_enable_profile"
    DELETE_PROFILE = "card_delete_profile"
    MEMORY_RESET = "card_memory_reset"
    SET_NICKNAME = "card_set_nickname"
    GET_CONFIGURED_ADDRESSES = "card_get_configured_addresses"
    SET_DEFAULT_DP_ADDRESS = "card_set_default_dp_address"
    CHECK_POLICY_RULES = "card_check_policy_rules"  # GetRAT, judged against the offered profile
    OS_UPDATE = "card_os_update"


class NetStep:
    """ES9+/ES11 activities on the shared ``esimflow-net`` queue."""

    INITIATE_AUTHENTICATION = "es9_initiate_authentication"
    AUTHENTICATE_CLIENT = "es9_authenticate_client"
    GET_BOUND_PROFILE_PACKAGE = "es9_get_bound_profile_package"
    HANDLE_NOTIFICATION = "es9_handle_notification"
    CANCEL_SESSION = "es9_cancel_session"
    SMDS_INITIATE_AUTHENTICATION = "es11_initiate_authentication"
    SMDS_AUTHENTICATE_CLIENT = "es11_authenticate_client"


class EngineStep:
    """Local activities on the workflow worker (registry file, history store)."""

    LOOKUP_DEVICE = "engine_lookup_device"
    FIND_DEVICE = "engine_find_device"
    LIST_DEVICES = "engine_list_devices"
    RECORD_PROFILE_STATUS = "engine_record_profile_status"  # reads, moves and writes the status
    WORKFLOW_RUNNING = "engine_workflow_running"  # is a hold's holder still there?
    SEARCH_ATTRIBUTES_USABLE = "engine_search_attributes_usable"  # asked once per entity run chain
    CHECK_ROUTE = "engine_check_route"  # is an operation stranded on a card host that cannot run it?


@dataclass
class SearchAttributesInput:
    """Whether esimflow's search attributes can be set in the worker's namespace."""


@dataclass
class WorkflowRunInput:
    workflow_id: str
    run_id: str


@dataclass
class CheckRouteInput:
    """An operation (``workflow_id``/``run_id``) the entity started on ``card_host``'s queue for
    eUICC ``eid``, which has not ended yet."""

    eid: str
    workflow_id: str
    run_id: str
    card_host: str


@dataclass
class RouteCheck:
    """``started``: the operation has run (its steps reached the card host): stop checking.
    ``withdrawn``: it had not, the card's route no longer leads to ``card_host``, and it was
    terminated; ``reason`` says why, ``device`` is where the card is now (None: nowhere)."""

    started: bool = False
    withdrawn: bool = False
    reason: str = ""
    device: DeviceInfo | None = None


# --- card ------------------------------------------------------------------------------------


@dataclass
class CardRef:
    """Which card a card step talks to; the worker resolves ``reader`` to an open ISD-R channel."""

    eid: str
    reader: str


@dataclass
class CardInput:
    card: CardRef


@dataclass
class ProfileRefInput:
    card: CardRef
    iccid: str


@dataclass
class ProfilesInfoInput:
    card: CardRef
    iccid: str | None = None  # None: every profile


@dataclass
class EnableProfileInput:
    card: CardRef
    iccid: str
    refresh: bool = True


@dataclass
class SetNicknameStepInput:
    card: CardRef
    iccid: str
    nickname: str


@dataclass
class MemoryResetStepInput:
    card: CardRef
    options: int


@dataclass
class SetDefaultDpAddressStepInput:
    card: CardRef
    address: str


@dataclass
class ConfiguredAddresses:
    default_dp_address: str | None
    root_ds_address: str | None


@dataclass
class EuiccInfo2Data:
    """The parts of EUICCInfo2 a user asks about (``os_version`` is OpenHarmony's osVersion)."""

    os_version: str
    svn: str
    profile_version: str
    free_nvm: int | None = None
    free_ram: int | None = None
    ci_pkids_for_verification: list[str] = field(default_factory=list)
    ci_pkids_for_signing: list[str] = field(default_factory=list)
    sas_accreditation_number: str = ""


@dataclass
class ReadAuthDataInput(CardInput):
    """``with_profiles``: also list the profiles on the card in the same card session (a
    download's snapshot of the ICCIDs already installed, without a step of its own)."""

    with_profiles: bool = False


@dataclass
class EuiccAuthData:
    euicc_challenge: str
    euicc_info1: str
    profiles: list[ProfileInfo] | None = None  # only when asked for (``ReadAuthDataInput``)


@dataclass
class AuthenticateServerStepInput:
    card: CardRef
    transaction_id: str
    server_signed1: str
    server_signature1: str
    euicc_ci_pkid: str
    server_certificate: str
    matching_id: str | None = None

    def __repr__(self) -> str:  # the matching ID is a secret
        return f"AuthenticateServerStepInput(card={self.card!r}, transaction_id={self.transaction_id!r})"


@dataclass
class PrepareDownloadStepInput:
    card: CardRef
    transaction_id: str
    smdp_signed2: str
    smdp_signature2: str
    smdp_certificate: str
    confirmation_code: str | None = None

    def __repr__(self) -> str:
        return f"PrepareDownloadStepInput(card={self.card!r}, transaction_id={self.transaction_id!r})"


@dataclass
class LoadBppStepInput:
    card: CardRef
    transaction_id: str
    bound_profile_package: str
    iccid: str


@dataclass
class LoadBppResult:
    """What LoadBoundProfilePackage left on the card.

    ``already_installed``: a retry found the profile installed by an earlier attempt (whose
    answer was lost), so nothing was sent again. ``error``: the PIR's error as an
    ``EsimError.to_dict()`` (the profile is not installed and the card ended the session).
    """

    installed: bool
    iccid: str
    already_installed: bool = False
    pir: str | None = None
    notification_seq: int | None = None
    notification_address: str | None = None
    error: dict | None = None
    attempt: int = 1  # the activity attempt that produced this (a retry may meet a half-fed session)


@dataclass
class CardCancelSessionInput:
    card: CardRef
    transaction_id: str
    reason: int


@dataclass
class RetrieveNotificationsStepInput:
    card: CardRef
    sequence_numbers: list[int] | None = None


@dataclass
class PendingNotificationData:
    seq: int
    event: str  # install | enable | disable | delete
    address: str
    iccid: str | None
    notification: str  # the whole PendingNotification DER, hex


@dataclass
class RemoveNotificationStepInput:
    card: CardRef
    seq: int


@dataclass
class PolicyRulesStepInput:
    card: CardRef
    profile_metadata: str  # BF25 as announced by the SM-DP+


@dataclass
class PolicyRulesVerdict:
    allowed: bool
    consent_required: bool


@dataclass
class OsUpdateStepInput:
    """``version_before``: the OS version the operation read before it started the update (in
    the history before the card was touched), so a re-run after a dead worker tells an update
    it finished (the card now runs the offered version) from one that was never needed."""

    card: CardRef
    start: bool
    version_before: str | None = None


@dataclass
class OsUpdateStepResult:
    status: int  # api.OsuStatus
    os_version: str = ""
    detail: str = ""


# --- network ---------------------------------------------------------------------------------


@dataclass
class InitiateAuthenticationStepInput:
    server_address: str
    euicc_challenge: str
    euicc_info1: str
    expected_oid: str | None = None  # the SM-DP+ OID an activation code pins


@dataclass
class InitiateAuthenticationResult:
    transaction_id: str
    server_signed1: str
    server_signature1: str
    euicc_ci_pkid: str
    server_certificate: str


@dataclass
class AuthenticateClientStepInput:
    server_address: str
    transaction_id: str
    authenticate_server_response: str


@dataclass
class AuthenticateClientResult:
    transaction_id: str
    metadata: ProfileMetadata
    profile_metadata: str  # the StoreMetadataRequest as announced (BF25), to compare with the BPP's
    smdp_signed2: str
    smdp_signature2: str
    smdp_certificate: str


@dataclass
class SmdsEvent:
    event_id: str
    smdp_address: str


@dataclass
class SmdsAuthenticateClientResult:
    transaction_id: str
    events: list[SmdsEvent]


@dataclass
class GetBppStepInput:
    server_address: str
    transaction_id: str
    prepare_download_response: str
    profile_metadata: str  # what authenticateClient announced


@dataclass
class GetBppResult:
    transaction_id: str
    bound_profile_package: str
    iccid: str  # from the BPP's readable StoreMetadata
    segments: int
    metadata_matches: bool  # the BPP's StoreMetadata is what authenticateClient announced


@dataclass
class HandleNotificationStepInput:
    address: str
    notification: str


@dataclass
class NetCancelSessionInput:
    server_address: str
    transaction_id: str
    cancel_session_response: str


# --- engine ----------------------------------------------------------------------------------


@dataclass
class LookupDeviceInput:
    eid: str


@dataclass
class FindDeviceInput:
    device: str


@dataclass
class RecordProfileStatusInput:
    """Move a profile's platform status with ``trigger`` and record the change, in one step.

    ``known``: the status this workflow last recorded or read for the ICCID (else the history's
    latest is used); ``fallback``: the status the card implies the profile had before this change,
    the start only when the history has none (a profile the engine sees for the first time; a
    recorded status that does not allow ``trigger`` is recorded as drift, not replaced by this).
    ``sequence`` numbers this workflow's changes to the ICCID so a retried write is recorded once
    and a genuinely repeated change is recorded again."""

    iccid: str
    eid: str
    trigger: str
    fallback: str
    operation: str
    workflow_id: str
    at: str  # ISO 8601 with time zone (workflow time)
    known: str | None = None
    sequence: int = 0
    error_reason: str | None = None


@dataclass
class ProfilesOnCard:
    profiles: list[ProfileInfo]
