"""The names a client and the engine agree on: task queues, workflow types and ids, and the
updates, queries and signals of the entity and operation workflows. They are recorded in
workflow histories (tests/histories/): renaming one breaks the replay of running workflows."""
from __future__ import annotations

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


UNSERIALISED_OPERATIONS = frozenset({Operation.GET_EID, Operation.LIST_DEVICES})
"""Run directly, not through an entity: they may not know the EID yet and never change a card."""

ENTITY_WORKFLOW = "EuiccEntity"

HOLD = "Hold"
"""What a hold shows as in the entity's queue (``Hold-<EID>-<hold id>``)."""


def euicc_workflow_id(eid: str) -> str:
    return f"euicc-{eid}"


def operation_workflow_id(operation: str, eid: str, operation_id: str) -> str:
    """Deterministic, so a client can query and update an operation it submitted."""
    return f"{operation}-{eid}-{operation_id}"


LOAD_STEP = "card_load_bound_profile_package"
"""The card step whose heartbeat details are ``(segments done, segments total)``: a client reads
them for a download's progress."""


# --- Updates, queries and signals --------------------------------------------------------------

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
