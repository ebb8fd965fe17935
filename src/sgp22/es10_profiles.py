"""ES10c local profile management: list, enable, disable, delete, nickname, memory reset."""
from __future__ import annotations

from typing import Any

from sgp22.errors import BadInputError
from sgp22.es10_base import Es10Channel, call, check_result, result_error
from sgp22.es10_enums import (
    DeleteResult,
    DisableResult,
    EnableResult,
    MemoryResetResult,
    ProfileClass,
    ProfileInfoListError,
    ResetOption,
    SetNicknameResult,
    enum_value,
    flags_to_bits,
)
from sgp22.es10_types import ProfileInfo, iccid_coded

# every ProfileInfo tag, for callers that want the icon and policy data too
ALL_PROFILE_INFO_TAGS = bytes.fromhex("5A4F9F70909192939495B6B7B899BF76")


def _profile_identifier(iccid: str | None, isdp_aid: bytes | None) -> tuple[str, bytes]:
    if iccid is not None and isdp_aid is None:
        return "iccid", iccid_coded(iccid)
    if isdp_aid is None or iccid is not None:
        raise BadInputError("name the profile by exactly one of ICCID or ISD-P AID")
    if not 5 <= len(isdp_aid) <= 16:
        raise BadInputError(f"ISD-P AID of {len(isdp_aid)} bytes (5..16 allowed)")
    return "isdpAid", isdp_aid


def get_profiles_info(
    isdr: Es10Channel,
    *,
    iccid: str | None = None,
    isdp_aid: bytes | None = None,
    profile_class: ProfileClass | None = None,
    tags: bytes | None = None,
) -> list[ProfileInfo]:
    """Profiles on the eUICC, optionally only one (by ICCID or AID) or one class; ``tags``
    limits the fields reported (the eUICC's default set otherwise)."""
    request: dict[str, Any] = {}
    criteria = [c for c in (iccid, isdp_aid, profile_class) if c is not None]
    if len(criteria) > 1:
        raise BadInputError("search profiles by at most one of ICCID, ISD-P AID or profile class")
    if profile_class is not None:
        request["searchCriteria"] = ("profileClass", int(profile_class))
    elif criteria:
        request["searchCriteria"] = _profile_identifier(iccid, isdp_aid)
    if tags is not None:
        request["tagList"] = tags
    alternative, value = call(isdr, "ProfileInfoListRequest", request, "ProfileInfoListResponse")
    if alternative == "profileInfoListError":
        raise result_error("getProfilesInfo", enum_value(ProfileInfoListError, value))
    return [ProfileInfo.from_asn1(item) for item in value]


def enable_profile(
    isdr: Es10Channel, *, iccid: str | None = None, isdp_aid: bytes | None = None, refresh: bool = True
) -> None:
    request = {"profileIdentifier": _profile_identifier(iccid, isdp_aid), "refreshFlag": refresh}
    value = call(isdr, "EnableProfileRequest", request, "EnableProfileResponse")
    check_result("enableProfile", EnableResult, value["enableResult"])


def disable_profile(
    isdr: Es10Channel, *, iccid: str | None = None, isdp_aid: bytes | None = None, refresh: bool = True
) -> None:
    request = {"profileIdentifier": _profile_identifier(iccid, isdp_aid), "refreshFlag": refresh}
    value = call(isdr, "DisableProfileRequest", request, "DisableProfileResponse")
    check_result("disableProfile", DisableResult, value["disableResult"])


def delete_profile(isdr: Es10Channel, *, iccid: str | None = None, isdp_aid: bytes | None = None) -> None:
    value = call(isdr, "DeleteProfileRequest", _profile_identifier(iccid, isdp_aid), "DeleteProfileResponse")
    check_result("deleteProfile", DeleteResult, value["deleteResult"])


def memory_reset(isdr: Es10Channel, options: ResetOption) -> None:
    if not 0 < int(options) <= 7:
        raise BadInputError(f"memory reset options must combine the three ResetOption bits, got {int(options)}")
    value = call(isdr, "EuiccMemoryResetRequest", {"resetOptions": flags_to_bits(options)}, "EuiccMemoryResetResponse")
    check_result("eUICCMemoryReset", MemoryResetResult, value["resetResult"])


def set_nickname(isdr: Es10Channel, iccid: str, nickname: str) -> None:
    if len(nickname) > 64:
        raise BadInputError(f"nickname of {len(nickname)} characters (64 allowed)")
    request = {"iccid": iccid_coded(iccid), "profileNickname": nickname}
    value = call(isdr, "SetNicknameRequest", request, "SetNicknameResponse")
    check_result("setNickname", SetNicknameResult, value["setNicknameResult"])
