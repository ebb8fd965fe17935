"""The one vocabulary (sgp22.es10_enums) against the reference ASN.1 module of SGP.22 v2.2.2, read
here on its own (not the codec's copy): a value that drifts from the specification fails, and so
does an OpenHarmony name that stops being the same member as SGP.22's (the engine used to carry
its own copies of these enums, under other spellings)."""
from __future__ import annotations

import re
from pathlib import Path

import asn1tools
import pytest

from sgp22.es10_enums import (
    CancelSessionReason,
    NotificationEvent,
    OsuStatus,
    PolicyRules,
    PprIds,
    ProfileClass,
    ProfileState,
    ResetOption,
    policy_rules_of,
)
from sgp22.results import WinStatus

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "asn1" / "sgp22-v2.2.2" / "rsp.asn"


@pytest.fixture(scope="module")
def asn1() -> dict:
    return asn1tools.parse_files(str(REFERENCE))["RSPDefinitions"]["types"]


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


@pytest.mark.parametrize("enum, type_name", [
    (CancelSessionReason, "CancelSessionReason"), (ProfileState, "ProfileState"), (ProfileClass, "ProfileClass")])
def test_every_named_number_is_the_specifications(asn1, enum, type_name):
    specified = asn1[type_name]["named-numbers"]
    ours = {member.name: int(member) for member in enum if member.name != "unspecified"}
    assert ours == specified


def test_unspecified_is_no_value_of_the_specification(asn1):
    """OpenHarmony's "the card did not say" (-1) must never collide with a value a card sends."""
    for enum, type_name in ((ProfileState, "ProfileState"), (ProfileClass, "ProfileClass")):
        assert int(enum.unspecified) == -1 and -1 not in asn1[type_name]["named-numbers"].values()


def _named_bits(asn1: dict, type_name: str, member: str | None = None) -> dict[str, int]:
    found = asn1[type_name]
    if member is not None:
        found = next(item for item in found["members"] if item["name"] == member)
    return {name: int(bit) for name, bit in found["named-bits"]}


def test_named_bits_are_the_specifications(asn1):
    assert {flag.name: flag.value.bit_length() - 1 for flag in PprIds} == _named_bits(asn1, "PprIds")
    assert {flag.name: flag.value.bit_length() - 1 for flag in NotificationEvent} == {
        name.removeprefix("notification").lower(): bit for name, bit in _named_bits(asn1, "NotificationEvent").items()}
    # ResetOption keeps OpenHarmony's spelling of the same bits
    reset = _named_bits(asn1, "EuiccMemoryResetRequest", "resetOptions")
    assert {flag.name: flag.value.bit_length() - 1 for flag in ResetOption} == {
        _upper_snake(name): bit for name, bit in reset.items()}


def test_openharmony_names_are_the_same_members():
    """OpenHarmony's CancelReason, ProfileState and ProfileClass number SGP.22's values the same:
    its names are aliases, so a value read from a card is the member a client compares with."""
    assert CancelSessionReason(1) is CancelSessionReason.POSTPONED is CancelSessionReason.postponed
    assert [CancelSessionReason[_upper_snake(member.name)] for member in CancelSessionReason] == list(CancelSessionReason)
    assert ProfileState(1) is ProfileState.PROFILE_STATE_ENABLED
    assert ProfileState(-1) is ProfileState.PROFILE_STATE_UNSPECIFIED
    assert ProfileClass(2) is ProfileClass.PROFILE_CLASS_OPERATIONAL
    assert ProfileClass(0) is ProfileClass.PROFILE_CLASS_TEST


def test_policy_rules_renumber_the_ppr_bits():
    """PprIds starts at bit 1 (bit 0 is pprUpdateControl); OpenHarmony's PolicyRules at bit 0."""
    assert policy_rules_of(PprIds.ppr1) == PolicyRules.POLICY_RULE_DISABLE_NOT_ALLOWED == 1
    assert policy_rules_of(PprIds.ppr2) == PolicyRules.POLICY_RULE_DELETE_NOT_ALLOWED == 2
    assert policy_rules_of(PprIds.ppr1 | PprIds.ppr2 | PprIds.pprUpdateControl) == 3
    assert policy_rules_of(None) == policy_rules_of(PprIds.pprUpdateControl) == PolicyRules(0)


def test_osu_status_is_openharmonys_numbering():
    assert {status.name: int(status) for status in OsuStatus} == {
        "EUICC_UPGRADE_IN_PROGRESS": 1, "EUICC_UPGRADE_FAILED": 2, "EUICC_UPGRADE_SUCCESSFUL": 3,
        "EUICC_UPGRADE_ALREADY_LATEST": 4, "EUICC_UPGRADE_SERVICE_UNAVAILABLE": 5}


WINDOWS_SEED = REFERENCE.parents[3] / "seeds" / "windows-esim-operation-status.md"


def test_windows_status_is_the_seeds_numbering():
    """Every ``ESimOperationStatus`` field of the Windows seed, name for name and number for number
    (OpenHarmony's ResultCode is checked against its seed with the other OpenHarmony enums, in
    tests/engine/test_engine_openharmony_conformance.py)."""
    seed = {name: int(value) for name, value in re.findall(r"^### -field (\w+):(\d+)$", WINDOWS_SEED.read_text(), re.M)}
    assert len(seed) == 29
    assert {status.name: int(status) for status in WinStatus} == seed
