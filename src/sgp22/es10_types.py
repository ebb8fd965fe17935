"""Typed values of ES10 requests and responses, built from (and to) the asn1tools values of
`sgp22.codec`. Raw DER is kept wherever it is signed or forwarded to an SM-DP+, since
re-encoding may change bytes a signature covers."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from sgp22 import tlv
from sgp22.errors import BadInputError, MalformedDataError
from sgp22.es10_enums import (
    EuiccCategory,
    IconType,
    NotificationEvent,
    PprFlags,
    PprIds,
    ProfileClass,
    ProfileState,
    RspCapability,
    bits_to_flags,
    enum_value,
)
from sgp22.identifiers import Iccid


def version_text(version: bytes) -> str:
    """VersionType: three binary bytes major.minor.revision."""
    return ".".join(str(part) for part in version)


def iccid_digits(coded: bytes) -> str:
    """ICCID from its EF.ICCID coding as the card holds it (the Luhn digit is not judged)."""
    return Iccid.from_bytes(coded).digits


def iccid_coded(iccid: str) -> bytes:
    """EF.ICCID coding of a 19- or 20-digit ICCID; the card, not the LPA, decides whether a
    profile with that ICCID exists, so the Luhn digit is not enforced here."""
    if not isinstance(iccid, str):
        raise BadInputError(f"an ICCID is text, got {type(iccid).__name__}", kind="input.iccid.type")
    return Iccid(iccid).to_bytes()


# --- eUICC information -----------------------------------------------------------------------


@dataclass(frozen=True)
class EuiccInfo1:
    raw: bytes = field(repr=False)
    svn: str
    ci_pkids_for_verification: list[bytes]
    ci_pkids_for_signing: list[bytes]

    @classmethod
    def from_asn1(cls, raw: bytes, value: dict[str, Any]) -> EuiccInfo1:
        return cls(
            raw=raw,
            svn=version_text(value["svn"]),
            ci_pkids_for_verification=list(value["euiccCiPKIdListForVerification"]),
            ci_pkids_for_signing=list(value["euiccCiPKIdListForSigning"]),
        )


@dataclass(frozen=True)
class ExtCardResource:
    """ETSI TS 102 226 extended card resource information (tags 81, 82, 83)."""

    installed_applications: int | None = None
    free_nvm: int | None = None
    free_ram: int | None = None

    @classmethod
    def parse(cls, data: bytes) -> ExtCardResource:
        values: dict[int, int] = {}
        try:
            for item in tlv.children(data):
                values[item.tag] = int.from_bytes(item.value, "big") if item.value else 0
        except MalformedDataError:
            return cls()  # a vendor format we cannot read: the figures stay unknown
        return cls(values.get(0x81), values.get(0x82), values.get(0x83))


@dataclass(frozen=True)
class EuiccInfo2:
    raw: bytes = field(repr=False)
    profile_version: str
    svn: str
    firmware_version: str
    ext_card_resource: ExtCardResource
    uicc_capability: bytes
    rsp_capability: RspCapability
    ci_pkids_for_verification: list[bytes]
    ci_pkids_for_signing: list[bytes]
    pp_version: str
    sas_accreditation_number: str
    ts102241_version: str | None = None
    globalplatform_version: str | None = None
    euicc_category: EuiccCategory | int | None = None
    forbidden_profile_policy_rules: PprIds | None = None

    @classmethod
    def from_asn1(cls, raw: bytes, value: dict[str, Any]) -> EuiccInfo2:
        optional_version = {k: version_text(value[k]) if k in value else None
                            for k in ("ts102241Version", "globalplatformVersion")}
        return cls(
            raw=raw,
            profile_version=version_text(value["profileVersion"]),
            svn=version_text(value["svn"]),
            firmware_version=version_text(value["euiccFirmwareVer"]),
            ext_card_resource=ExtCardResource.parse(value["extCardResource"]),
            uicc_capability=value["uiccCapability"][0],
            rsp_capability=bits_to_flags(RspCapability, value["rspCapability"]),
            ci_pkids_for_verification=list(value["euiccCiPKIdListForVerification"]),
            ci_pkids_for_signing=list(value["euiccCiPKIdListForSigning"]),
            pp_version=version_text(value["ppVersion"]),
            sas_accreditation_number=value["sasAcreditationNumber"],
            ts102241_version=optional_version["ts102241Version"],
            globalplatform_version=optional_version["globalplatformVersion"],
            euicc_category=enum_value(EuiccCategory, value["euiccCategory"]) if "euiccCategory" in value else None,
            forbidden_profile_policy_rules=(
                bits_to_flags(PprIds, value["forbiddenProfilePolicyRules"])
                if "forbiddenProfilePolicyRules" in value else None
            ),
        )


@dataclass(frozen=True)
class ConfiguredAddresses:
    default_dp_address: str | None
    root_ds_address: str


# --- Profiles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorId:
    mcc_mnc: bytes  # 3GPP TS 24.008 coding
    gid1: bytes | None = None
    gid2: bytes | None = None

    @property
    def mcc(self) -> str:
        b = self.mcc_mnc
        return f"{b[0] & 0x0F:X}{b[0] >> 4:X}{b[1] & 0x0F:X}"

    @property
    def mnc(self) -> str:
        b = self.mcc_mnc
        third = b[1] >> 4
        return f"{b[2] & 0x0F:X}{b[2] >> 4:X}" + ("" if third == 0xF else f"{third:X}")

    @classmethod
    def from_asn1(cls, value: dict[str, Any]) -> OperatorId:
        return cls(value["mccMnc"], value.get("gid1"), value.get("gid2"))

    @classmethod
    def from_plmn(cls, mcc: str, mnc: str, gid1: bytes | None = None, gid2: bytes | None = None) -> OperatorId:
        """From a 3-digit MCC and a 2- or 3-digit MNC (TS 24.008 coding: MCC2 MCC1, MNC3 MCC3, MNC2 MNC1)."""
        if not (len(mcc) == 3 and mcc.isdigit() and mcc.isascii() and len(mnc) in (2, 3) and mnc.isdigit()
                and mnc.isascii()):
            raise BadInputError(f"an operator is a 3-digit MCC and a 2- or 3-digit MNC, not {mcc!r}/{mnc!r}")
        third = mnc[2] if len(mnc) == 3 else "F"
        return cls(bytes.fromhex(mcc[1] + mcc[0] + third + mcc[2] + mnc[1] + mnc[0]), gid1, gid2)

    def to_asn1(self) -> dict[str, Any]:
        value: dict[str, Any] = {"mccMnc": self.mcc_mnc}
        if self.gid1 is not None:
            value["gid1"] = self.gid1
        if self.gid2 is not None:
            value["gid2"] = self.gid2
        return value


@dataclass(frozen=True)
class NotificationConfiguration:
    """Which events of a profile are reported, and where (NotificationConfigurationInformation)."""

    events: NotificationEvent
    address: str

    @classmethod
    def from_asn1(cls, value: dict[str, Any]) -> NotificationConfiguration:
        return cls(bits_to_flags(NotificationEvent, value["profileManagementOperation"]), value["notificationAddress"])


@dataclass(frozen=True)
class AccessRule:
    """One GlobalPlatform SEAC access rule of a profile's ARA-M as GetProfilesInfo reports it
    (``refArDo``, 'E2'): the app, by the hash of its signing certificate (DeviceAppID-REF-DO,
    SHA-1 or SHA-256) and optionally its package name, and its PERM-AR-DO (8 bytes, Android's
    carrier-privilege bits, read as one big-endian number)."""

    certificate_hash: bytes
    package_name: str | None = None
    permissions: int = 0

    def __post_init__(self) -> None:
        if len(self.certificate_hash) not in (20, 32):
            raise BadInputError(f"an access rule's certificate hash is 20 or 32 bytes, not {len(self.certificate_hash)}")
        if self.package_name is not None and len(self.package_name.encode()) > 127:
            raise BadInputError("an access rule's package name is at most 127 bytes")
        if not 0 <= self.permissions < 1 << 64:
            raise BadInputError("an access rule's permissions are 8 bytes")

    @classmethod
    def from_asn1(cls, value: dict[str, Any]) -> AccessRule:
        ref = value["refDo"]
        package = ref.get("pkgRefDo")
        try:
            name = package.decode() if package is not None else None
        except UnicodeDecodeError:
            raise MalformedDataError("an access rule's package name is not UTF-8") from None
        return cls(ref["deviceAppIdRefDo"], name, int.from_bytes(value["arDo"]["permArDo"], "big"))

    def to_asn1(self) -> dict[str, Any]:
        ref: dict[str, Any] = {"deviceAppIdRefDo": self.certificate_hash}
        if self.package_name is not None:
            ref["pkgRefDo"] = self.package_name.encode()
        return {"refDo": ref, "arDo": {"permArDo": self.permissions.to_bytes(8, "big")}}


@dataclass(frozen=True)
class ProfileInfo:
    """One entry of GetProfilesInfo; fields the eUICC did not report are None."""

    iccid: str | None = None
    isdp_aid: bytes | None = None
    state: ProfileState | int | None = None
    nickname: str | None = None
    service_provider_name: str | None = None
    profile_name: str | None = None
    icon_type: IconType | int | None = None
    icon: bytes | None = field(default=None, repr=False)
    profile_class: ProfileClass | int | None = None
    notification_configuration_info: list[NotificationConfiguration] = field(default_factory=list)
    profile_owner: OperatorId | None = None
    ppr_ids: PprIds | None = None
    access_rules: list[AccessRule] = field(default_factory=list)

    @classmethod
    def from_asn1(cls, value: dict[str, Any]) -> ProfileInfo:
        return cls(
            iccid=iccid_digits(value["iccid"]) if "iccid" in value else None,
            isdp_aid=value.get("isdpAid"),
            state=enum_value(ProfileState, value["profileState"]) if "profileState" in value else None,
            nickname=value.get("profileNickname"),
            service_provider_name=value.get("serviceProviderName"),
            profile_name=value.get("profileName"),
            icon_type=enum_value(IconType, value["iconType"]) if "iconType" in value else None,
            icon=value.get("icon"),
            profile_class=enum_value(ProfileClass, value["profileClass"]) if "profileClass" in value else None,
            notification_configuration_info=[
                NotificationConfiguration.from_asn1(item) for item in value.get("notificationConfigurationInfo", [])
            ],
            profile_owner=OperatorId.from_asn1(value["profileOwner"]) if "profileOwner" in value else None,
            ppr_ids=bits_to_flags(PprIds, value["profilePolicyRules"]) if "profilePolicyRules" in value else None,
            access_rules=[AccessRule.from_asn1(item) for item in value.get("refArDo", [])],
        )


@dataclass(frozen=True)
class ProfileMetadata:
    """StoreMetadataRequest as the SM-DP+ announces it (authenticateClient) and as the BPP carries it."""

    raw: bytes = field(repr=False)
    iccid: str
    service_provider_name: str
    profile_name: str
    profile_class: ProfileClass | int = ProfileClass.operational
    icon_type: IconType | int | None = None
    icon: bytes | None = field(default=None, repr=False)
    notification_configuration_info: list[NotificationConfiguration] = field(default_factory=list)
    profile_owner: OperatorId | None = None
    ppr_ids: PprIds = PprIds(0)
    access_rules: list[AccessRule] = field(default_factory=list)
    """The ARA-M rules the profile will bring, when the SM-DP+ announces them (refArDo)."""

    @classmethod
    def from_asn1(cls, raw: bytes, value: dict[str, Any]) -> ProfileMetadata:
        return cls(
            raw=raw,
            iccid=iccid_digits(value["iccid"]),
            service_provider_name=value["serviceProviderName"],
            profile_name=value["profileName"],
            profile_class=enum_value(ProfileClass, value.get("profileClass", ProfileClass.operational)),
            icon_type=enum_value(IconType, value["iconType"]) if "iconType" in value else None,
            icon=value.get("icon"),
            notification_configuration_info=[
                NotificationConfiguration.from_asn1(item) for item in value.get("notificationConfigurationInfo", [])
            ],
            profile_owner=OperatorId.from_asn1(value["profileOwner"]) if "profileOwner" in value else None,
            ppr_ids=bits_to_flags(PprIds, value["profilePolicyRules"]) if "profilePolicyRules" in value else PprIds(0),
            access_rules=[AccessRule.from_asn1(item) for item in value.get("refArDo", [])],
        )

    def same_content(self, other: ProfileMetadata) -> bool:
        """Equal as values (the two copies may be encoded differently)."""
        return {k: v for k, v in vars(self).items() if k != "raw"} == {k: v for k, v in vars(other).items() if k != "raw"}


@dataclass(frozen=True)
class RatRule:
    """One ProfilePolicyAuthorisationRule of the eUICC's Rules Authorisation Table."""

    ppr_ids: PprIds
    allowed_operators: list[OperatorId]
    ppr_flags: PprFlags

    @classmethod
    def from_asn1(cls, value: dict[str, Any]) -> RatRule:
        return cls(
            bits_to_flags(PprIds, value["pprIds"]),
            [OperatorId.from_asn1(item) for item in value["allowedOperators"]],
            bits_to_flags(PprFlags, value["pprFlags"]),
        )


# --- Notifications -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationMetadata:
    seq_number: int
    event: NotificationEvent
    address: str
    iccid: str | None = None

    @classmethod
    def from_asn1(cls, value: dict[str, Any]) -> NotificationMetadata:
        return cls(
            seq_number=value["seqNumber"],
            event=bits_to_flags(NotificationEvent, value["profileManagementOperation"]),
            address=value["notificationAddress"],
            iccid=iccid_digits(value["iccid"]) if "iccid" in value else None,
        )

    @property
    def event_name(self) -> str:
        return self.event.name or f"unknown({int(self.event)})"


@dataclass(frozen=True)
class PendingNotification:
    """A notification waiting on the eUICC: a PIR (BF37) or an OtherSignedNotification (30)."""

    raw: bytes = field(repr=False)
    metadata: NotificationMetadata

    @property
    def base64(self) -> str:
        return base64.b64encode(self.raw).decode("ascii")
