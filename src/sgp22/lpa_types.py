"""The plain LPA's step results (`sgp22.lpa`): plain dataclasses with hex strings for bytes, so
each step's answer can be logged, stored or handed to the next step as it is. Signed blobs and
anything carrying a matching ID stay out of their reprs."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EuiccAuthData:
    euicc_challenge: str
    euicc_info1: str


@dataclass
class ServerChallenge:
    """initiateAuthentication's answer, checked against what the LPA asked for."""

    smdp_address: str
    transaction_id: str
    server_signed1: str = field(repr=False)
    server_signature1: str = field(repr=False)
    euicc_ci_pkid: str
    server_certificate: str = field(repr=False)


@dataclass
class AuthResult:
    transaction_id: str
    # carries the matching ID (in euiccSigned1.ctxParams1): keep it out of reprs
    authenticate_server_response: str = field(repr=False)


@dataclass
class ProfileOffer:
    """What the SM-DP+ will install (its metadata) and what PrepareDownload needs."""

    transaction_id: str
    iccid: str
    service_provider_name: str
    profile_name: str
    profile_class: int
    ppr_ids: int
    cc_required: bool
    profile_metadata: str = field(repr=False)
    smdp_signed2: str = field(repr=False)
    smdp_signature2: str = field(repr=False)
    smdp_certificate: str = field(repr=False)


@dataclass
class PrepareResult:
    transaction_id: str
    prepare_download_response: str = field(repr=False)


@dataclass
class BppResult:
    transaction_id: str
    iccid: str
    segments: int
    bound_profile_package: str = field(repr=False)


@dataclass
class InstallResult:
    """The eUICC's ProfileInstallationResult; ``pir`` must still be sent to the SM-DP+."""

    ok: bool
    iccid: str | None
    transaction_id: str
    seq_number: int
    notification_address: str
    isdp_aid: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    pir: str = field(default="", repr=False)


@dataclass
class DownloadResult:
    iccid: str
    transaction_id: str
    isdp_aid: str | None
    install: InstallResult
    pir_delivered: bool


@dataclass
class NotificationOutcome:
    seq_number: int
    event: str
    address: str
    delivered: bool
    error_kind: str | None = None
    error_message: str | None = None
