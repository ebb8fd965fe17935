"""ES10c local profile management: list, enable, disable, delete, nickname, memory reset, RAT.

Rules the card enforces (SGP.22 sections 2.9 and 5.7.x):
- one enabled profile (single port); enabling B disables A, each with its notifications;
- PPR1 (disabling not allowed) and PPR2 (deletion not allowed) of an operational profile answer
  disallowedByPolicy, also when enabling another operational profile would disable a PPR1
  profile; PPRs of test and provisioning profiles are not enforced, and a provisioning profile
  may take over from a PPR1 profile;
- only disabled profiles can be deleted;
- enable, disable and memory reset answer catBusy while an RSP session is open (or when the
  catBusy fault is set);
- memory reset deletes operational and/or field-loaded test profiles, never provisioning
  profiles, and answers nothingToDelete when an option finds nothing. As in SGP.22 v2.2 it
  signs no notification for what it erases (v3 added delete notifications); the erased
  profiles' pending enable/disable/delete notifications go with them, so no LPA can later
  report a state change of a profile the card no longer holds. Their installation results
  stay: each concludes an SM-DP+'s download order;
- an empty nickname clears the nickname.
"""
from __future__ import annotations

import enum
from collections.abc import Callable

from sgp22 import codec
from sgp22.es10_enums import ProfileClass, ResetOption, bits_to_flags
from sgp22.es10_types import AccessRule

from rsplab.euicc.asn1_bits import to_bits
from rsplab.euicc.config import PPR_NAMES, EuiccConfig
from rsplab.euicc.faults import Faults
from rsplab.euicc.identity import EuiccCredential, EuiccIdentity
from rsplab.euicc.notifications import NOTIFICATION_EVENTS, record_event
from rsplab.euicc.state import EuiccState, Profile, StateStore

TEST, PROVISIONING, OPERATIONAL = ProfileClass.test, ProfileClass.provisioning, ProfileClass.operational


class Result(enum.IntEnum):
    OK = 0
    NOT_FOUND = 1
    WRONG_STATE = 2
    DISALLOWED_BY_POLICY = 3
    CAT_BUSY = 5
    UNDEFINED = 127


NOTHING_TO_DELETE = 1
INCORRECT_INPUT_VALUES = 1

_INFO_TAGS = {
    0x5A: "iccid", 0x4F: "isdpAid", 0x9F70: "profileState", 0x90: "profileNickname",
    0x91: "serviceProviderName", 0x92: "profileName", 0x93: "iconType", 0x94: "icon",
    0x95: "profileClass", 0xB6: "notificationConfigurationInfo", 0xB7: "profileOwner",
    0xB8: "dpProprietaryData", 0x99: "profilePolicyRules", 0xBF76: "refArDo",
}


def parse_tag_list(data: bytes) -> list[int]:
    """The tags of a ``5C`` tag list (tags only, no lengths)."""
    tags, position = [], 0
    while position < len(data):
        tag = data[position]
        position += 1
        if tag & 0x1F == 0x1F:
            while True:
                if position >= len(data):
                    raise ValueError("tag list ends inside a tag")
                tag = (tag << 8) | data[position]
                position += 1
                if not tag & 0x80:
                    break
        tags.append(tag)
    return tags


def _enforces_pprs(profile: Profile) -> bool:
    return profile.profile_class == OPERATIONAL


class ProfileFunctions:
    def __init__(self, identity: EuiccIdentity, config: EuiccConfig, store: StateStore, faults: Faults,
                 session_open: Callable[[], bool]) -> None:
        self.identity = identity
        self.config = config
        self.store = store
        self.faults = faults
        self._session_open = session_open

    def _busy(self) -> bool:
        return self.faults.cat_busy or self._session_open()

    def _credential(self, profile: Profile) -> EuiccCredential:
        if profile.ci_pkid:
            credential = self.identity.credential_for(bytes.fromhex(profile.ci_pkid))
            if credential is not None:
                return credential
        return self.identity.credentials[0]

    @staticmethod
    def _find(state: EuiccState, identifier) -> Profile | None:
        kind, value = identifier
        return state.profile_by_aid(value) if kind == "isdpAid" else state.profile_by_iccid(value)

    # --- GetProfilesInfo

    def get_profiles_info(self, request: dict) -> bytes:
        try:
            tags = parse_tag_list(request["tagList"]) if request.get("tagList") is not None else list(_INFO_TAGS)
        except ValueError:
            return codec.encode("ProfileInfoListResponse", ("profileInfoListError", INCORRECT_INPUT_VALUES))
        wanted = [_INFO_TAGS[tag] for tag in tags if tag in _INFO_TAGS]
        profiles = self.store.state.profiles
        criteria = request.get("searchCriteria")
        if criteria is not None:
            kind, value = criteria
            if kind == "profileClass":
                profiles = [p for p in profiles if p.profile_class == value]
            elif kind == "isdpAid":
                profiles = [p for p in profiles if p.isdp_aid_bytes == value]
            else:
                profiles = [p for p in profiles if p.iccid_bytes == value]
        infos = [self._info(p, wanted) for p in profiles]
        return codec.encode("ProfileInfoListResponse", ("profileInfoListOk", infos))

    @staticmethod
    def _info(profile: Profile, wanted: list[str]) -> dict:
        available = {
            "iccid": profile.iccid_bytes,
            "isdpAid": profile.isdp_aid_bytes,
            "profileState": 1 if profile.enabled else 0,
            "profileNickname": profile.nickname,
            "serviceProviderName": profile.service_provider_name,
            "profileName": profile.profile_name,
            "iconType": profile.icon_type,
            "icon": bytes.fromhex(profile.icon) if profile.icon is not None else None,
            "profileClass": profile.profile_class,
            "notificationConfigurationInfo": [
                {"profileManagementOperation": to_bits(t.events, NOTIFICATION_EVENTS), "notificationAddress": t.address}
                for t in profile.notification_targets
            ] or None,
            "profileOwner": {k: bytes.fromhex(v) for k, v in profile.profile_owner.items()} if profile.profile_owner else None,
            "dpProprietaryData": {"dpOid": profile.dp_oid} if profile.dp_oid else None,
            "profilePolicyRules": to_bits(profile.pprs, PPR_NAMES) if profile.pprs else None,
            "refArDo": [AccessRule(bytes.fromhex(rule["certificate_hash"]), rule.get("package_name"),
                                   rule.get("permissions", 0)).to_asn1()
                        for rule in profile.access_rules] or None,
        }
        return {name: available[name] for name in wanted if available[name] is not None}

    # --- Enable / Disable / Delete

    def enable(self, request: dict) -> bytes:
        return codec.encode("EnableProfileResponse", {"enableResult": int(self._enable(request))})

    def _enable(self, request: dict) -> Result:
        if self._busy():
            return Result.CAT_BUSY
        state = self.store.state
        target = self._find(state, request["profileIdentifier"])
        if target is None:
            return Result.NOT_FOUND
        if target.enabled:
            return Result.WRONG_STATE
        current = state.enabled_profile()
        if (current is not None and "ppr1" in current.pprs and _enforces_pprs(current)
                and target.profile_class != PROVISIONING):
            return Result.DISALLOWED_BY_POLICY
        with self.store.transaction() as working:
            if current is not None:
                previous = working.profile_by_iccid(current.iccid_bytes)
                previous.enabled = False
                record_event(working, previous, "disable", self._credential(previous))
            enabled = working.profile_by_iccid(target.iccid_bytes)
            enabled.enabled = True
            record_event(working, enabled, "enable", self._credential(enabled))
        return Result.OK

    def disable(self, request: dict) -> bytes:
        return codec.encode("DisableProfileResponse", {"disableResult": int(self._disable(request))})

    def _disable(self, request: dict) -> Result:
        if self._busy():
            return Result.CAT_BUSY
        target = self._find(self.store.state, request["profileIdentifier"])
        if target is None:
            return Result.NOT_FOUND
        if not target.enabled:
            return Result.WRONG_STATE
        if "ppr1" in target.pprs and _enforces_pprs(target):
            return Result.DISALLOWED_BY_POLICY
        with self.store.transaction() as working:
            profile = working.profile_by_iccid(target.iccid_bytes)
            profile.enabled = False
            record_event(working, profile, "disable", self._credential(profile))
        return Result.OK

    def delete(self, request) -> bytes:
        return codec.encode("DeleteProfileResponse", {"deleteResult": int(self._delete(request))})

    def _delete(self, identifier) -> Result:
        target = self._find(self.store.state, identifier)
        if target is None:
            return Result.NOT_FOUND
        if target.enabled:
            return Result.WRONG_STATE
        if "ppr2" in target.pprs and _enforces_pprs(target):
            return Result.DISALLOWED_BY_POLICY
        with self.store.transaction() as working:
            profile = working.profile_by_iccid(target.iccid_bytes)
            record_event(working, profile, "delete", self._credential(profile))
            working.profiles.remove(profile)
        return Result.OK

    # --- eUICCMemoryReset

    def memory_reset(self, request: dict) -> bytes:
        return codec.encode("EuiccMemoryResetResponse", {"resetResult": int(self._memory_reset(request))})

    def _memory_reset(self, request: dict) -> int:
        if self._busy():
            return Result.CAT_BUSY
        options = bits_to_flags(ResetOption, request["resetOptions"])
        classes = set()
        if options & ResetOption.DELETE_OPERATIONAL_PROFILES:
            classes.add(OPERATIONAL)
        if options & ResetOption.DELETE_FIELD_LOADED_TEST_PROFILES:
            classes.add(TEST)
        state = self.store.state
        doomed = [p.iccid for p in state.profiles if p.profile_class in classes]
        reset_address = (bool(options & ResetOption.RESET_DEFAULT_SMDP_ADDRESS)
                         and state.default_dp_address != self.config.default_dp_address)
        if not doomed and not reset_address:
            return NOTHING_TO_DELETE
        with self.store.transaction() as working:
            working.profiles = [p for p in working.profiles if p.iccid not in doomed]
            working.notifications = [n for n in working.notifications
                                     if n.iccid not in doomed or n.event == "install"]
            if reset_address:
                working.default_dp_address = self.config.default_dp_address
        return Result.OK

    # --- SetNickname

    def set_nickname(self, request: dict) -> bytes:
        if self.store.state.profile_by_iccid(request["iccid"]) is None:
            return codec.encode("SetNicknameResponse", {"setNicknameResult": Result.NOT_FOUND})
        with self.store.transaction() as working:
            # an empty nickname removes it: GetProfilesInfo then leaves profileNickname out
            working.profile_by_iccid(request["iccid"]).nickname = request["profileNickname"] or None
        return codec.encode("SetNicknameResponse", {"setNicknameResult": Result.OK})

    # --- GetRAT

    def get_rat(self) -> bytes:
        rules = [
            {
                "pprIds": to_bits(sorted(rule.pprs, key=PPR_NAMES.index), PPR_NAMES),
                "allowedOperators": [operator.to_asn1() for operator in rule.operators],
                "pprFlags": to_bits(["consentRequired"] if rule.consent_required else [], ("consentRequired",)),
            }
            for rule in self.config.rat
        ]
        return codec.encode("GetRatResponse", {"rat": rules})
