"""ES10a/ES10c functions and eUICC information: exact request bytes (notes section 11), decoded
answers, and every result enumeration turned into its named error."""
from __future__ import annotations

import pytest

from sgp22 import codec, es10
from sgp22.apdu import IsdrChannel
from sgp22.errors import BadInputError, EidUnavailableError, Es10ResultError, MalformedDataError
from sgp22.es10_enums import (
    DeleteResult,
    DisableResult,
    EnableResult,
    IconType,
    MemoryResetResult,
    NotificationEvent,
    PprFlags,
    PprIds,
    ProfileClass,
    ProfileInfoListError,
    ProfileState,
    ResetOption,
    RspCapability,
    SetDefaultDpAddressResult,
    SetNicknameResult,
    bits_to_flags,
    flags_to_bits,
)
from sgp22.es10_types import iccid_coded, iccid_digits
from carddrivers.local import LocalTransport

from tests.protocol.scripted_card import Es10Applet

ICCID = "89049032000001000036"  # Luhn-valid 20 digits
ICCID_CODED = "98400923000010000063"
EID = "89049032123451234512345678901235"


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def session(answers) -> tuple[IsdrChannel, Es10Applet]:
    applet = Es10Applet(answers)
    return IsdrChannel(LocalTransport(applet)).open(), applet


def result(type_name: str, value) -> str:
    return codec.encode(type_name, value).hex()


# --- Identifiers inside ES10 ---------------------------------------------------------------------


def test_iccid_coding_is_nibble_swapped_bcd():
    assert luhn_ok(ICCID)
    assert iccid_coded(ICCID).hex() == ICCID_CODED
    assert iccid_digits(bytes.fromhex(ICCID_CODED)) == ICCID
    assert iccid_coded("8944000000000000013").hex().upper().endswith("F3")
    assert iccid_digits(iccid_coded("8944000000000000013")) == "8944000000000000013"


@pytest.mark.parametrize("bad", ["", "8904", "89049032000001000036X", "8904903200000100003612", "ABCDEF0123456789012"])
def test_bad_iccid_is_refused_before_anything_is_sent(bad):
    with pytest.raises(BadInputError):
        iccid_coded(bad)


def test_iccid_from_the_card_with_hex_nibbles_is_malformed():
    with pytest.raises(MalformedDataError):
        iccid_digits(bytes.fromhex("98400923000000010A63"))


# --- Exact request vectors (notes section 11) ---------------------------------------------------------


def test_get_eid_request_and_answer():
    isdr, applet = session({"BF3E035C015A": "BF3E125A10" + EID})
    assert es10.get_eid(isdr) == EID
    assert applet.requests == [bytes.fromhex("BF3E035C015A")]


def test_eid_that_is_not_decimal_is_unavailable():
    isdr, _ = session({"BF3E035C015A": "BF3E125A10" + "AB" * 16})
    with pytest.raises(EidUnavailableError):
        es10.get_eid(isdr)


@pytest.mark.parametrize("answer", ["BF3E115A0F" + "89" * 15, "BF3E0100", "BF3E035A0189", "BF2E125A10" + "89" * 16])
def test_eid_answer_of_the_wrong_shape_is_malformed(answer):
    isdr, _ = session({"BF3E035C015A": answer})
    with pytest.raises(MalformedDataError):
        es10.get_eid(isdr)


def test_enable_profile_request_by_iccid_with_refresh():
    isdr, applet = session({f"BF3111A00C5A0A{ICCID_CODED}8101FF": "BF3103800100"})
    es10.enable_profile(isdr, iccid=ICCID, refresh=True)
    assert applet.requests[0].hex().upper() == f"BF3111A00C5A0A{ICCID_CODED}8101FF".upper()


def test_delete_profile_request_by_iccid_has_no_a0_wrapper():
    isdr, applet = session({f"BF330C5A0A{ICCID_CODED}": "BF3303800100"})
    es10.delete_profile(isdr, iccid=ICCID)
    assert applet.requests[0] == bytes.fromhex(f"BF330C5A0A{ICCID_CODED}")


def test_memory_reset_with_all_three_options():
    isdr, applet = session({"BF3404820205E0": "BF3403800100"})
    es10.memory_reset(isdr, ResetOption(7))
    assert applet.requests == [bytes.fromhex("BF3404820205E0")]


@pytest.mark.parametrize(
    "options,bits",
    [(ResetOption.DELETE_OPERATIONAL_PROFILES, "03020780"),
     (ResetOption.DELETE_FIELD_LOADED_TEST_PROFILES, "03020640"),
     (ResetOption.RESET_DEFAULT_SMDP_ADDRESS, "03020520"),
     (ResetOption.DELETE_OPERATIONAL_PROFILES | ResetOption.RESET_DEFAULT_SMDP_ADDRESS, "030205A0")],
)
def test_memory_reset_options_are_openharmony_reset_option_bits(options, bits):
    request = "BF34" + f"{len(bits) // 2:02X}" + "82" + bits[2:]
    isdr, applet = session(lambda r: bytes.fromhex("BF3403800100"))
    es10.memory_reset(isdr, options)
    assert applet.requests[0].hex().upper() == request.upper()


@pytest.mark.parametrize("options", [0, 8, 15, 1 << 10])
def test_memory_reset_without_a_known_option_is_refused(options):
    isdr, applet = session({})
    with pytest.raises(BadInputError):
        es10.memory_reset(isdr, options)
    assert applet.requests == []


def test_set_nickname_uses_tag_90():
    request = codec.encode("SetNicknameRequest", {"iccid": bytes.fromhex(ICCID_CODED), "profileNickname": "Work"})
    assert request.hex().upper() == f"BF29125A0A{ICCID_CODED}".upper() + "9004576F726B"
    isdr, applet = session({request.hex(): "BF2903800100"})
    es10.set_nickname(isdr, ICCID, "Work")
    assert applet.requests == [request]


def test_nickname_longer_than_64_characters_is_refused():
    isdr, _ = session({})
    with pytest.raises(BadInputError):
        es10.set_nickname(isdr, ICCID, "x" * 65)


def test_configured_addresses_and_set_default_address():
    isdr, applet = session({
        "BF3C00": result("EuiccConfiguredAddressesResponse", {"defaultDpAddress": "smdp.example.com", "rootDsAddress": "lpa.ds.gsma.com"}),
        codec.encode("SetDefaultDpAddressRequest", {"defaultDpAddress": "new.example.com"}).hex(): "BF3F03800100",
    })
    addresses = es10.get_euicc_configured_addresses(isdr)
    assert (addresses.default_dp_address, addresses.root_ds_address) == ("smdp.example.com", "lpa.ds.gsma.com")
    es10.set_default_dp_address(isdr, "new.example.com")
    assert applet.requests[1].hex().upper() == "BF3F11800F6E65772E6578616D706C652E636F6D"


def test_configured_addresses_without_a_default():
    isdr, _ = session({"BF3C00": "BF3C03810161"})
    assert es10.get_euicc_configured_addresses(isdr).default_dp_address is None


# --- Results: every non-ok value is a named error ---------------------------------------------------


def _non_ok(enum_class):
    return [member for member in enum_class if member != 0]


CALLS = {
    "enableProfile": (EnableResult, lambda isdr: es10.enable_profile(isdr, iccid=ICCID), "BF31"),
    "disableProfile": (DisableResult, lambda isdr: es10.disable_profile(isdr, iccid=ICCID), "BF32"),
    "deleteProfile": (DeleteResult, lambda isdr: es10.delete_profile(isdr, iccid=ICCID), "BF33"),
    "eUICCMemoryReset": (MemoryResetResult, lambda isdr: es10.memory_reset(isdr, ResetOption(1)), "BF34"),
    "setNickname": (SetNicknameResult, lambda isdr: es10.set_nickname(isdr, ICCID, "n"), "BF29"),
    "setDefaultDpAddress": (SetDefaultDpAddressResult, lambda isdr: es10.set_default_dp_address(isdr, "a.b"), "BF3F"),
}


@pytest.mark.parametrize(
    "function,member",
    [(function, member) for function, (enum_class, _, _) in CALLS.items() for member in _non_ok(enum_class)],
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_each_non_ok_result_raises_its_named_error(function, member):
    enum_class, invoke, tag = CALLS[function]
    isdr, _ = session(lambda request: bytes.fromhex(f"{tag}038001{int(member):02X}"))
    with pytest.raises(Es10ResultError) as raised:
        invoke(isdr)
    assert raised.value.function == function
    assert raised.value.result_name == member.name
    assert raised.value.result_code == int(member)
    assert member.name in raised.value.message


@pytest.mark.parametrize("function", list(CALLS))
def test_ok_result_returns_quietly(function):
    _, invoke, tag = CALLS[function]
    isdr, applet = session(lambda request: bytes.fromhex(f"{tag}03800100"))
    assert invoke(isdr) is None
    assert len(applet.requests) == 1


@pytest.mark.parametrize("code", [6, 9, 42, 126])
def test_result_value_unknown_to_this_version_is_still_an_error(code):
    isdr, _ = session(lambda request: bytes.fromhex(f"BF31038001{code:02X}"))
    with pytest.raises(Es10ResultError) as raised:
        es10.enable_profile(isdr, iccid=ICCID)
    assert raised.value.result_name == f"unknown({code})"


@pytest.mark.parametrize(
    "answer",
    ["", "BF31", "BF31038001", "BF310380010000", "BF32038001 00", "BF3103810100", "9F3103800100", "BF3180"],
    ids=["empty", "tag-only", "truncated", "trailing", "other-function", "wrong-field", "wrong-tag", "bad-length"],
)
def test_garbled_answers_are_malformed_data(answer):
    isdr, _ = session(lambda request: bytes.fromhex(answer.replace(" ", "")))
    with pytest.raises(MalformedDataError):
        es10.enable_profile(isdr, iccid=ICCID)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"iccid": ICCID, "isdp_aid": bytes(16)}, {"isdp_aid": b"\xa0\x00"}, {"isdp_aid": bytes(17)}, {"iccid": "12"}],
)
def test_profile_must_be_named_exactly_once_and_well(kwargs):
    isdr, applet = session({})
    with pytest.raises(BadInputError):
        es10.enable_profile(isdr, **kwargs)
    assert applet.requests == []


def test_profile_by_isdp_aid():
    aid = bytes.fromhex("A0000005591010FFFFFFFF8900001000")
    isdr, applet = session(lambda request: bytes.fromhex("BF3203800100"))
    es10.disable_profile(isdr, isdp_aid=aid, refresh=False)
    assert applet.requests[0] == codec.encode(
        "DisableProfileRequest", {"profileIdentifier": ("isdpAid", aid), "refreshFlag": False}
    )
    assert applet.requests[0].hex().upper() == "BF3217A0124F10A0000005591010FFFFFFFF89000010008101 00".replace(" ", "")


# --- GetProfilesInfo ------------------------------------------------------------------------------------


FULL_PROFILE = {
    "iccid": bytes.fromhex(ICCID_CODED),
    "isdpAid": bytes.fromhex("A0000005591010FFFFFFFF8900001000"),
    "profileState": 1,
    "profileNickname": "Work",
    "serviceProviderName": "Lab Operator",
    "profileName": "Lab 5G",
    "iconType": 1,
    "icon": b"\x89PNG",
    "profileClass": 2,
    "notificationConfigurationInfo": [
        {"profileManagementOperation": flags_to_bits(NotificationEvent.enable | NotificationEvent.delete),
         "notificationAddress": "smdp.example.com"}
    ],
    "profileOwner": {"mccMnc": bytes.fromhex("62F210"), "gid1": b"\x01"},
    "profilePolicyRules": flags_to_bits(PprIds.ppr2),
}


def test_profiles_info_decodes_every_field():
    answer = result("ProfileInfoListResponse", ("profileInfoListOk", [FULL_PROFILE, {"iccid": iccid_coded("8944000000000000013"), "profileState": 0}]))
    isdr, applet = session({"BF2D00": answer})
    first, second = es10.get_profiles_info(isdr)
    assert first.iccid == ICCID
    assert first.isdp_aid.hex().upper() == "A0000005591010FFFFFFFF8900001000"
    assert first.state is ProfileState.enabled
    assert (first.nickname, first.service_provider_name, first.profile_name) == ("Work", "Lab Operator", "Lab 5G")
    assert first.icon_type is IconType.png and first.icon == b"\x89PNG"
    assert first.profile_class is ProfileClass.operational
    assert first.notification_configuration_info[0].events == NotificationEvent.enable | NotificationEvent.delete
    assert first.notification_configuration_info[0].address == "smdp.example.com"
    assert (first.profile_owner.mcc, first.profile_owner.mnc, first.profile_owner.gid1) == ("262", "01", b"\x01")
    assert first.ppr_ids == PprIds.ppr2
    assert second.iccid == "8944000000000000013" and second.state is ProfileState.disabled
    assert second.nickname is None and second.notification_configuration_info == []
    assert "PNG" not in repr(first)  # icons stay out of logs


def _tlv(tag: str, body: bytes) -> bytes:
    """Hand-built DER (short and one-byte long lengths) so the vector does not come from the codec."""
    length = bytes([len(body)]) if len(body) < 0x80 else bytes([0x81, len(body)])
    return bytes.fromhex(tag) + length + body


def test_profiles_info_reads_the_access_rules_of_ref_ar_do():
    """SGP.22 ProfileInfo.refArDo 'BF76': GlobalPlatform SEAC REF-AR-DO 'E2' = REF-DO 'E1'
    (DeviceAppID-REF-DO 'C1' SHA-256 of the app's certificate, PKG-REF-DO 'CA') and AR-DO 'E3'
    (PERM-AR-DO 'DB', 8 bytes)."""
    digest = bytes(range(32))
    dialer = _tlv("E2", _tlv("E1", _tlv("C1", digest) + _tlv("CA", b"com.example.dialer"))
                  + _tlv("E3", _tlv("DB", bytes.fromhex("0000000000000001"))))
    any_app = _tlv("E2", _tlv("E1", _tlv("C1", digest[:20])) + _tlv("E3", _tlv("DB", bytes(8))))
    answer = _tlv("BF2D", _tlv("A0", _tlv("E3", _tlv("5A", bytes.fromhex(ICCID_CODED))
                                          + _tlv("BF76", dialer + any_app))))
    isdr, applet = session({"BF2D00": answer.hex()})
    (profile,) = es10.get_profiles_info(isdr)
    assert profile.access_rules == [es10.AccessRule(digest, "com.example.dialer", 1),
                                    es10.AccessRule(digest[:20], None, 0)]
    assert codec.encode("RefArDo", profile.access_rules[0].to_asn1()) == dialer


def test_an_access_rule_hash_is_sha1_or_sha256():
    with pytest.raises(BadInputError):
        es10.AccessRule(bytes(24))


def test_profiles_info_search_criteria_and_tag_list():
    isdr, applet = session(lambda request: bytes.fromhex("BF2D02A000"))
    assert es10.get_profiles_info(isdr, iccid=ICCID) == []
    es10.get_profiles_info(isdr, profile_class=ProfileClass.test, tags=bytes.fromhex("5A9F70"))
    assert applet.requests[0].hex().upper() == f"BF2D0EA00C5A0A{ICCID_CODED}".upper()
    assert applet.requests[1].hex().upper() == "BF2D0AA003950100" + "5C035A9F70"


def test_profiles_info_error_is_named():
    isdr, _ = session({"BF2D00": "BF2D03810101"})
    with pytest.raises(Es10ResultError) as raised:
        es10.get_profiles_info(isdr)
    assert raised.value.result_name == ProfileInfoListError.incorrectInputValues.name


def test_profiles_info_with_several_criteria_is_refused():
    isdr, _ = session({})
    with pytest.raises(BadInputError):
        es10.get_profiles_info(isdr, iccid=ICCID, profile_class=ProfileClass.test)


def test_profile_values_unknown_to_this_version_are_kept_as_numbers():
    answer = result("ProfileInfoListResponse", ("profileInfoListOk", [{"profileState": 2, "profileClass": 9}]))
    isdr, _ = session({"BF2D00": answer})
    (profile,) = es10.get_profiles_info(isdr)
    assert (profile.state, profile.profile_class) == (2, 9)


# --- eUICC information ------------------------------------------------------------------------------


EUICC_INFO2 = {
    "profileVersion": bytes([2, 3, 1]),
    "svn": bytes([2, 2, 2]),
    "euiccFirmwareVer": bytes([4, 1, 0]),
    "extCardResource": bytes.fromhex("810100820300F000830200A0"),
    "uiccCapability": (b"\x7f\xf0", 12),
    "rspCapability": flags_to_bits(RspCapability.additionalProfile | RspCapability.testProfileSupport),
    "euiccCiPKIdListForVerification": [bytes.fromhex("F54172BDF98A95D65CBEB88A38A1C11D800A85C3")],
    "euiccCiPKIdListForSigning": [bytes.fromhex("F54172BDF98A95D65CBEB88A38A1C11D800A85C3")],
    "euiccCategory": 2,
    "ppVersion": bytes([1, 0, 0]),
    "sasAcreditationNumber": "GI-BA-UP-0419",
}


def test_euicc_info2_is_decoded_with_free_memory():
    answer = result("EUICCInfo2", EUICC_INFO2)
    isdr, applet = session({"BF2200": answer})
    info = es10.get_euicc_info2(isdr)
    assert applet.requests == [bytes.fromhex("BF2200")]
    assert (info.profile_version, info.svn, info.firmware_version, info.pp_version) == ("2.3.1", "2.2.2", "4.1.0", "1.0.0")
    assert info.ext_card_resource.free_nvm == 0xF000 and info.ext_card_resource.free_ram == 0xA0
    assert info.ext_card_resource.installed_applications == 0
    assert info.rsp_capability == RspCapability.additionalProfile | RspCapability.testProfileSupport
    assert info.euicc_category.name == "mediumEuicc"
    assert info.sas_accreditation_number == "GI-BA-UP-0419"
    assert info.raw == bytes.fromhex(answer)


def test_euicc_info1_keeps_the_raw_bytes_for_initiate_authentication():
    answer = result("EUICCInfo1", {"svn": bytes([2, 2, 2]), "euiccCiPKIdListForVerification": [bytes.fromhex("F54172BDF98A95D65CBEB88A38A1C11D800A85C3")], "euiccCiPKIdListForSigning": []})
    isdr, applet = session({"BF2000": answer})
    info = es10.get_euicc_info1(isdr)
    assert info.raw == bytes.fromhex(answer)
    assert info.svn == "2.2.2"
    assert info.ci_pkids_for_verification == [bytes.fromhex("F54172BDF98A95D65CBEB88A38A1C11D800A85C3")]


def test_get_rat():
    rule = {"pprIds": flags_to_bits(PprIds.ppr1 | PprIds.ppr2), "allowedOperators": [{"mccMnc": bytes.fromhex("62F210")}],
            "pprFlags": flags_to_bits(PprFlags.consentRequired)}
    isdr, applet = session({"BF4300": result("GetRatResponse", {"rat": [rule]})})
    (parsed,) = es10.get_rat(isdr)
    assert parsed.ppr_ids == PprIds.ppr1 | PprIds.ppr2
    assert parsed.ppr_flags == PprFlags.consentRequired
    assert parsed.allowed_operators[0].mcc == "262"


@pytest.mark.parametrize("flags", [0, 1, 2, 5, 7, 0x80, 0x101])
def test_flags_and_bit_strings_round_trip(flags):
    assert bits_to_flags(ResetOption, flags_to_bits(flags)) == flags
