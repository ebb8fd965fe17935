"""What a client sends: one input dataclass per operation (its workflow's one argument) and the
answers a running operation may ask for. Field names are part of the contract: they travel as
JSON in workflow histories, and the entity receives an operation's input as a plain dict."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sgp22.es10_enums import CancelSessionReason, ResetOption
from sgp22.secret_text import mask_secret

from esimflow.contract.names import Operation


def _masked(secret: str | None) -> str:
    """A matching ID or confirmation code as a repr may show it (sgp22's one masking rule)."""
    return "None" if secret is None else repr(mask_secret(secret))


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
    access_rules: list[dict[str, Any]] = field(default_factory=list)  # DownloadableProfile.accessRules as given
    ask_again_if_code_refused: bool = False

    def __repr__(self) -> str:  # the matching ID and the confirmation code are secrets
        return (
            f"DownloadProfileInput(eid={self.eid!r}, activation_code={_masked(self.activation_code)}, "
            f"confirmation_code={_masked(self.confirmation_code)}, port_index={self.port_index}, "
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
    reason: int = int(CancelSessionReason.endUserRejection)
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
    access_rules: list[dict[str, Any]] = field(default_factory=list)  # DownloadableProfile.accessRules as given

    def __repr__(self) -> str:
        return (
            f"GetDownloadableProfileMetadataInput(eid={self.eid!r}, "
            f"activation_code={_masked(self.activation_code)}, "
            f"confirmation_code={_masked(self.confirmation_code)})"
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

OPERATION_OF_INPUT: dict[type[OperationInput], str] = {
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

INPUT_OF_OPERATION: dict[str, type[OperationInput]] = {name: cls for cls, name in OPERATION_OF_INPUT.items()}


def operation_name(op_input: Any) -> str:
    """The operation (workflow type) an input is for."""
    try:
        return OPERATION_OF_INPUT[type(op_input)]
    except KeyError:
        raise TypeError(f"not an esimflow operation input: {type(op_input).__name__}") from None


# --- Answers to a running operation's questions ------------------------------------------------


@dataclass
class ConfirmationCodeInput:
    code: str

    def __repr__(self) -> str:
        return f"ConfirmationCodeInput(code={_masked(self.code)})"


@dataclass
class ConsentInput:
    """Consent to download the previewed profile (and to its policy rules, if it has any)."""

    accept_policy_rules: bool = True


@dataclass
class DeclineInput:
    reason: int = int(CancelSessionReason.endUserRejection)

