"""One profile on one eUICC, checked before any APDU is sent so a refused switch or delete is
explained in the user's terms instead of as a card result code.

Rules (SGP.22 and OpenHarmony ``PolicyRules``/``ProfileClass``; where SGP.22 leaves room, the
rule is esimflow's and says so):
- One enabled profile per port. Enabling a profile disables the one enabled on its port first,
  so that profile's PPR1 (disable not allowed) also blocks the switch.
- PPR1: an enabled profile with "disable not allowed" stays enabled.
- PPR2: a profile with "delete not allowed" is not deleted by DeleteProfile.
- A profile is deleted only when not enabled (eUICC: profileNotInDisabledState).
- Test profiles are enabled only while the eUICC is in test mode.
- esimflow's rule: a provisioning profile is not enabled over an enabled operational profile on
  the same port; it exists to give connectivity when there is no operational one.
- ``reset`` (eUICCMemoryReset) deletes operational profiles (option bit 0) and test profiles
  (bit 1) whatever their PPR2 and state; it never deletes provisioning profiles.
- PPR3 (``POLICY_RULE_DISABLE_AND_DELETE``) is carried but not enforced: SGP.22 leaves its
  timing to the device.
"""
from __future__ import annotations

from enum import StrEnum

from transitions.core import EventData

from sgp22.es10_enums import PolicyRules, ProfileClass, ResetOption

from esimflow.machines.base import Change, InvalidMachineData, StateModel, TransitionSpec, guard


KNOWN_CLASSES = frozenset({ProfileClass.test, ProfileClass.provisioning, ProfileClass.operational})


def _option_names(options: int | None) -> str:
    flags = ResetOption(int(options or 0))
    return "|".join(str(flag.name) for flag in ResetOption if flag in flags) or "none"


class Phase(StrEnum):
    INSTALLED = "installed"  # loaded and never enabled (the card reports it disabled)
    DISABLED = "disabled"
    ENABLED = "enabled"
    DELETED = "deleted"


P = Phase
STATES = list(Phase)
FINAL = [P.DELETED]

TRANSITIONS: list[TransitionSpec] = [
    {"trigger": "enable", "source": [P.INSTALLED, P.DISABLED], "dest": P.ENABLED,
     "conditions": ["class_allows_enable", "port_holder_can_yield"], "before": "displace_port_holder"},
    {"trigger": "disable", "source": P.ENABLED, "dest": P.DISABLED, "conditions": ["ppr1_allows_disable"]},
    {"trigger": "delete", "source": [P.INSTALLED, P.DISABLED], "dest": P.DELETED,
     "conditions": ["ppr2_allows_delete"]},
    {"trigger": "reset", "source": [P.INSTALLED, P.DISABLED, P.ENABLED], "dest": P.DELETED,
     "conditions": ["reset_covers_class"]},
]


class EuiccContext:
    """The eUICC around a profile: its other profiles and whether it is in test mode.

    ``journal`` lists every change of every profile in order, including the implicit disable of
    the profile a switch displaces, so a workflow records all of them.
    """

    def __init__(self, *, test_mode: bool = False) -> None:
        self.test_mode = test_mode
        self.profiles: dict[str, EuiccProfile] = {}
        self.journal: list[Change] = []

    def add(
        self,
        iccid: str,
        *,
        profile_class: ProfileClass | int = ProfileClass.operational,
        policy_rules: PolicyRules | int = PolicyRules(0),
        state: Phase | str = P.INSTALLED,
        port: int = 0,
    ) -> EuiccProfile:
        if iccid in self.profiles:
            raise InvalidMachineData(f"EuiccProfile: {iccid} is already on this eUICC")
        profile = EuiccProfile(self, iccid, profile_class=profile_class, policy_rules=policy_rules,
                               state=state, port=port)
        holder = self.enabled_on(port)
        if profile.state == P.ENABLED and holder is not None:
            raise InvalidMachineData(
                f"EuiccProfile: {iccid} and {holder.iccid} cannot both be enabled on port {port}")
        self.profiles[iccid] = profile
        return profile

    def __getitem__(self, iccid: str) -> EuiccProfile:
        return self.profiles[iccid]

    def enabled_on(self, port: int) -> EuiccProfile | None:
        return next((p for p in self.profiles.values() if p.port == port and p.state == P.ENABLED), None)


class EuiccProfile(StateModel, label="EuiccProfile", states=STATES, transitions=TRANSITIONS,
                   initial=P.INSTALLED, final=FINAL):
    """A profile's state on one eUICC (installed, enabled, disabled, deleted) with its policy
    rules and class, judged against the other profiles of the same eUICC."""

    def __init__(
        self,
        context: EuiccContext,
        iccid: str,
        *,
        profile_class: ProfileClass | int = ProfileClass.operational,
        policy_rules: PolicyRules | int = PolicyRules(0),
        state: Phase | str = P.INSTALLED,
        port: int = 0,
    ) -> None:
        super().__init__(state)
        self.context = context
        self.iccid = self.subject = iccid
        if int(profile_class) not in KNOWN_CLASSES:  # unspecified too: every rule depends on the class
            raise InvalidMachineData(f"EuiccProfile: unknown profile class {profile_class!r}")
        self.profile_class = ProfileClass(int(profile_class))
        self.policy_rules = PolicyRules(int(policy_rules))
        self.port = port

    def on_change(self, change: Change) -> None:
        self.context.journal.append(change)

    def _port_holder(self) -> EuiccProfile | None:
        holder = self.context.enabled_on(self.port)
        return holder if holder is not self else None

    # --- guards --------------------------------------------------------------------------------

    @guard(lambda model, event: model._class_refusal(), kind="machine.euicc_profile.profile_class",
           win_status_name="OperationProhibitedByProfileClass")
    def class_allows_enable(self, event: EventData) -> bool:
        """Test profiles need test mode; a provisioning profile does not replace an operational one."""
        return self._class_refusal() is None

    def _class_refusal(self) -> str | None:
        if self.profile_class == ProfileClass.test and not self.context.test_mode:
            return f"{self.iccid} is a test profile and the eUICC is not in test mode"
        holder = self._port_holder()
        if (self.profile_class == ProfileClass.provisioning and holder is not None
                and holder.profile_class == ProfileClass.operational):
            return (f"{self.iccid} is a provisioning profile and operational profile {holder.iccid} "
                    f"is enabled on port {self.port}")
        return None

    @guard(lambda model, event: (
        f"{model._port_holder().iccid}, enabled on port {model.port}, has policy rule PPR1 "
        "(disable not allowed)"),
        kind="machine.euicc_profile.ppr1", oh_result_name="RESULT_PPR_FORBIDDEN", win_status_name="PolicyViolation")
    def port_holder_can_yield(self, event: EventData) -> bool:
        """Enabling disables the profile enabled on the same port, which its PPR1 may forbid."""
        holder = self._port_holder()
        return holder is None or not holder.policy_rules & PolicyRules.POLICY_RULE_DISABLE_NOT_ALLOWED

    @guard("{model.iccid} has policy rule PPR1 (disable not allowed)", kind="machine.euicc_profile.ppr1",
           oh_result_name="RESULT_PPR_FORBIDDEN", win_status_name="PolicyViolation")
    def ppr1_allows_disable(self, event: EventData) -> bool:
        """PPR1: the operator does not allow this profile to be disabled."""
        return not self.policy_rules & PolicyRules.POLICY_RULE_DISABLE_NOT_ALLOWED

    @guard("{model.iccid} has policy rule PPR2 (delete not allowed)", kind="machine.euicc_profile.ppr2",
           oh_result_name="RESULT_PROFILE_NON_DELETE", win_status_name="PolicyViolation")
    def ppr2_allows_delete(self, event: EventData) -> bool:
        """PPR2: the operator does not allow this profile to be deleted."""
        return not self.policy_rules & PolicyRules.POLICY_RULE_DELETE_NOT_ALLOWED

    @guard(lambda model, event: (
        f"reset options {_option_names(event.kwargs.get('options'))} do not delete "
        f"{model.profile_class.name.lower()} profile {model.iccid}"),
        kind="machine.euicc_profile.reset_scope", oh_result_name="RESULT_NOTHING_TO_DELETE")
    def reset_covers_class(self, event: EventData) -> bool:
        """eUICCMemoryReset deletes operational and test profiles by option bit, never provisioning ones."""
        options = ResetOption(int(event.kwargs.get("options") or 0))
        if self.profile_class == ProfileClass.operational:
            return bool(options & ResetOption.DELETE_OPERATIONAL_PROFILES)
        if self.profile_class == ProfileClass.test:
            return bool(options & ResetOption.DELETE_FIELD_LOADED_TEST_PROFILES)
        return False

    # --- callbacks -----------------------------------------------------------------------------

    def displace_port_holder(self, event: EventData) -> None:
        holder = self._port_holder()
        if holder is not None:
            holder.fire("disable", reason=f"replaced by {self.iccid}")

    def __repr__(self) -> str:
        return f"<EuiccProfile {self.iccid} {self.state} {self.profile_class.name.lower()} port {self.port}>"
