"""Every workflow a workflow worker registers."""
from esimflow.workflows.discovery import GetDownloadableProfilesWorkflow
from esimflow.workflows.download import DownloadProfileWorkflow
from esimflow.workflows.metadata import GetDownloadableProfileMetadataWorkflow
from esimflow.workflows.entity import EuiccEntityWorkflow
from esimflow.workflows.euicc import (
    CancelSessionWorkflow,
    GetDefaultSmdpAddressWorkflow,
    GetEidWorkflow,
    GetEuiccInfoWorkflow,
    ListDevicesWorkflow,
    ProcessNotificationsWorkflow,
    ReserveProfilesForFactoryRestoreWorkflow,
    ResetMemoryWorkflow,
    SetDefaultSmdpAddressWorkflow,
)
from esimflow.workflows.osu import OsUpdateWorkflow
from esimflow.workflows.profiles import (
    DeleteProfileWorkflow,
    ListProfilesWorkflow,
    SetNicknameWorkflow,
    SwitchProfileWorkflow,
)

WORKFLOWS = [
    EuiccEntityWorkflow,
    DownloadProfileWorkflow,
    GetDownloadableProfileMetadataWorkflow,
    SwitchProfileWorkflow,
    DeleteProfileWorkflow,
    SetNicknameWorkflow,
    ListProfilesWorkflow,
    GetEidWorkflow,
    ListDevicesWorkflow,
    GetEuiccInfoWorkflow,
    GetDefaultSmdpAddressWorkflow,
    SetDefaultSmdpAddressWorkflow,
    ResetMemoryWorkflow,
    ReserveProfilesForFactoryRestoreWorkflow,
    ProcessNotificationsWorkflow,
    CancelSessionWorkflow,
    OsUpdateWorkflow,
    GetDownloadableProfilesWorkflow,
]
