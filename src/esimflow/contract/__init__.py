"""The engine's public contract: what a client (the CLI, a migration workflow, a test) needs to
run an eSIM operation without knowing how the engine is built. Pure data and names, no I/O and
no Temporal client: workflows import it inside the sandbox. The client calls that submit and
follow operations are in :mod:`esimflow.client`.

Every operation on an eUICC goes through that eUICC's entity workflow (``euicc-<EID>``), which
runs operations one at a time as child workflows, so two clients can never interleave APDUs on
one card.

- :mod:`~esimflow.contract.names`: task queues, workflow types and ids, update/query/signal names;
- :mod:`~esimflow.contract.inputs`: one input dataclass per operation, answers to its questions;
- :mod:`~esimflow.contract.results`: ``OperationResult``, ``Progress`` and the values they carry;
- :mod:`~esimflow.contract.entity`: what the entity workflow takes and answers;
- the vocabulary (OpenHarmony API 18 names and numbers), declared once in
  :mod:`sgp22.es10_enums`; OpenHarmony calls SGP.22's CancelSessionReason ``CancelReason``.
"""
from sgp22.es10_enums import CancelSessionReason as CancelReason
from sgp22.es10_enums import OsuStatus, PolicyRules, ProfileClass, ProfileState, ResetOption, SolvableErrors

from esimflow.contract.entity import (
    ANSWERED_KEPT,
    EntityInput,
    EntityStatus,
    HoldGrant,
    HoldRequest,
    OperationRequest,
    SkipRequest,
)
from esimflow.contract.inputs import (
    INPUT_OF_OPERATION,
    OPERATION_OF_INPUT,
    CancelSessionInput,
    ConfirmationCodeInput,
    ConsentInput,
    DeclineInput,
    DeleteProfileInput,
    DownloadProfileInput,
    GetDefaultSmdpAddressInput,
    GetDownloadableProfileMetadataInput,
    GetDownloadableProfilesInput,
    GetEidInput,
    GetEuiccInfoInput,
    ListDevicesInput,
    ListProfilesInput,
    OperationInput,
    OsUpdateInput,
    ProcessNotificationsInput,
    ReserveProfilesForFactoryRestoreInput,
    ResetMemoryInput,
    SetDefaultSmdpAddressInput,
    SetNicknameInput,
    SwitchProfileInput,
    operation_name,
)
from esimflow.contract.names import (
    CARD_TASK_QUEUE_PREFIX,
    ENTITY_WORKFLOW,
    HOLD,
    LOAD_STEP,
    NET_TASK_QUEUE,
    QUERY_PROGRESS,
    QUERY_QUEUE,
    SIGNAL_RELEASE,
    SIGNAL_SKIP,
    UNSERIALISED_OPERATIONS,
    UPDATE_DECLINE,
    UPDATE_DRAIN,
    UPDATE_GIVE_CONSENT,
    UPDATE_HOLD,
    UPDATE_PROVIDE_CONFIRMATION_CODE,
    UPDATE_SKIP,
    UPDATE_SUBMIT,
    WORKFLOW_TASK_QUEUE,
    Operation,
    card_task_queue,
    euicc_workflow_id,
    net_task_queue,
    operation_workflow_id,
)
from esimflow.contract.results import (
    DeviceInfo,
    DownloadableProfile,
    OperationResult,
    ProfileInfo,
    ProfileMetadata,
    Progress,
)

__all__ = [
    "ANSWERED_KEPT", "CARD_TASK_QUEUE_PREFIX", "CancelReason", "CancelSessionInput",
    "ConfirmationCodeInput", "ConsentInput", "DeclineInput", "DeleteProfileInput", "DeviceInfo",
    "DownloadProfileInput", "DownloadableProfile", "ENTITY_WORKFLOW", "EntityInput", "EntityStatus",
    "GetDefaultSmdpAddressInput", "GetDownloadableProfileMetadataInput",
    "GetDownloadableProfilesInput", "GetEidInput", "GetEuiccInfoInput", "HOLD", "HoldGrant",
    "HoldRequest", "INPUT_OF_OPERATION", "LOAD_STEP", "ListDevicesInput", "ListProfilesInput",
    "NET_TASK_QUEUE", "OPERATION_OF_INPUT", "Operation", "OperationInput", "OperationRequest",
    "OperationResult", "OsUpdateInput", "OsuStatus", "PolicyRules", "ProcessNotificationsInput",
    "ProfileClass", "ProfileInfo", "ProfileMetadata", "ProfileState", "Progress", "QUERY_PROGRESS",
    "QUERY_QUEUE", "ReserveProfilesForFactoryRestoreInput", "ResetMemoryInput", "ResetOption",
    "SIGNAL_RELEASE", "SIGNAL_SKIP", "SetDefaultSmdpAddressInput", "SetNicknameInput",
    "SkipRequest", "SolvableErrors", "SwitchProfileInput", "UNSERIALISED_OPERATIONS",
    "UPDATE_DECLINE", "UPDATE_DRAIN", "UPDATE_GIVE_CONSENT", "UPDATE_HOLD",
    "UPDATE_PROVIDE_CONFIRMATION_CODE", "UPDATE_SKIP", "UPDATE_SUBMIT", "WORKFLOW_TASK_QUEUE",
    "card_task_queue", "euicc_workflow_id", "net_task_queue", "operation_name",
    "operation_workflow_id",
]
