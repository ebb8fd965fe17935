"""Where each function and field of OpenHarmony's eSIM system API lives in esimflow.

Users asked for the OpenHarmony API (``shared/seeds/openharmony-esim-system-api.md``) as a
capability list: every function is an engine operation and a CLI verb, every field of its types
a result key, input field, flag or column, or a written reason why it cannot exist here.
``docs/openharmony.md`` is rendered from this table (``esimflow docs openharmony``); a test
parses the seed and fails on a function, parameter, field or enum member that has no row, and
checks each row's input field, CLI flag and result key against the code and a real run.

Enumerations are not listed member by member: each seed enum names the engine enum that
carries it, and the rendered page lists the members from the code, so a renumbering shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from esimflow import contract
from sgp22.results import OhResultCode


@dataclass(frozen=True)
class Row:
    """One seed item. ``inputs`` are ``Class.field`` of :mod:`esimflow.contract` inputs; ``result``
    a path into an operation's ``data`` (``profiles[].iccid``); ``cli`` the verb and its flag,
    argument or column; ``reason`` why the item has no carrier, or how it is carried."""

    seed: str
    operation: str = ""
    inputs: tuple[str, ...] = ()
    result: str = ""
    cli: str = ""
    reason: str = ""


O = contract.Operation
_SLOT_REASON = ("a slot is an index on one device; the engine serves many devices and names the eUICC by "
                "its EID (`--eid` or `ESIMFLOW_EID`)")
_PORT_REASON = "multi-port (MEP) eUICCs: the port the profile is enabled on"


def _slot(function: str, operation: str, verb: str) -> Row:
    return Row(f"{function}.slotId", operation, (), "", f"{verb} --eid", _SLOT_REASON)


FUNCTIONS: tuple[Row, ...] = (
    Row("getEid", O.GET_EID, ("GetEidInput.device",), "eid", "eid"),
    _slot("getEid", O.GET_EID, "eid"),
    Row("getOsuStatus", O.OS_UPDATE, ("OsUpdateInput.start",), "osu_status", "osu status",
        "`start=False`: the status without updating"),
    _slot("getOsuStatus", O.OS_UPDATE, "osu status"),
    Row("startOsu", O.OS_UPDATE, ("OsUpdateInput.start",), "osu_status", "osu start"),
    _slot("startOsu", O.OS_UPDATE, "osu start"),
    Row("getDownloadableProfileMetadata", O.GET_DOWNLOADABLE_PROFILE_METADATA, (), "metadata", "metadata"),
    _slot("getDownloadableProfileMetadata", O.GET_DOWNLOADABLE_PROFILE_METADATA, "metadata"),
    Row("getDownloadableProfileMetadata.portIndex", O.GET_DOWNLOADABLE_PROFILE_METADATA,
        ("GetDownloadableProfileMetadataInput.port_index",), "", "metadata --port", _PORT_REASON),
    Row("getDownloadableProfileMetadata.profile", O.GET_DOWNLOADABLE_PROFILE_METADATA,
        ("GetDownloadableProfileMetadataInput.activation_code", "GetDownloadableProfileMetadataInput.carrier_name",
         "GetDownloadableProfileMetadataInput.access_rules"), "", "metadata ACTIVATION_CODE or --profile-json"),
    Row("getDownloadableProfileMetadata.forceDisableProfile", O.GET_DOWNLOADABLE_PROFILE_METADATA,
        ("GetDownloadableProfileMetadataInput.force_disable_profile",), "", "metadata --force-disable"),
    Row("getDownloadableProfiles", O.GET_DOWNLOADABLE_PROFILES, (), "downloadable_profiles", "available"),
    _slot("getDownloadableProfiles", O.GET_DOWNLOADABLE_PROFILES, "available"),
    Row("getDownloadableProfiles.portIndex", O.GET_DOWNLOADABLE_PROFILES,
        ("GetDownloadableProfilesInput.port_index",), "", "available --port", _PORT_REASON),
    Row("getDownloadableProfiles.forceDisableProfile", O.GET_DOWNLOADABLE_PROFILES,
        ("GetDownloadableProfilesInput.force_disable_profile",), "", "available --force-disable"),
    Row("downloadProfile", O.DOWNLOAD_PROFILE, (), "iccid", "download"),
    _slot("downloadProfile", O.DOWNLOAD_PROFILE, "download"),
    Row("downloadProfile.portIndex", O.DOWNLOAD_PROFILE, ("DownloadProfileInput.port_index",), "",
        "download --port", _PORT_REASON),
    Row("downloadProfile.profile", O.DOWNLOAD_PROFILE,
        ("DownloadProfileInput.activation_code", "DownloadProfileInput.confirmation_code",
         "DownloadProfileInput.carrier_name", "DownloadProfileInput.access_rules"), "",
        "download ACTIVATION_CODE or --profile-json"),
    Row("downloadProfile.configuration", O.DOWNLOAD_PROFILE, (), "", "download",
        "its fields: see DownloadConfiguration"),
    Row("getEuiccProfileInfoList", O.LIST_PROFILES, ("ListProfilesInput.eid",), "profiles", "profiles"),
    _slot("getEuiccProfileInfoList", O.LIST_PROFILES, "profiles"),
    Row("getEuiccInfo", O.GET_EUICC_INFO, ("GetEuiccInfoInput.eid",), "os_version", "euicc-info"),
    _slot("getEuiccInfo", O.GET_EUICC_INFO, "euicc-info"),
    Row("deleteProfile", O.DELETE_PROFILE, (), "iccid", "delete"),
    _slot("deleteProfile", O.DELETE_PROFILE, "delete"),
    Row("deleteProfile.iccid", O.DELETE_PROFILE, ("DeleteProfileInput.iccid",), "", "delete ICCID"),
    Row("switchToProfile", O.SWITCH_PROFILE, (), "iccid", "switch"),
    _slot("switchToProfile", O.SWITCH_PROFILE, "switch"),
    Row("switchToProfile.portIndex", O.SWITCH_PROFILE, ("SwitchProfileInput.port_index",), "",
        "switch --port", _PORT_REASON),
    Row("switchToProfile.iccid", O.SWITCH_PROFILE, ("SwitchProfileInput.iccid",), "", "switch ICCID"),
    Row("switchToProfile.forceDisableProfile", O.SWITCH_PROFILE, ("SwitchProfileInput.force_disable_profile",),
        "", "switch --force-disable"),
    Row("setProfileNickname", O.SET_NICKNAME, (), "", "nickname"),
    _slot("setProfileNickname", O.SET_NICKNAME, "nickname"),
    Row("setProfileNickname.iccid", O.SET_NICKNAME, ("SetNicknameInput.iccid",), "", "nickname ICCID"),
    Row("setProfileNickname.nickname", O.SET_NICKNAME, ("SetNicknameInput.nickname",), "", "nickname NICKNAME",
        "an empty nickname clears it"),
    Row("resetMemory", O.RESET_MEMORY, (), "deleted", "reset"),
    _slot("resetMemory", O.RESET_MEMORY, "reset"),
    Row("resetMemory.options", O.RESET_MEMORY, ("ResetMemoryInput.options",), "",
        "reset --delete-operational-profiles --delete-test-profiles --reset-default-smdp"),
    Row("reserveProfilesForFactoryRestore", O.RESERVE_PROFILES_FOR_FACTORY_RESTORE,
        ("ReserveProfilesForFactoryRestoreInput.eid",), "deleted", "reserve-for-factory-restore"),
    _slot("reserveProfilesForFactoryRestore", O.RESERVE_PROFILES_FOR_FACTORY_RESTORE,
          "reserve-for-factory-restore"),
    Row("setDefaultSmdpAddress", O.SET_DEFAULT_SMDP_ADDRESS, (), "default_smdp_address", "smdp set"),
    _slot("setDefaultSmdpAddress", O.SET_DEFAULT_SMDP_ADDRESS, "smdp set"),
    Row("setDefaultSmdpAddress.address", O.SET_DEFAULT_SMDP_ADDRESS, ("SetDefaultSmdpAddressInput.address",), "",
        "smdp set SMDP_ADDRESS"),
    Row("getDefaultSmdpAddress", O.GET_DEFAULT_SMDP_ADDRESS, ("GetDefaultSmdpAddressInput.eid",),
        "default_smdp_address", "smdp get"),
    _slot("getDefaultSmdpAddress", O.GET_DEFAULT_SMDP_ADDRESS, "smdp get"),
    Row("cancelSession", O.CANCEL_SESSION, (), "", "cancel-session"),
    _slot("cancelSession", O.CANCEL_SESSION, "cancel-session"),
    Row("cancelSession.transactionId", O.CANCEL_SESSION, ("CancelSessionInput.transaction_id",), "",
        "cancel-session TRANSACTION_ID"),
    Row("cancelSession.cancelReason", O.CANCEL_SESSION, ("CancelSessionInput.reason",), "",
        "cancel-session --reason"),
)

_PROFILE = "profiles[]"
_META = "metadata"
TYPES: tuple[Row, ...] = (
    Row("AccessRule.certificateHashHexStr", O.LIST_PROFILES, (), f"{_PROFILE}.access_rules[].certificate_hash",
        "profiles --json", "hex, upper case (SGP.22 refArDo DeviceAppID)"),
    Row("AccessRule.packageName", O.LIST_PROFILES, (), f"{_PROFILE}.access_rules[].package_name", "profiles --json"),
    Row("AccessRule.accessType", O.LIST_PROFILES, (), f"{_PROFILE}.access_rules[].access_type", "profiles --json"),
    Row("GetDownloadableProfileMetadataResult.downloadableProfile", O.GET_DOWNLOADABLE_PROFILE_METADATA, (),
        "downloadable_profile", "metadata --json", "the activation code answered with its matching ID masked"),
    Row("GetDownloadableProfileMetadataResult.pprType", O.GET_DOWNLOADABLE_PROFILE_METADATA, (),
        f"{_META}.policy_rules", "metadata", "PolicyRules bits"),
    Row("GetDownloadableProfileMetadataResult.pprFlag", O.GET_DOWNLOADABLE_PROFILE_METADATA, (),
        f"{_META}.policy_rules", "metadata", "true when `policy_rules` is not 0"),
    Row("GetDownloadableProfileMetadataResult.iccid", O.GET_DOWNLOADABLE_PROFILE_METADATA, (),
        f"{_META}.iccid", "metadata"),
    Row("GetDownloadableProfileMetadataResult.serviceProviderName", O.GET_DOWNLOADABLE_PROFILE_METADATA, (),
        f"{_META}.service_provider_name", "metadata"),
    Row("GetDownloadableProfileMetadataResult.profileName", O.GET_DOWNLOADABLE_PROFILE_METADATA, (),
        f"{_META}.profile_name", "metadata"),
    Row("GetDownloadableProfileMetadataResult.profileClass", O.GET_DOWNLOADABLE_PROFILE_METADATA, (),
        f"{_META}.profile_class", "metadata"),
    Row("GetDownloadableProfileMetadataResult.solvableErrors", O.GET_DOWNLOADABLE_PROFILE_METADATA, (),
        f"{_META}.solvable_errors", "metadata"),
    Row("GetDownloadableProfileMetadataResult.responseResult", O.GET_DOWNLOADABLE_PROFILE_METADATA, (),
        "", "metadata --json: result_code.openharmony", "every result's `oh_result`"),
    Row("GetDownloadableProfilesResult.responseResult", O.GET_DOWNLOADABLE_PROFILES, (), "",
        "available --json: result_code.openharmony", "every result's `oh_result`"),
    Row("GetDownloadableProfilesResult.downloadableProfiles", O.GET_DOWNLOADABLE_PROFILES, (),
        "downloadable_profiles", "available --json", "each entry is a DownloadableProfile"),
    Row("DownloadProfileResult.responseResult", O.DOWNLOAD_PROFILE, (), "",
        "download --json: result_code.openharmony", "every result's `oh_result`"),
    Row("DownloadProfileResult.solvableErrors", O.DOWNLOAD_PROFILE, (), f"{_META}.solvable_errors", "download",
        "the engine solves them itself: it asks for the code or consent through Temporal Updates"),
    Row("DownloadProfileResult.cardId", O.DOWNLOAD_PROFILE, (), "iccid", "download",
        "a cardId is the number a phone's telephony stack gives a subscription; the engine names the "
        "installed profile by its ICCID"),
    Row("GetEuiccProfileInfoListResult.responseResult", O.LIST_PROFILES, (), "",
        "profiles --json: result_code.openharmony", "every result's `oh_result`"),
    Row("GetEuiccProfileInfoListResult.profiles", O.LIST_PROFILES, (), "profiles", "profiles"),
    Row("GetEuiccProfileInfoListResult.isRemovable", O.LIST_PROFILES, (), "is_removable", "profiles --json",
        "true for a card in a PC/SC reader, false for an in-process or soldered eUICC"),
    Row("OperatorId.mcc", O.LIST_PROFILES, (), f"{_PROFILE}.operator.mcc", "profiles --json"),
    Row("OperatorId.mnc", O.LIST_PROFILES, (), f"{_PROFILE}.operator.mnc", "profiles --json"),
    Row("OperatorId.gid1", O.LIST_PROFILES, (), f"{_PROFILE}.operator.gid1", "profiles --json"),
    Row("OperatorId.gid2", O.LIST_PROFILES, (), f"{_PROFILE}.operator.gid2", "profiles --json"),
    Row("EuiccProfile.iccid", O.LIST_PROFILES, (), f"{_PROFILE}.iccid", "profiles: ICCID"),
    Row("EuiccProfile.nickName", O.LIST_PROFILES, (), f"{_PROFILE}.nickname", "profiles: NICKNAME"),
    Row("EuiccProfile.serviceProviderName", O.LIST_PROFILES, (), f"{_PROFILE}.service_provider_name",
        "profiles: PROVIDER"),
    Row("EuiccProfile.profileName", O.LIST_PROFILES, (), f"{_PROFILE}.profile_name", "profiles: NAME"),
    Row("EuiccProfile.state", O.LIST_PROFILES, (), f"{_PROFILE}.state", "profiles: STATE"),
    Row("EuiccProfile.profileClass", O.LIST_PROFILES, (), f"{_PROFILE}.profile_class", "profiles: CLASS"),
    Row("EuiccProfile.operatorId", O.LIST_PROFILES, (), f"{_PROFILE}.operator", "profiles --json"),
    Row("EuiccProfile.policyRules", O.LIST_PROFILES, (), f"{_PROFILE}.policy_rules", "profiles: POLICY"),
    Row("EuiccProfile.accessRules", O.LIST_PROFILES, (), f"{_PROFILE}.access_rules", "profiles --json"),
    Row("EuiccInfo.osVersion", O.GET_EUICC_INFO, (), "os_version", "euicc-info"),
    Row("DownloadConfiguration.switchAfterDownload", O.DOWNLOAD_PROFILE,
        ("DownloadProfileInput.switch_after_download",), "enabled", "download --switch"),
    Row("DownloadConfiguration.forceDisableProfile", O.DOWNLOAD_PROFILE,
        ("DownloadProfileInput.force_disable_profile",), "", "download --force-disable"),
    Row("DownloadConfiguration.isPprAllowed", O.DOWNLOAD_PROFILE, ("DownloadProfileInput.is_ppr_allowed",), "",
        "download --ppr-allowed"),
    Row("DownloadableProfile.activationCode", O.DOWNLOAD_PROFILE, ("DownloadProfileInput.activation_code",),
        "", "download ACTIVATION_CODE or --profile-json"),
    Row("DownloadableProfile.confirmationCode", O.DOWNLOAD_PROFILE, ("DownloadProfileInput.confirmation_code",),
        "", "download --profile-json or --confirmation-code", "never answered back: it is a password"),
    Row("DownloadableProfile.carrierName", O.DOWNLOAD_PROFILE, ("DownloadProfileInput.carrier_name",),
        "carrier_name", "download --profile-json"),
    Row("DownloadableProfile.accessRules", O.DOWNLOAD_PROFILE, ("DownloadProfileInput.access_rules",), "",
        "download --profile-json", "the rules the profile gets are the SM-DP+'s (`metadata.access_rules`)"),
)


ENUMS: dict[str, type[Enum]] = {
    "ResetOption": contract.ResetOption,
    "OsuStatus": contract.OsuStatus,
    "ResultCode": OhResultCode,
    "CancelReason": contract.CancelReason,
    "ProfileState": contract.ProfileState,
    "ProfileClass": contract.ProfileClass,
    "PolicyRules": contract.PolicyRules,
    "SolvableErrors": contract.SolvableErrors,
}
"""Each seed enumeration and the engine enum that carries it, member for member."""


def engine_member(enum: type[Enum], seed_name: str) -> Enum | None:
    """The engine member for a seed member: same name, or the seed name less its type prefix
    (``CANCEL_REASON_POSTPONED`` is ``CancelReason.POSTPONED``)."""
    for name in (seed_name, seed_name.split("_", 2)[-1] if seed_name.startswith("CANCEL_REASON_") else None):
        if name and name in enum.__members__:
            return enum.__members__[name]
    return None


def openharmony_name(member: Enum) -> str:
    """The member's OpenHarmony spelling: its own name, or the upper-case alias the SGP.22 enum
    gives it (``CancelSessionReason.postponed`` is OpenHarmony's ``POSTPONED``)."""
    return next((name for name, alias in type(member).__members__.items() if alias is member and name.isupper()),
                member.name)


ROWS: tuple[Row, ...] = FUNCTIONS + TYPES


def render_markdown() -> str:
    lines = [
        "# OpenHarmony eSIM system API in esimflow",
        "",
        "Generated by `esimflow docs openharmony` from `src/esimcli/openharmony_table.py`; a test checks",
        "it against the seed API (`shared/seeds/openharmony-esim-system-api.md`), the engine's inputs,",
        "the CLI and a real run. Result keys are paths into the operation's `data` (`--json`: `data`).",
        "",
        "## Functions and their parameters",
        "",
        "| OpenHarmony | engine operation | input fields | result key | CLI | notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [_line(row) for row in FUNCTIONS]
    lines += ["", "## Types", "",
              "| OpenHarmony | engine operation | input fields | result key | CLI | notes |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [_line(row) for row in TYPES]
    lines += ["", "## Enumerations", "",
              "Every member keeps OpenHarmony's name and number in the engine's enum.", "",
              "| OpenHarmony | engine enum | members (name = value) |", "| --- | --- | --- |"]
    for seed_name, enum in ENUMS.items():
        members = ", ".join(f"{openharmony_name(member)} = {int(member.value)}" for member in enum)
        lines.append(f"| {seed_name} | `{enum.__module__}.{enum.__qualname__}` | {members} |")
    return "\n".join(lines) + "\n"


def _line(row: Row) -> str:
    inputs = ", ".join(f"`{item}`" for item in row.inputs) or "-"
    result = f"`{row.result}`" if row.result else "-"
    return f"| {row.seed} | {row.operation or '-'} | {inputs} | {result} | `{row.cli}` | {row.reason or ''} |"
