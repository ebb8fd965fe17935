"""What an RSP download session exchanges with the eUICC (SGP.22 ES10b): the device info the
SM-DP+ is told, the SM-DP+'s signed authentication, the AuthenticateServer and PrepareDownload
requests and answers, and the profile installation result (PIR). Apart from ``sgp22.es10_types``
(the eUICC's own information, profiles, notifications) because only a download uses them, and
they keep the signed bytes that travel on to the SM-DP+.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sgp22.errors import BadInputError
from sgp22.es10_enums import BppCommandId, ErrorReason, enum_value, value_name
from sgp22.es10_types import EuiccInfo2, NotificationMetadata, PendingNotification
from sgp22.secret_text import mask_secret


@dataclass(frozen=True)
class DeviceInfo:
    """What the LPA tells the SM-DP+ about the device (ctxParams1.deviceInfo).

    ``tac``: the 8-digit type allocation code (first 8 digits of the IMEI); ``capabilities``:
    DeviceCapabilities field name -> release as "major.minor.revision".
    """

    tac: str = "35290611"
    capabilities: dict[str, str] = field(default_factory=dict[str, Any])
    imei: str | None = None

    def to_asn1(self) -> dict[str, Any]:
        if not (len(self.tac) == 8 and self.tac.isdigit()):
            raise BadInputError(f"TAC must be 8 digits, got {self.tac!r}")
        caps = {}
        for name, release in self.capabilities.items():
            try:
                parts = [int(part) for part in release.split(".")]
            except ValueError:
                raise BadInputError(f"device capability {name}: release {release!r} is not x.y.z") from None
            if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
                raise BadInputError(f"device capability {name}: release {release!r} is not x.y.z")
            caps[name] = bytes(parts)
        value: dict[str, Any] = {"tac": bytes.fromhex(self.tac), "deviceCapabilities": caps}
        if self.imei is not None:
            value["imei"] = _imei_coded(self.imei)
        return value


def _imei_coded(imei: str) -> bytes:
    """IMEI as 8 bytes of nibble-swapped BCD (TS 24.008 mobile identity digits, F padding)."""
    if not (imei.isdigit() and len(imei) in (15, 16)):
        raise BadInputError("IMEI must be 15 or 16 digits")
    padded = imei.ljust(16, "F")
    return bytes(int(padded[i + 1], 16) << 4 | int(padded[i], 16) for i in range(0, 16, 2))


@dataclass(frozen=True)
class ServerAuthentication:
    """initiateAuthentication's answer as the eUICC needs it: raw TLVs, kept byte for byte."""

    server_signed1: bytes
    server_signature1: bytes  # the whole 5F37 TLV
    euicc_ci_pkid_to_be_used: bytes  # the whole 04 TLV
    server_certificate: bytes


@dataclass(frozen=True)
class AuthenticateServerRequest:
    server: ServerAuthentication
    matching_id: str | None
    device_info: DeviceInfo = field(default_factory=DeviceInfo)

    def __repr__(self) -> str:
        shown = None if self.matching_id is None else mask_secret(self.matching_id)
        return f"AuthenticateServerRequest(matching_id={shown!r}, device_info={self.device_info!r})"


@dataclass(frozen=True)
class AuthenticateServerResult:
    """The eUICC's signed answer, forwarded as is to authenticateClient."""

    raw: bytes = field(repr=False)
    transaction_id: bytes
    server_address: str
    euicc_info2: EuiccInfo2 | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PrepareDownloadRequest:
    smdp_signed2: bytes
    smdp_signature2: bytes  # the whole 5F37 TLV
    smdp_certificate: bytes
    hash_cc: bytes | None = None


@dataclass(frozen=True)
class PrepareDownloadResult:
    raw: bytes = field(repr=False)
    transaction_id: bytes
    euicc_otpk: bytes
    hash_cc: bytes | None = None


@dataclass(frozen=True)
class InstallError:
    command: BppCommandId | int
    reason: ErrorReason | int

    @property
    def reason_name(self) -> str:
        return value_name(self.reason)

    @property
    def command_name(self) -> str:
        return value_name(self.command)


@dataclass(frozen=True)
class ProfileInstallationResult:
    """The PIR (BF37): signed by the eUICC, it must reach the SM-DP+ even when it reports an error."""

    raw: bytes = field(repr=False)
    transaction_id: bytes
    notification: NotificationMetadata
    smdp_oid: str
    isdp_aid: bytes | None = None
    error: InstallError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def iccid(self) -> str | None:
        return self.notification.iccid

    @classmethod
    def from_asn1(cls, raw: bytes, value: dict[str, Any]) -> ProfileInstallationResult:
        data = value["profileInstallationResultData"]
        outcome, detail = data["finalResult"]
        error = None
        aid = None
        if outcome == "successResult":
            aid = detail["aid"]
        else:
            error = InstallError(
                enum_value(BppCommandId, detail["bppCommandId"]), enum_value(ErrorReason, detail["errorReason"])
            )
        return cls(
            raw=raw,
            transaction_id=data["transactionId"],
            notification=NotificationMetadata.from_asn1(data["notificationMetadata"]),
            smdp_oid=data["smdpOid"],
            isdp_aid=aid,
            error=error,
        )

    def as_pending(self) -> PendingNotification:
        return PendingNotification(self.raw, self.notification)
