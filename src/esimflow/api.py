"""The engine's public contract: what a client (the CLI, a migration workflow, a test) needs to
run an eSIM operation without knowing how the engine is built.

Everything a client sends or receives is a dataclass from this module. Every operation on an
eUICC goes through that eUICC's entity workflow (``euicc-<EID>``), which runs operations one at
a time as child workflows, so two clients can never interleave APDUs on one card; the client
helpers at the bottom (``start_operation``/``run_operation``) do that routing.

This module is imported inside the workflow sandbox: keep it free of I/O at import time.
"""
from __future__ import annotations

import contextlib
import dataclasses
import uuid
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sgp22.errors import EsimError
from sgp22.masking import check_no_secret
from sgp22.results import OhResultCode, WinStatus

if TYPE_CHECKING:  # the client is only needed by the helpers, never inside a workflow
    from temporalio.client import Client

# --- Task queues -------------------------------------------------------------------------------

WORKFLOW_TASK_QUEUE = "esimflow"
"""Entity workflows and the device-registry lookups run here (workers in ``net`` mode poll it).
Operations on a card run on its card host's queue when that host runs workflows (the default:
their card and network steps are then local activities), else here too."""

NET_TASK_QUEUE = "esimflow-net"
"""ES9+/ES11 steps of operations that run on the workflow queue: need only the network and the
CA file, so any host can run them."""


def net_task_queue(workflow_task_queue: str = WORKFLOW_TASK_QUEUE) -> str:
    """The network queue that goes with a workflow queue (``esimflow`` -> ``esimflow-net``), so
    a second deployment (or a test) on its own workflow queue gets its own network workers."""
    return f"{workflow_task_queue}-net"

CARD_TASK_QUEUE_PREFIX = "esimflow-card-"


def card_task_queue(card_host: str) -> str:
    """The queue of the one host that owns a reader: card steps must run where the card is."""
    return f"{CARD_TASK_QUEUE_PREFIX}{card_host}"


# --- Workflow names and ids --------------------------------------------------------------------


class Operation:
    """Operation names: the child workflow type is the value, results carry it as ``operation``."""

    DOWNLOAD_PROFILE = "DownloadProfile"
    SWITCH_PROFILE = "SwitchProfile"
    DELETE_PROFILE = "DeleteProfile"
    SET_NICKNAME = "SetNickname"
    RESET_MEMORY = "ResetMemory"
    RESERVE_PROFILES_FOR_FACTORY_RESTORE = "ReserveProfilesForFactoryRestore"
    GET_DEFAULT_SMDP_ADDRESS = "GetDefaultSmdpAddress"
    SET_DEFAULT_SMDP_ADDRESS = "SetDefaultSmdpAddress"
    GET_EID = "GetEid"
    GET_EUICC_INFO = "GetEuiccInfo"
    LIST_PROFILES = "ListProfiles"
    LIST_DEVICES = "ListDevices"
    CANCEL_SESSION = "CancelSession"
    OS_UPDATE = "OsUpdate"
    PROCESS_NOTIFICATIONS = "ProcessNotifications"
    GET_DOWNLOADABLE_PROFILES = "GetDownloadableProfiles"
    GET_DOWNLOADABLE_PROFILE_METADATA = "GetDownloadableProfileMetadata"


ENTITY_WORKFLOW = "EuiccEntity"


def euicc_workflow_id(eid: str) -> str:
    return f"euicc-{eid}"


def operation_workflow_id(operation: str, eid: str, operation_id: str) -> str:
    """Deterministic, so a client can query and update an operation it submitted."""
    return f"{operation}-{eid}-{operation_id}"


# --- Updates and queries -----------------------------------------------------------------------

UPDATE_SUBMIT = "submit"  # entity: OperationRequest -> OperationResult (waits for the operation)
QUERY_QUEUE = "queue"  # entity: -> EntityStatus
UPDATE_SKIP = "skip"  # entity: SkipRequest -> EntityStatus (operator: end the current operation as failed)
UPDATE_DRAIN = "drain"  # entity: -> EntityStatus (operator: accept nothing new, end once the queue is done)
UPDATE_HOLD = "hold"  # entity: HoldRequest -> HoldGrant (waits for the eUICC's turn)
SIGNAL_RELEASE = "release"  # entity: hold id
UPDATE_PROVIDE_CONFIRMATION_CODE = "provide_confirmation_code"  # ConfirmationCodeInput -> Progress
UPDATE_GIVE_CONSENT = "give_consent"  # ConsentInput -> Progress
UPDATE_DECLINE = "decline"  # DeclineInput -> Progress
QUERY_PROGRESS = "progress"  # operation: -> Progress
SIGNAL_SKIP = "skip"  # operation: reason (the entity, for an operator, just before it cancels the operation)


# --- Vocabularies (OpenHarmony API 18 values) --------------------------------------------------


class ResetOption(IntFlag):
    DELETE_OPERATIONAL_PROFILES = 1
    DELETE_FIELD_LOADED_TEST_PROFILES = 1 << 1
    RESET_DEFAULT_SMDP_ADDRESS = 1 << 2


class CancelReason(IntEnum):
    """SGP.22 CancelSessionReason; the first four are OpenHarmony's ``CancelReason``."""

    END_USER_REJECTION = 0
    POSTPONED = 1
    TIMEOUT = 2
    PPR_NOT_ALLOWED = 3
    METADATA_MISMATCH = 4
    LOAD_BPP_EXECUTION_ERROR = 5
    UNDEFINED_REASON = 127


class OsuStatus(IntEnum):
    EUICC_UPGRADE_IN_PROGRESS = 1
    EUICC_UPGRADE_FAILED = 2
    EUICC_UPGRADE_SUCCESSFUL = 3
    EUICC_UPGRADE_ALREADY_LATEST = 4
    EUICC_UPGRADE_SERVICE_UNAVAILABLE = 5


class ProfileState(IntEnum):
    PROFILE_STATE_UNSPECIFIED = -1
    PROFILE_STATE_DISABLED = 0
    PROFILE_STATE_ENABLED = 1


class ProfileClass(IntEnum):
    PROFILE_CLASS_UNSPECIFIED = -1
    PROFILE_CLASS_TEST = 0
    PROFILE_CLASS_PROVISIONING = 1
    PROFILE_CLASS_OPERATIONAL = 2


class PolicyRules(IntFlag):
    """Profile policy rules as OpenHarmony numbers them (PPR1 = disable not allowed, ...)."""

    POLICY_RULE_DISABLE_NOT_ALLOWED = 1
    POLICY_RULE_DELETE_NOT_ALLOWED = 1 << 1
    POLICY_RULE_DISABLE_AND_DELETE = 1 << 2


class SolvableErrors(IntFlag):
    SOLVABLE_ERROR_NEED_CONFIRMATION_CODE = 1 << 0
    SOLVABLE_ERROR_NEED_POLICY_RULE = 1 << 1


# --- Operation inputs: one dataclass per workflow ----------------------------------------------
# Every input names the eUICC by EID; port_index is accepted for OpenHarmony parity (single-port
# eUICCs use 0).


@dataclass
class DownloadProfileInput:
    """Download (and optionally enable) a profile.

    ``activation_code`` None means: ask the eUICC's default SM-DP+ (no matching ID). A confirmation
    code given up front is used directly; if the SM-DP+ refuses it, the download ends at once with
    RESULT_CONFIRMATION_CODE_INCORRECT, unless ``ask_again_if_code_refused`` (a caller that can ask
    its user, such as the CLI on a terminal): then, as when the SM-DP+ requires a code and none was
    given, the workflow waits ``consent_timeout_seconds`` for ``provide_confirmation_code``. Profile policy
    rules need consent unless ``is_ppr_allowed``; ``require_user_consent`` makes the workflow wait
    for ``give_consent`` after the metadata preview even when nothing else asks for it.
    """

    eid: str
    activation_code: str | None = None
    confirmation_code: str | None = None
    port_index: int = 0
    switch_after_download: bool = False
    force_disable_profile: bool = False
    is_ppr_allowed: bool = False
    require_user_consent: bool = False
    consent_timeout_seconds: float = 300.0
    smdp_address: str | None = None  # overrides the address of the activation code/the default
    carrier_name: str = ""  # OpenHarmony DownloadableProfile.carrierName, answered back
    access_rules: list[dict] = field(default_factory=list)  # DownloadableProfile.accessRules as given
    ask_again_if_code_refused: bool = False

    def __repr__(self) -> str:  # the matching ID and the confirmation code are secrets
        return (
            f"DownloadProfileInput(eid={self.eid!r}, activation_code={_mask(self.activation_code)}, "
            f"confirmation_code={_mask(self.confirmation_code)}, port_index={self.port_index}, "
            f"switch_after_download={self.switch_after_download}, "
            f"force_disable_profile={self.force_disable_profile}, is_ppr_allowed={self.is_ppr_allowed})"
        )


@dataclass
class SwitchProfileInput:
    eid: str
    iccid: str
    port_index: int = 0
    force_disable_profile: bool = False


@dataclass
class DeleteProfileInput:
    eid: str
    iccid: str


@dataclass
class SetNicknameInput:
    eid: str
    iccid: str
    nickname: str


@dataclass
class ResetMemoryInput:
    eid: str
    options: int = int(ResetOption.DELETE_OPERATIONAL_PROFILES)


@dataclass
class ReserveProfilesForFactoryRestoreInput:
    """Prepare the eUICC for a device factory reset while keeping the subscriptions: operational
    profiles stay (their state and nicknames untouched), field-loaded test profiles are deleted,
    and pending notifications are delivered so the operators' view matches the card."""

    eid: str


@dataclass
class GetDefaultSmdpAddressInput:
    eid: str


@dataclass
class SetDefaultSmdpAddressInput:
    eid: str
    address: str  # empty string clears it


@dataclass
class GetEidInput:
    """Read the EID from the card. ``device`` is an EID, a registry name or a reader spec."""

    device: str


@dataclass
class ListDevicesInput:
    """Every eUICC the workers have registered (no card access)."""


@dataclass
class GetEuiccInfoInput:
    eid: str


@dataclass
class ListProfilesInput:
    eid: str


@dataclass
class CancelSessionInput:
    """Cancel an RSP session. When the download that owns ``transaction_id`` is running, it is
    told to cancel itself (it knows the SM-DP+); otherwise the card and ``smdp_address`` (default:
    the eUICC's default SM-DP+) are told directly."""

    eid: str
    transaction_id: str
    reason: int = int(CancelReason.END_USER_REJECTION)
    smdp_address: str | None = None


@dataclass
class OsUpdateInput:
    """``start`` False: report the OS update status; True: update if the OS is not the latest."""

    eid: str
    start: bool = False


@dataclass
class ProcessNotificationsInput:
    """Deliver every pending notification to its SM-DP+ and remove it from the card once
    acknowledged; ``sequence_numbers`` limits it to those."""

    eid: str
    sequence_numbers: list[int] | None = None


@dataclass
class GetDownloadableProfilesInput:
    """What is waiting for this EID at the default SM-DP+ and at the root SM-DS (ES11 events)."""

    eid: str
    port_index: int = 0
    force_disable_profile: bool = False


@dataclass
class GetDownloadableProfileMetadataInput:
    """Authenticate to the SM-DP+ far enough to read the profile metadata, then cancel the
    session with reason ``postponed``; nothing is installed."""

    eid: str
    activation_code: str | None = None
    confirmation_code: str | None = None
    port_index: int = 0
    force_disable_profile: bool = False
    carrier_name: str = ""  # OpenHarmony DownloadableProfile.carrierName, answered back
    access_rules: list[dict] = field(default_factory=list)  # DownloadableProfile.accessRules as given

    def __repr__(self) -> str:
        return (
            f"GetDownloadableProfileMetadataInput(eid={self.eid!r}, "
            f"activation_code={_mask(self.activation_code)}, "
            f"confirmation_code={_mask(self.confirmation_code)})"
        )


OperationInput = (
    DownloadProfileInput
    | SwitchProfileInput
    | DeleteProfileInput
    | SetNicknameInput
    | ResetMemoryInput
    | ReserveProfilesForFactoryRestoreInput
    | GetDefaultSmdpAddressInput
    | SetDefaultSmdpAddressInput
    | GetEidInput
    | ListDevicesInput
    | GetEuiccInfoInput
    | ListProfilesInput
    | CancelSessionInput
    | OsUpdateInput
    | ProcessNotificationsInput
    | GetDownloadableProfilesInput
    | GetDownloadableProfileMetadataInput
)

OPERATION_OF_INPUT: dict[type, str] = {
    DownloadProfileInput: Operation.DOWNLOAD_PROFILE,
    SwitchProfileInput: Operation.SWITCH_PROFILE,
    DeleteProfileInput: Operation.DELETE_PROFILE,
    SetNicknameInput: Operation.SET_NICKNAME,
    ResetMemoryInput: Operation.RESET_MEMORY,
    ReserveProfilesForFactoryRestoreInput: Operation.RESERVE_PROFILES_FOR_FACTORY_RESTORE,
    GetDefaultSmdpAddressInput: Operation.GET_DEFAULT_SMDP_ADDRESS,
    SetDefaultSmdpAddressInput: Operation.SET_DEFAULT_SMDP_ADDRESS,
    GetEidInput: Operation.GET_EID,
    ListDevicesInput: Operation.LIST_DEVICES,
    GetEuiccInfoInput: Operation.GET_EUICC_INFO,
    ListProfilesInput: Operation.LIST_PROFILES,
    CancelSessionInput: Operation.CANCEL_SESSION,
    OsUpdateInput: Operation.OS_UPDATE,
    ProcessNotificationsInput: Operation.PROCESS_NOTIFICATIONS,
    GetDownloadableProfilesInput: Operation.GET_DOWNLOADABLE_PROFILES,
    GetDownloadableProfileMetadataInput: Operation.GET_DOWNLOADABLE_PROFILE_METADATA,
}

INPUT_OF_OPERATION: dict[str, type] = {name: cls for cls, name in OPERATION_OF_INPUT.items()}

UNSERIALISED_OPERATIONS = frozenset({Operation.GET_EID, Operation.LIST_DEVICES})
"""Run directly, not through an entity: they may not know the EID yet and never change a card."""


# --- Updates to a running operation ------------------------------------------------------------


@dataclass
class ConfirmationCodeInput:
    code: str

    def __repr__(self) -> str:
        return f"ConfirmationCodeInput(code={_mask(self.code)})"


@dataclass
class ConsentInput:
    """Consent to download the previewed profile (and to its policy rules, if it has any)."""

    accept_policy_rules: bool = True


@dataclass
class DeclineInput:
    reason: int = int(CancelReason.END_USER_REJECTION)


# --- Results -----------------------------------------------------------------------------------


@dataclass
class ProfileInfo:
    """One profile as GetProfilesInfo reports it, in OpenHarmony's ``EuiccProfile`` terms."""

    iccid: str
    state: int = int(ProfileState.PROFILE_STATE_UNSPECIFIED)
    nickname: str = ""
    service_provider_name: str = ""
    profile_name: str = ""
    profile_class: int = int(ProfileClass.PROFILE_CLASS_UNSPECIFIED)
    policy_rules: int = 0
    isdp_aid: str = ""
    operator: dict[str, str] | None = None  # mcc, mnc, gid1, gid2
    access_rules: list[dict] = field(default_factory=list)  # openharmony.AccessRule fields


@dataclass
class ProfileMetadata:
    """What the SM-DP+ says it will install (StoreMetadata), shown before consent."""

    iccid: str
    service_provider_name: str = ""
    profile_name: str = ""
    profile_class: int = int(ProfileClass.PROFILE_CLASS_OPERATIONAL)
    policy_rules: int = 0
    confirmation_code_required: bool = False
    solvable_errors: int = 0
    access_rules: list[dict] = field(default_factory=list)  # openharmony.AccessRule fields


@dataclass
class DownloadableProfile:
    """A profile waiting for this EID; ``activation_code`` is masked in listings."""

    smdp_address: str
    activation_code: str | None = None
    source: str = "smdp"  # "smdp" (default SM-DP+) or "smds" (an ES11 event)
    event_id: str | None = None


@dataclass
class DeviceInfo:
    """A registry entry: which worker host owns the card and how it reaches it.

    ``workflow_task_queue``: where operations on this card run. The card host's own queue when
    that host also runs workflows (its card and network steps then run as local activities,
    without a server round trip each); empty when operations run on the engine's workflow queue
    and reach the card host through its card queue.
    """

    eid: str
    card_host: str
    reader: str  # "pcsc:<reader name>" or "local:<name>"
    name: str = ""
    workflow_task_queue: str = ""


@dataclass
class OperationResult:
    """How every operation ends: OpenHarmony ``ResultCode`` and Windows ``ESimOperationStatus``.

    ``data`` carries the operation's answer (profiles, metadata, EID, ...) as plain JSON values.
    ``message`` never contains a matching ID, a confirmation code or a key.
    """

    operation: str
    eid: str
    ok: bool
    oh_result: int
    oh_result_name: str
    win_status: int
    win_status_name: str
    error_kind: str | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    workflow_id: str = ""

    @classmethod
    def success(cls, operation: str, eid: str, data: dict | None = None, message: str = "",
                workflow_id: str = "") -> OperationResult:
        return cls(
            operation=operation, eid=eid, ok=True,
            oh_result=int(OhResultCode.RESULT_OK), oh_result_name=OhResultCode.RESULT_OK.name,
            win_status=int(WinStatus.Success), win_status_name=WinStatus.Success.name,
            message=message or "ok", data=data or {}, workflow_id=workflow_id,
        )

    @classmethod
    def failure(cls, operation: str, eid: str, *, oh_result: OhResultCode, win_status: WinStatus,
                error_kind: str, message: str, data: dict | None = None,
                workflow_id: str = "") -> OperationResult:
        return cls(
            operation=operation, eid=eid, ok=False,
            oh_result=int(oh_result), oh_result_name=OhResultCode(oh_result).name,
            win_status=int(win_status), win_status_name=WinStatus(win_status).name,
            error_kind=error_kind, message=message, data=data or {}, workflow_id=workflow_id,
        )


@dataclass
class Progress:
    """What a running operation is doing, for progress displays (query ``progress``)."""

    operation: str
    phase: str = "queued"
    awaiting: str | None = None  # "confirmation_code" | "consent" while waiting for the user
    transaction_id: str | None = None
    metadata: ProfileMetadata | None = None
    segments_done: int = 0
    segments_total: int = 0
    session_attempt: int = 1
    detail: str = ""


@dataclass
class OperationRequest:
    """What the entity workflow receives: the operation's input as plain JSON so the entity
    itself needs no knowledge of each operation's type."""

    operation: str
    operation_id: str
    input: dict[str, Any]
    task_queue: str = ""
    """The workflow queue the client asked for: an entity living on another queue moves there
    (continue-as-new) once it is idle."""


@dataclass
class SkipRequest:
    """``admin entity skip``: end the operation running now as failed with ``reason``, once the
    card step in flight has finished (a hold is dropped)."""

    reason: str


HOLD = "Hold"
"""What a hold shows as in the entity's queue (``Hold-<EID>-<hold id>``)."""


@dataclass
class HoldRequest:
    """Exclusive use of one eUICC for a sequence of steps that must not interleave with other
    operations (a device's migration): the entity grants it in turn, like an operation, and
    runs nothing else on the card until the holder releases it or ends."""

    eid: str
    hold_id: str  # unique per holder run: a retried request finds its hold again
    holder_workflow_id: str
    holder_run_id: str


@dataclass
class HoldGrant:
    device: DeviceInfo | None  # the card's registry entry, looked up when the hold was granted


@dataclass
class EntityStatus:
    """What ``admin entity show`` prints: where the entity lives and what it is doing."""

    eid: str
    running: str | None  # workflow id of the operation in progress
    queued: list[str] = field(default_factory=list)
    completed: int = 0
    task_queue: str = ""
    requested_task_queue: str = ""  # where it moves once idle, when not where it is
    holds: list[str] = field(default_factory=list)  # hold ids granted now
    draining: bool = False


# --- Client helpers ----------------------------------------------------------------------------


def _mask(secret: str | None) -> str:
    if secret is None:
        return "None"
    return f"'{secret[:4]}…({len(secret)})'" if len(secret) > 4 else f"'…({len(secret)})'"


def operation_name(op_input: Any) -> str:
    try:
        return OPERATION_OF_INPUT[type(op_input)]
    except KeyError:
        raise TypeError(f"not an esimflow operation input: {type(op_input).__name__}") from None


class OperationHandle:
    """A submitted operation: await its result, watch its progress, answer its questions."""

    def __init__(self, client: Client, operation: str, eid: str, workflow_id: str,
                 await_result: Callable[[], Awaitable[OperationResult]]) -> None:
        self.client = client
        self.operation = operation
        self.eid = eid
        self.workflow_id = workflow_id
        self._await_result = await_result

    async def result(self) -> OperationResult:
        return await self._await_result()

    async def progress(self) -> Progress:
        """The operation's progress; ``phase == "queued"`` while it waits for its turn."""
        from temporalio.service import RPCError, RPCStatusCode

        handle = self.client.get_workflow_handle(self.workflow_id)
        try:
            progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return Progress(operation=self.operation)
            raise
        if progress.phase == "installing":
            live = await _segments_reported(self.client, handle)
            if live is not None:
                progress.segments_done, progress.segments_total = live
        return progress

    async def provide_confirmation_code(self, code: str) -> Progress:
        return await self._update(UPDATE_PROVIDE_CONFIRMATION_CODE, ConfirmationCodeInput(code))

    async def give_consent(self, accept_policy_rules: bool = True) -> Progress:
        return await self._update(UPDATE_GIVE_CONSENT, ConsentInput(accept_policy_rules))

    async def decline(self, reason: CancelReason = CancelReason.END_USER_REJECTION) -> Progress:
        return await self._update(UPDATE_DECLINE, DeclineInput(int(reason)))

    async def _update(self, name: str, arg: Any) -> Progress:
        from temporalio.client import WorkflowUpdateFailedError

        handle = self.client.get_workflow_handle(self.workflow_id)
        try:
            return await handle.execute_update(name, arg, result_type=Progress)
        except WorkflowUpdateFailedError as error:
            cause = getattr(error.cause, "message", None) or str(error.cause)
            raise AnswerRefusedError(f"{self.operation} refused {name}: {cause}") from None


LOAD_STEP = "card_load_bound_profile_package"
"""The card step whose heartbeat details are ``(segments done, segments total)``."""


async def _segments_reported(client: Client, handle) -> tuple[int, int] | None:
    """The segment count LoadBoundProfilePackage last reported in its heartbeat (the server
    keeps it with the pending activity), or None while it has reported none."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name == LOAD_STEP and pending.heartbeat_details.payloads:
            details = await client.data_converter.decode(pending.heartbeat_details.payloads, [int, int])
            if len(details) == 2:
                return int(details[0]), int(details[1])
    return None


class AnswerRefusedError(EsimError):
    """The operation was not waiting for that answer (already answered, or never asked)."""

    kind = "engine.answer_refused"


async def start_operation(client: Client, op_input: Any, *, operation_id: str | None = None,
                          task_queue: str = WORKFLOW_TASK_QUEUE, accept_timeout: float | None = None,
                          ) -> OperationHandle:
    """Submit an operation to its eUICC's entity workflow (starting the entity if needed).

    Returns once the entity has accepted it; the operation itself may still be queued behind
    others on the same eUICC. Submitting an ``operation_id`` again (a retry after a lost
    answer) never runs the operation twice: it gets the first result.
    """
    from temporalio.client import WorkflowUpdateStage

    operation = operation_name(op_input)
    # the workflow and update ids are plain text on the server: no matching ID in them
    operation_id = check_no_secret(operation_id, "operation id") if operation_id else uuid.uuid4().hex[:12]
    if operation in UNSERIALISED_OPERATIONS:
        key = check_no_secret(getattr(op_input, "device", "") or "all", "device name")
        workflow_id = operation_workflow_id(operation, key, operation_id)
        handle = await client.start_workflow(
            operation, op_input, id=workflow_id, task_queue=task_queue, result_type=OperationResult
        )
        return OperationHandle(client, operation, key, workflow_id, handle.result)

    eid = check_no_secret(op_input.eid, "EID")
    workflow_id = operation_workflow_id(operation, eid, operation_id)
    request = OperationRequest(operation, operation_id, dataclasses.asdict(op_input), task_queue=task_queue)
    # the operation id is the update id: a retried submit (a lost answer) is the same update
    update = await _accepted(client, eid, task_queue, accept_timeout, lambda start, rpc_timeout: (
        client.start_update_with_start_workflow(
            UPDATE_SUBMIT, request, id=operation_id, start_workflow_operation=start,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=OperationResult, rpc_timeout=rpc_timeout)))
    return OperationHandle(client, operation, eid, workflow_id,
                           lambda: _first_result(client, workflow_id, update.result))


async def hold_euicc(client: Client, request: HoldRequest, *,
                     task_queue: str = WORKFLOW_TASK_QUEUE, accept_timeout: float | None = None) -> HoldGrant:
    """Wait for exclusive use of the eUICC (starting its entity if needed); release it with the
    ``release`` signal to ``euicc-<EID>`` carrying the hold id."""
    from temporalio.client import WorkflowUpdateStage

    update = await _accepted(client, request.eid, task_queue, accept_timeout, lambda start, rpc_timeout: (
        client.start_update_with_start_workflow(
            UPDATE_HOLD, request, id=request.hold_id, start_workflow_operation=start,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=HoldGrant, rpc_timeout=rpc_timeout)))
    return await update.result()


async def entity_status(client: Client, eid: str) -> EntityStatus:
    """``admin entity show``: the eUICC entity's queue, current operation, waiting operations
    and holds."""
    return await client.get_workflow_handle(euicc_workflow_id(eid)).query(QUERY_QUEUE, result_type=EntityStatus)


async def skip_current(client: Client, eid: str, reason: str) -> EntityStatus:
    """``admin entity skip``: end the operation running on the eUICC as failed with ``reason``
    (once its card step in flight has finished), or drop the hold it is in; returns the
    entity's status afterwards."""
    return await client.get_workflow_handle(euicc_workflow_id(eid)).execute_update(
        UPDATE_SKIP, SkipRequest(reason), result_type=EntityStatus)


async def drain_entity(client: Client, eid: str) -> EntityStatus:
    """``admin entity drain``: the entity accepts nothing new, finishes its queue and ends."""
    return await client.get_workflow_handle(euicc_workflow_id(eid)).execute_update(
        UPDATE_DRAIN, result_type=EntityStatus)


ACCEPT_TIMEOUT_ENV = "ESIMFLOW_ACCEPT_TIMEOUT"
DEFAULT_ACCEPT_TIMEOUT = 60.0


class EntityUnreachableError(EsimError):
    """No worker took the submit: the eUICC's entity lives on a task queue nobody polls (a
    worker gone, or a queue that never had one). Retrying the same call cannot help; starting a
    worker on that queue does."""

    kind = "engine.queue_unpolled"
    retryable = False


async def _accepted(client: Client, eid: str, requested_queue: str, timeout: float | None, submit):
    """``submit(entity start, rpc timeout)``'s update handle once the entity accepted it, or
    :class:`EntityUnreachableError` after ``timeout`` seconds (default ``ESIMFLOW_ACCEPT_TIMEOUT``
    or 60): an entity whose queue no worker polls would keep the caller waiting forever."""
    import asyncio
    import os
    from datetime import timedelta

    from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

    if timeout is None:
        timeout = float(os.environ.get(ACCEPT_TIMEOUT_ENV) or DEFAULT_ACCEPT_TIMEOUT)
    start = await _entity_start(client, eid, requested_queue)
    try:
        return await asyncio.wait_for(
            _with_entity_start_failure(client, eid, start, submit(start, timedelta(seconds=timeout))), timeout)
    except (asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        with contextlib.suppress(BaseException):  # the start's own outcome: taken, not left unretrieved
            await asyncio.wait_for(start.workflow_handle(), 1)
        queue = await _entity_queue(client, eid) or requested_queue
        raise EntityUnreachableError(
            f"no worker took the request for eUICC {eid} within {timeout:g} s: its entity runs on task queue "
            f"{queue!r}, which no worker polls; start a worker on {queue!r}") from None


async def _entity_queue(client: Client, eid: str) -> str | None:
    try:
        return (await client.get_workflow_handle(euicc_workflow_id(eid)).describe()).task_queue
    except Exception:  # not there (never started), or the server cannot tell: name the requested queue
        return None


async def _entity_start(client: Client, eid: str, task_queue: str):
    """The eUICC's entity workflow, started with the submit or hold if it is not running."""
    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    return WithStartWorkflowOperation(
        ENTITY_WORKFLOW, EntityInput(eid),
        id=euicc_workflow_id(eid), id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, task_queue=task_queue)


async def _with_entity_start_failure(client: Client, eid: str, start, submit: Awaitable[Any]) -> Any:
    """The submit, or, when the entity it started failed at once (input under a payload key the
    workers lack: ``codec.unknown_key``), that failure instead of the server's "update aborted"."""
    from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
    from temporalio.service import RPCError

    try:
        return await submit
    except RPCError:
        with contextlib.suppress(RPCError):  # the start's own outcome, the same error
            await start.workflow_handle()
        entity = client.get_workflow_handle(euicc_workflow_id(eid))
        try:
            failed = (await entity.describe()).status == WorkflowExecutionStatus.FAILED
            if failed:
                await entity.result()
        except WorkflowFailureError as failure:
            if failure.cause is not None:
                raise failure.cause from None
        except RPCError:
            pass
        raise


OWN_RESULT_FIRST_POLL = 0.002
OWN_RESULT_MAX_POLL = 0.5


async def _first_result(client: Client, workflow_id: str,
                        entity_answer: Callable[[], Awaitable[OperationResult]]) -> OperationResult:
    """The operation's result, from whichever comes first: the operation workflow's own
    completion, or the entity's answer to the submit (the same result, one entity workflow task
    later: about 7 ms on a quiet dev server). The entity's answer stands whenever the operation
    did not end with a result of its own (terminated, or answered by the entity alone)."""
    import asyncio

    answer = asyncio.ensure_future(entity_answer())
    own = asyncio.ensure_future(_own_result(client, workflow_id))
    try:
        done, _ = await asyncio.wait({answer, own}, return_when=asyncio.FIRST_COMPLETED)
        if own in done and own.exception() is None and own.result() is not None:
            return own.result()
        return await answer
    finally:
        for task in (answer, own):
            if not task.done():
                task.cancel()
                task.add_done_callback(_consume)


def _consume(task) -> None:
    """A race's loser ends in a cancellation error nobody needs to see."""
    if not task.cancelled():
        task.exception()


async def _own_result(client: Client, workflow_id: str) -> OperationResult | None:
    """The operation workflow's result once it ends; None when it ends without one. While it is
    queued at the entity (not started yet) it is looked for again with a growing pause."""
    import asyncio

    from temporalio.client import WorkflowFailureError
    from temporalio.service import RPCError, RPCStatusCode

    handle = client.get_workflow_handle(workflow_id, result_type=OperationResult)
    pause = OWN_RESULT_FIRST_POLL
    while True:
        try:
            return await handle.result()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                return None
        except WorkflowFailureError:
            return None
        await asyncio.sleep(pause)
        pause = min(pause * 2, OWN_RESULT_MAX_POLL)


async def run_operation(client: Client, op_input: Any, **kwargs: Any) -> OperationResult:
    """Submit an operation and wait for its ``OperationResult``."""
    handle = await start_operation(client, op_input, **kwargs)
    return await handle.result()


@dataclass
class EntityInput:
    """What an entity carries across continue-as-new (it only continues when idle).

    ``continue_after``: operations per run before continuing as new (Temporal may suggest it
    earlier); ``idle_seconds``: how long a run waits for work before it ends.
    """

    eid: str
    completed: int = 0
    continue_after: int = 500
    idle_seconds: float = 600.0
    search_attributes: bool | None = None
    """Whether the namespace knows esimflow's search attributes (operations are then started
    with them); None: not asked yet (the entity asks its worker once and carries the answer)."""
    answered: dict[str, OperationResult] = field(default_factory=dict)
    """The results of the latest ``ANSWERED_KEPT`` operations by operation id, oldest first: a
    submit repeating one of their ids gets its first result, without touching the card."""
    requested_task_queue: str = ""


ANSWERED_KEPT = 100
"""Enough for any client retry; bounded so the continue-as-new input stays far below Temporal's
payload limits (a result is a few kB)."""
