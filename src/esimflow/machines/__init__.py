"""Which state changes are legal, decided without I/O: the workflows ask these machines before
acting and record the changes they return. No temporalio, no sgp22, no clock (replay-safe)."""
from esimflow.machines.base import Change, IllegalTransition, InvalidMachineData, StateModel
from esimflow.machines.card_hold import CardHold, HoldState
from esimflow.machines.device_migration import DeviceMigrationOutcome
from esimflow.machines.download_session import CancelSessionReason, DownloadSession, legal_cancel_reasons
from esimflow.machines.euicc_profile import EuiccContext, EuiccProfile, PolicyRules, ProfileClass, ResetOptions
from esimflow.machines.os_update import OsuStatus, OsUpdate
from esimflow.machines.profile_status import ProfileStatus, Status

# docs/machines/<name>.md for each
MACHINES: dict[str, type[StateModel]] = {
    "profile_status": ProfileStatus,
    "euicc_profile": EuiccProfile,
    "download_session": DownloadSession,
    "os_update": OsUpdate,
    "device_migration_outcome": DeviceMigrationOutcome,
    "card_hold": CardHold,
}

__all__ = [
    "MACHINES", "CancelSessionReason", "CardHold", "Change", "DeviceMigrationOutcome", "DownloadSession",
    "EuiccContext", "EuiccProfile", "HoldState", "IllegalTransition", "InvalidMachineData", "OsUpdate",
    "OsuStatus", "PolicyRules", "ProfileClass", "ProfileStatus", "ResetOptions", "StateModel", "Status",
    "legal_cancel_reasons",
]
