"""How a virtual eUICC is built: versions it reports, memory, policy table, supported classes.

These are the things that differ between eUICC products, so a lab can rehearse against a small
card, a card without test-profile support or one whose RAT forbids PPRs. They are fixed for the
life of the card; what changes at run time lives in :mod:`rsplab.euicc.state`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sgp22.es10_enums import PprIds

from rsplab.euicc.state import EuiccState

PPR_NAMES = tuple(str(flag.name) for flag in PprIds)
"""PprIds bit order (``pprUpdateControl``, ``ppr1``, ``ppr2``)."""


@dataclass(frozen=True)
class OperatorId:
    """An operator as the RAT names it; ``E`` nibbles in ``mcc_mnc`` match any digit (SGP.22 2.9.2.x)."""

    mcc_mnc: bytes
    gid1: bytes | None = None
    gid2: bytes | None = None

    @property
    def any_operator(self) -> bool:
        return self.mcc_mnc == b"\xEE\xEE\xEE" and self.gid1 is None and self.gid2 is None

    def matches(self, owner: dict | None) -> bool:
        """Whether a profile owned by ``owner`` (None: metadata names no owner) is covered.

        Only the all-wildcard operator covers a profile without profileOwner.
        """
        if owner is None:
            return self.any_operator
        owned = bytes.fromhex(owner["mccMnc"])
        for rule_byte, owned_byte in zip(self.mcc_mnc, owned):
            for shift in (4, 0):
                rule_nibble = (rule_byte >> shift) & 0x0F
                if rule_nibble != 0x0E and rule_nibble != (owned_byte >> shift) & 0x0F:
                    return False
        for name, wanted in (("gid1", self.gid1), ("gid2", self.gid2)):
            if wanted is not None and owner.get(name) != wanted.hex().upper():
                return False
        return True

    def to_asn1(self) -> dict:
        value = {"mccMnc": self.mcc_mnc}
        if self.gid1 is not None:
            value["gid1"] = self.gid1
        if self.gid2 is not None:
            value["gid2"] = self.gid2
        return value


ANY_OPERATOR = OperatorId(b"\xEE\xEE\xEE")


@dataclass(frozen=True)
class RatRule:
    """One ProfilePolicyAuthorisationRule: these PPRs are allowed for these operators."""

    pprs: frozenset[str]
    operators: tuple[OperatorId, ...]
    consent_required: bool = False


@dataclass
class EuiccConfig:
    capacity: int = 2 * 1024 * 1024
    """Bytes of profile packages the card can hold; installs beyond it fail insufficientMemory."""
    svn: bytes = b"\x02\x02\x02"
    """SGP.22 version the card implements (v2.2.2)."""
    profile_version: bytes = b"\x02\x03\x01"
    """SIMalliance profile package version (2.3.1)."""
    initial_os_version: bytes = b"\x01\x00\x00"
    ts102241_version: bytes = b"\x09\x02\x00"
    globalplatform_version: bytes = b"\x02\x03\x01"
    pp_version: bytes = b"\x00\x01\x00"
    sas_accreditation_number: str = "ESIMFLOW-LAB-SAS"
    root_ds_address: str = "testrootsmds.example.com"
    default_dp_address: str | None = None
    """Factory default SM-DP+ address (what resetDefaultSmdpAddress restores)."""
    supported_profile_classes: frozenset[int] = frozenset({0, 1, 2})
    """ProfileClass values the card installs: test 0, provisioning 1, operational 2."""
    rat: tuple[RatRule, ...] = (RatRule(frozenset({"ppr1", "ppr2"}), (ANY_OPERATOR,), consent_required=True),)
    max_store_data_block: int = 255
    """Longest STORE DATA block the card takes; longer ones answer 6700 (wrong length), as
    cards with small APDU buffers do (set 120 to rehearse an LPA's fallback)."""
    check_certificate_time: bool = True
    """Refuse expired or not-yet-valid server certificates (the host clock stands in for a trusted one)."""
    osu_apply_polls: int = 0
    """OS-status polls that still report 'in progress' after an OS image was accepted."""
    extra_notification_on_install: bool = True
    """Besides the PIR to the SM-DP+, send install notifications to other addresses the profile lists."""
    uicc_capability: tuple[str, ...] = field(default=(
        "usimSupport", "isimSupport", "akaMilenage", "akaTuak128", "akaTuak256",
        "gbaAuthenUsim", "gbaAuthenISim", "eapClient", "javacard", "multipleUsimSupport",
        "multipleIsimSupport", "berTlvFileSupport", "dfLinkSupport", "catTp", "getIdentity",
    ))

    def initial_state(self, eid: str) -> EuiccState:
        return EuiccState(eid=eid, default_dp_address=self.default_dp_address,
                          os_version=self.initial_os_version.hex().upper())

    def ppr_allowed(self, ppr: str, owner: dict | None) -> bool:
        return any(ppr in rule.pprs and any(op.matches(owner) for op in rule.operators) for rule in self.rat)
