"""Which state changes are legal, decided without I/O: the workflows ask these machines before
acting and record the changes they return. No temporalio, no clock (replay-safe); of sgp22 only
the pure vocabulary (``sgp22.es10_enums``, ``sgp22.cancel_reasons``), declared there once."""
from esimflow.machines.base import Change, IllegalTransition, InvalidMachineData, StateModel
from esimflow.machines.card_hold import CardHold, HoldState
from esimflow.machines.device_migration import DeviceMigrationOutcome
from esimflow.machines.download_session import DownloadSession, legal_cancel_reasons
from esimflow.machines.euicc_profile import EuiccContext, EuiccProfile
from esimflow.machines.os_update import OsUpdate
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
    "MACHINES", "CardHold", "Change", "DeviceMigrationOutcome", "DownloadSession", "EuiccContext",
    "EuiccProfile", "HoldState", "IllegalTransition", "InvalidMachineData", "OsUpdate", "ProfileStatus",
    "StateModel", "Status", "legal_cancel_reasons",
]
