"""Named values of every ES10 enumeration and bit string (SGP.22 v2.2.2 numbering), and the
conversion between ASN.1 named-bit strings and Python flags (named bit n <-> flag 1 << n).

This is the one declaration of each of them: the library, the lab, the machines and the engine's
contract all import it. Where OpenHarmony (``@ohos.telephony.esim``, API 18) numbers the same
values, its names are aliases of the same members (``CancelSessionReason.POSTPONED is
CancelSessionReason.postponed``); where it numbers them differently or SGP.22 has no such
enumeration (``PolicyRules``, ``SolvableErrors``, ``OsuStatus``), its enum is declared here too,
with the one mapping from the SGP.22 value (``policy_rules_of``). OpenHarmony's and Windows'
result codes are in :mod:`sgp22.results`."""
from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import TypeVar

# --- Function results ---------------------------------------------------------------------------


class EnableResult(IntEnum):
    ok = 0
    iccidOrAidNotFound = 1
    profileNotInDisabledState = 2
    disallowedByPolicy = 3
    wrongProfileReenabling = 4
    catBusy = 5
    undefinedError = 127


class DisableResult(IntEnum):
    ok = 0
    iccidOrAidNotFound = 1
    profileNotInEnabledState = 2
    disallowedByPolicy = 3
    catBusy = 5
    undefinedError = 127


class DeleteResult(IntEnum):
    ok = 0
    iccidOrAidNotFound = 1
    profileNotInDisabledState = 2
    disallowedByPolicy = 3
    undefinedError = 127


class MemoryResetResult(IntEnum):
    ok = 0
    nothingToDelete = 1
    catBusy = 5
    undefinedError = 127


class SetNicknameResult(IntEnum):
    ok = 0
    iccidNotFound = 1
    undefinedError = 127


class SetDefaultDpAddressResult(IntEnum):
    ok = 0
    undefinedError = 127


class NotificationSentResult(IntEnum):
    """RemoveNotificationFromList (``deleteNotificationStatus``)."""

    ok = 0
    nothingToDelete = 1
    undefinedError = 127


class ProfileInfoListError(IntEnum):
    incorrectInputValues = 1
    undefinedError = 127


class ListNotificationError(IntEnum):
    undefinedError = 127


class RetrieveNotificationsListError(IntEnum):
    noResultAvailable = 1
    undefinedError = 127


class AuthenticateErrorCode(IntEnum):
    invalidCertificate = 1
    invalidSignature = 2
    unsupportedCurve = 3
    noSessionContext = 4
    invalidOid = 5
    euiccChallengeMismatch = 6
    ciPKUnknown = 7
    undefinedError = 127


class DownloadErrorCode(IntEnum):
    invalidCertificate = 1
    invalidSignature = 2
    unsupportedCurve = 3
    noSessionContext = 4
    invalidTransactionId = 5
    undefinedError = 127


class CancelSessionError(IntEnum):
    invalidTransactionId = 5
    undefinedError = 127


class BppCommandId(IntEnum):
    initialiseSecureChannel = 0
    configureISDP = 1
    storeMetadata = 2
    storeMetadata2 = 3
    replaceSessionKeys = 4
    loadProfileElements = 5


class ErrorReason(IntEnum):
    """Why LoadBoundProfilePackage failed (ProfileInstallationResult errorResult)."""

    incorrectInputValues = 1
    invalidSignature = 2
    invalidTransactionId = 3
    unsupportedCrtValues = 4
    unsupportedRemoteOperationType = 5
    unsupportedProfileClass = 6
    scp03tStructureError = 7
    scp03tSecurityError = 8
    installFailedDueToIccidAlreadyExistsOnEuicc = 9
    installFailedDueToInsufficientMemoryForProfile = 10
    installFailedDueToInterruption = 11
    installFailedDueToPEProcessingError = 12
    installFailedDueToDataMismatch = 13
    testProfileInstallFailedDueToInvalidNaaKey = 14
    pprNotAllowed = 15
    installFailedDueToUnknownError = 127


class CancelSessionReason(IntEnum):
    """SGP.22 CancelSessionReason; the first four are OpenHarmony's ``CancelReason`` (its
    ``CANCEL_REASON_POSTPONED`` is ``POSTPONED``, an alias of ``postponed``). All seven have such
    an upper-case alias: the engine's contract names them so (``esimflow.contract.CancelReason``)."""

    endUserRejection = 0
    postponed = 1
    timeout = 2
    pprNotAllowed = 3
    metadataMismatch = 4
    loadBppExecutionError = 5
    undefinedReason = 127
    END_USER_REJECTION = 0
    POSTPONED = 1
    TIMEOUT = 2
    PPR_NOT_ALLOWED = 3
    METADATA_MISMATCH = 4
    LOAD_BPP_EXECUTION_ERROR = 5
    UNDEFINED_REASON = 127


# --- Profile attributes -------------------------------------------------------------------------


class ProfileState(IntEnum):
    """SGP.22 profileState, with OpenHarmony's ``ProfileState`` names as aliases; ``unspecified``
    is OpenHarmony's "the card did not say" (no SGP.22 value: never sent to a card)."""

    unspecified = -1
    disabled = 0
    enabled = 1
    PROFILE_STATE_UNSPECIFIED = -1
    PROFILE_STATE_DISABLED = 0
    PROFILE_STATE_ENABLED = 1


class ProfileClass(IntEnum):
    """SGP.22 profileClass, with OpenHarmony's ``ProfileClass`` names as aliases; ``unspecified``
    is OpenHarmony's "the card did not say" (no SGP.22 value: never sent to a card)."""

    unspecified = -1
    test = 0
    provisioning = 1
    operational = 2
    PROFILE_CLASS_UNSPECIFIED = -1
    PROFILE_CLASS_TEST = 0
    PROFILE_CLASS_PROVISIONING = 1
    PROFILE_CLASS_OPERATIONAL = 2


class IconType(IntEnum):
    jpg = 0
    png = 1


class EuiccCategory(IntEnum):
    other = 0
    basicEuicc = 1
    mediumEuicc = 2
    contactlessEuicc = 3


# --- Bit strings (flag value 1 << n is the ASN.1 named bit n) ---------------------------------


class NotificationEvent(IntFlag):
    install = 1 << 0
    enable = 1 << 1
    disable = 1 << 2
    delete = 1 << 3


class ResetOption(IntFlag):
    """eUICCMemoryReset resetOptions (deleteOperationalProfiles(0), ...), in OpenHarmony's
    ``ResetOption`` names, which number them the same."""

    DELETE_OPERATIONAL_PROFILES = 1 << 0
    DELETE_FIELD_LOADED_TEST_PROFILES = 1 << 1
    RESET_DEFAULT_SMDP_ADDRESS = 1 << 2


class PprIds(IntFlag):
    pprUpdateControl = 1 << 0
    ppr1 = 1 << 1  # disabling this profile is not allowed
    ppr2 = 1 << 2  # deleting this profile is not allowed


class PprFlags(IntFlag):
    consentRequired = 1 << 0


class RspCapability(IntFlag):
    additionalProfile = 1 << 0
    crlSupport = 1 << 1
    rpmSupport = 1 << 2
    testProfileSupport = 1 << 3
    deviceInfoExtensibilitySupport = 1 << 4
    serviceSpecificDataSupport = 1 << 5


# --- OpenHarmony numberings SGP.22 does not share --------------------------------------------


class PolicyRules(IntFlag):
    """OpenHarmony ``PolicyRules``: the profile policy rules, numbered from bit 0 where SGP.22's
    ``PprIds`` starts at bit 1 (``policy_rules_of`` maps them)."""

    POLICY_RULE_DISABLE_NOT_ALLOWED = 1 << 0  # PPR1
    POLICY_RULE_DELETE_NOT_ALLOWED = 1 << 1  # PPR2
    POLICY_RULE_DISABLE_AND_DELETE = 1 << 2  # no PprIds bit in v2.2.2: never read from a card


def policy_rules_of(ppr_ids: PprIds | int | None) -> PolicyRules:
    """The OpenHarmony ``PolicyRules`` of a profile's (or a profile metadata's) SGP.22 PprIds;
    pprUpdateControl has no OpenHarmony rule."""
    ppr = PprIds(int(ppr_ids or 0))
    rules = PolicyRules(0)
    if ppr & PprIds.ppr1:
        rules |= PolicyRules.POLICY_RULE_DISABLE_NOT_ALLOWED
    if ppr & PprIds.ppr2:
        rules |= PolicyRules.POLICY_RULE_DELETE_NOT_ALLOWED
    return rules


class SolvableErrors(IntFlag):
    """OpenHarmony ``SolvableErrors``: what a download needs from its user before it can go on."""

    SOLVABLE_ERROR_NEED_CONFIRMATION_CODE = 1 << 0
    SOLVABLE_ERROR_NEED_POLICY_RULE = 1 << 1


class OsuStatus(IntEnum):
    """OpenHarmony ``OsuStatus``: how an eUICC OS update ended (SGP.22 leaves OS updates to the
    manufacturer); esimflow's vendor OSU commands carry the same numbers (``docs/osu.md``)."""

    EUICC_UPGRADE_IN_PROGRESS = 1
    EUICC_UPGRADE_FAILED = 2
    EUICC_UPGRADE_SUCCESSFUL = 3
    EUICC_UPGRADE_ALREADY_LATEST = 4
    EUICC_UPGRADE_SERVICE_UNAVAILABLE = 5


E = TypeVar("E", bound=IntEnum)
F = TypeVar("F", bound=IntFlag)


def enum_value(enum_class: type[E], value: int) -> E | int:
    """The named member, or the bare integer when the card uses a value this version does not
    name (callers still treat it as not ok)."""
    try:
        return enum_class(value)
    except ValueError:
        return value


def value_name(value: IntEnum | int) -> str:
    return value.name if isinstance(value, IntEnum) else f"unknown({int(value)})"


def flags_to_bits(flags: int) -> tuple[bytes, int]:
    """asn1tools BIT STRING value for a set of named bits, trailing zero bits dropped as DER
    requires for named-bit lists."""
    flags = int(flags)
    if flags < 0:
        raise ValueError("negative flags")
    length = flags.bit_length()
    octets = bytearray((length + 7) // 8)
    for bit in range(length):
        if flags >> bit & 1:
            octets[bit // 8] |= 0x80 >> (bit % 8)
    return bytes(octets), length


def bits_to_flags(flag_class: type[F], bits: tuple[bytes, int]) -> F:
    """Flags from an asn1tools BIT STRING value; bits this version does not name are kept."""
    octets, length = bits
    flags = 0
    for bit in range(min(length, len(octets) * 8)):
        if octets[bit // 8] & (0x80 >> (bit % 8)):
            flags |= 1 << bit
    return flag_class(flags)
