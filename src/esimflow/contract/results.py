"""What a client receives: every operation's ``OperationResult`` (OpenHarmony ``ResultCode``
and Windows ``ESimOperationStatus``), the values its ``data`` carries, and a running
operation's ``Progress``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sgp22.es10_enums import ProfileClass, ProfileState
from sgp22.results import OhResultCode, WinStatus


@dataclass
class ProfileInfo:
    """One profile as GetProfilesInfo reports it, in OpenHarmony's ``EuiccProfile`` terms."""

    iccid: str
    state: int = int(ProfileState.unspecified)
    nickname: str = ""
    service_provider_name: str = ""
    profile_name: str = ""
    profile_class: int = int(ProfileClass.unspecified)
    policy_rules: int = 0
    isdp_aid: str = ""
    operator: dict[str, str] | None = None  # mcc, mnc, gid1, gid2
    access_rules: list[dict[str, Any]] = field(default_factory=list)  # openharmony.AccessRule fields


@dataclass
class ProfileMetadata:
    """What the SM-DP+ says it will install (StoreMetadata), shown before consent."""

    iccid: str
    service_provider_name: str = ""
    profile_name: str = ""
    profile_class: int = int(ProfileClass.operational)
    policy_rules: int = 0
    confirmation_code_required: bool = False
    solvable_errors: int = 0
    access_rules: list[dict[str, Any]] = field(default_factory=list)  # openharmony.AccessRule fields


@dataclass
class DownloadableProfile:
    """A profile waiting for this EID; ``activation_code`` is masked in listings."""

    smdp_address: str
    activation_code: str | None = None
    source: str = "smdp"  # "smdp" (default SM-DP+) or "smds" (an ES11 event)
    event_id: str | None = None


@dataclass
class DeviceInfo:
    """A registry entry: which worker host owns the card and how it reaches it.

    ``workflow_task_queue``: where operations on this card run. The card host's own queue when
    that host also runs workflows (its card and network steps then run as local activities,
    without a server round trip each); empty when operations run on the engine's workflow queue
    and reach the card host through its card queue.
    """

    eid: str
    card_host: str
    reader: str  # "pcsc:<reader name>" or "local:<name>"
    name: str = ""
    workflow_task_queue: str = ""


@dataclass
class OperationResult:
    """How every operation ends: OpenHarmony ``ResultCode`` and Windows ``ESimOperationStatus``.

    ``data`` carries the operation's answer (profiles, metadata, EID, ...) as plain JSON values.
    ``message`` never contains a matching ID, a confirmation code or a key.
    """

    operation: str
    eid: str
    ok: bool
    oh_result: int
    oh_result_name: str
    win_status: int
    win_status_name: str
    error_kind: str | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    workflow_id: str = ""

    @classmethod
    def success(cls, operation: str, eid: str, data: dict[str, Any] | None = None, message: str = "",
                workflow_id: str = "") -> OperationResult:
        return cls(
            operation=operation, eid=eid, ok=True,
            oh_result=int(OhResultCode.RESULT_OK), oh_result_name=OhResultCode.RESULT_OK.name,
            win_status=int(WinStatus.Success), win_status_name=WinStatus.Success.name,
            message=message or "ok", data=data or {}, workflow_id=workflow_id,
        )

    @classmethod
    def failure(cls, operation: str, eid: str, *, oh_result: OhResultCode, win_status: WinStatus,
                error_kind: str, message: str, data: dict[str, Any] | None = None,
                workflow_id: str = "") -> OperationResult:
        return cls(
            operation=operation, eid=eid, ok=False,
            oh_result=int(oh_result), oh_result_name=OhResultCode(oh_result).name,
            win_status=int(win_status), win_status_name=WinStatus(win_status).name,
            error_kind=error_kind, message=message, data=data or {}, workflow_id=workflow_id,
        )


@dataclass
class Progress:
    """What a running operation is doing, for progress displays (query ``progress``)."""

    operation: str
    phase: str = "queued"
    awaiting: str | None = None  # "confirmation_code" | "consent" while waiting for the user
    transaction_id: str | None = None
    metadata: ProfileMetadata | None = None
    segments_done: int = 0
    segments_total: int = 0
    session_attempt: int = 1
    detail: str = ""
