"""Activation codes, EIDs and ICCIDs: parsing, check digits, BCD coding, masking, and a typed
error naming the defect for every malformed value."""
import pytest

from sgp22 import codec
from sgp22.errors import ActivationCodeInvalidError, BadInputError, MalformedDataError, SmdpAddressInvalidError
from sgp22.activation_code import ActivationCode
from sgp22.identifiers import Eid, Iccid, luhn_digit
from sgp22.secret_text import mask_secret

SGP26_EID = "89049032123451234512345678901235"
MATCHING_ID = "TS48V2-SAIP2-1-NOBERTLV-UNIQUE"

# --- activation codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, address, matching_id, oid, cc",
    [
        (f"LPA:1$testsmdpplus1.example.com${MATCHING_ID}", "testsmdpplus1.example.com", MATCHING_ID, "", False),
        (f"1$testsmdpplus1.example.com${MATCHING_ID}", "testsmdpplus1.example.com", MATCHING_ID, "", False),
        ("1$SMDP.GSMA.COM$$1.3.6.1.4.1.31746", "SMDP.GSMA.COM", "", "1.3.6.1.4.1.31746", False),
        ("LPA:1$smdp.example.com$04386-AGYFT-A74Y8-3F815$$1", "smdp.example.com", "04386-AGYFT-A74Y8-3F815", "", True),
        ("LPA:1$localhost:8443$LAB-0001$2.999.10$1", "localhost:8443", "LAB-0001", "2.999.10", True),
        ("LPA:1$127.0.0.1:8443$X$2.999.10", "127.0.0.1:8443", "X", "2.999.10", False),
        ("LPA:1$[::1]:8443$X", "[::1]:8443", "X", "", False),
        ("lpa:1$smdp.example.com$", "smdp.example.com", "", "", False),
        ("  LPA:1$smdp.example.com$ABC\n", "smdp.example.com", "ABC", "", False),
    ],
)
def test_activation_codes_parse(text, address, matching_id, oid, cc):
    code = ActivationCode.parse(text)
    assert (code.smdp_address, code.matching_id, code.smdp_oid, code.confirmation_code_required) == (
        address,
        matching_id,
        oid,
        cc,
    )
    assert ActivationCode.parse(code.to_text()) == code


def test_activation_code_text_round_trip_keeps_empty_fields():
    assert ActivationCode.parse("1$SMDP.GSMA.COM$$1.3.6.1.4.1.31746").to_text() == "LPA:1$SMDP.GSMA.COM$$1.3.6.1.4.1.31746"
    assert ActivationCode.parse("LPA:1$h.example$M-1$$1").to_text() == "LPA:1$h.example$M-1$$1"


def test_matching_id_is_masked_in_repr_str_and_json():
    code = ActivationCode.parse(f"LPA:1$smdp.example.com${MATCHING_ID}$2.999.10$1")
    for shown in (repr(code), str(code), str(code.to_json_dict()), f"{code}", str([code])):
        assert MATCHING_ID not in shown
        assert "TS48…(30)" in shown
    assert code.to_json_dict() == {
        "format": "1",
        "smdp_address": "smdp.example.com",
        "matching_id": "TS48…(30)",
        "smdp_oid": "2.999.10",
        "confirmation_code_required": True,
    }
    assert code.to_json_dict(reveal=True)["matching_id"] == MATCHING_ID


@pytest.mark.parametrize(
    "secret, masked",
    [("", ""), ("ABC", "…(3)"), ("ABCDEFGH", "…(8)"), ("ABCDEFGHI", "ABCD…(9)"), (MATCHING_ID, "TS48…(30)")],
)
def test_mask_secret(secret, masked):
    assert mask_secret(secret) == masked


BAD_ACTIVATION_CODES = [
    # (text, error class, kind suffix)
    ("", ActivationCodeInvalidError, "activation_code.empty"),
    ("   ", ActivationCodeInvalidError, "activation_code.empty"),
    ("LPA:", ActivationCodeInvalidError, "activation_code.format_version"),
    ("LPA:2$smdp.example.com$ABC", ActivationCodeInvalidError, "activation_code.format_version"),
    ("LPA:0$smdp.example.com$ABC", ActivationCodeInvalidError, "activation_code.format_version"),
    ("LPA:$smdp.example.com$ABC", ActivationCodeInvalidError, "activation_code.format_version"),
    ("LPA:smdp.example.com$ABC", ActivationCodeInvalidError, "activation_code.format_version"),
    ("LPA:11$smdp.example.com$ABC", ActivationCodeInvalidError, "activation_code.format_version"),
    ("https://smdp.example.com", ActivationCodeInvalidError, "activation_code.format_version"),
    ("LPA:1", ActivationCodeInvalidError, "activation_code.too_few_fields"),
    ("LPA:1$smdp.example.com", ActivationCodeInvalidError, "activation_code.too_few_fields"),
    ("LPA:1$smdp.example.com$ABC$2.999.10$1$x", ActivationCodeInvalidError, "activation_code.too_many_fields"),
    ("LPA:1$smdp.example.com$ABC$$1$", ActivationCodeInvalidError, "activation_code.too_many_fields"),
    ("LPA:1$$ABC", SmdpAddressInvalidError, "smdp_address.missing"),
    ("LPA:1$$$", SmdpAddressInvalidError, "smdp_address.missing"),
    ("LPA:1$smdp..example.com$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$.smdp.example.com$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$smdp.example.com.$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$-smdp.example.com$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$smdp-.example.com$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$smdp_1.example.com$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$https://smdp.example.com$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$smdp.example.com/path$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$" + "a" * 64 + ".com$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$" + "a." * 127 + "com$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$smdp.example.com:$ABC", SmdpAddressInvalidError, "smdp_address.port"),
    ("LPA:1$smdp.example.com:0$ABC", SmdpAddressInvalidError, "smdp_address.port"),
    ("LPA:1$smdp.example.com:65536$ABC", SmdpAddressInvalidError, "smdp_address.port"),
    ("LPA:1$smdp.example.com:84a3$ABC", SmdpAddressInvalidError, "smdp_address.port"),
    ("LPA:1$smdp.example.com:-1$ABC", SmdpAddressInvalidError, "smdp_address.port"),
    ("LPA:1$[::1$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$[zz::1]:8443$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$[::1]8443$ABC", SmdpAddressInvalidError, "smdp_address.invalid"),
    ("LPA:1$smdp.example.com$ABC$1.2.x", ActivationCodeInvalidError, "activation_code.oid"),
    ("LPA:1$smdp.example.com$ABC$3.1.2", ActivationCodeInvalidError, "activation_code.oid"),
    ("LPA:1$smdp.example.com$ABC$1.40", ActivationCodeInvalidError, "activation_code.oid"),
    ("LPA:1$smdp.example.com$ABC$1", ActivationCodeInvalidError, "activation_code.oid"),
    ("LPA:1$smdp.example.com$ABC$1.2.", ActivationCodeInvalidError, "activation_code.oid"),
    ("LPA:1$smdp.example.com$ABC$.1.2", ActivationCodeInvalidError, "activation_code.oid"),
    ("LPA:1$smdp.example.com$ABC$1.02.3", ActivationCodeInvalidError, "activation_code.oid"),
    ("LPA:1$smdp.example.com$ABC$2.999.10$0", ActivationCodeInvalidError, "activation_code.cc_flag"),
    ("LPA:1$smdp.example.com$ABC$2.999.10$", ActivationCodeInvalidError, "activation_code.cc_flag"),
    ("LPA:1$smdp.example.com$ABC$2.999.10$true", ActivationCodeInvalidError, "activation_code.cc_flag"),
    ("LPA:1$smdp.example.com$ABC$$123456", ActivationCodeInvalidError, "activation_code.cc_flag"),
    ("LPA:1$smdp.example.com$AB C", ActivationCodeInvalidError, "activation_code.characters"),
    ("LPA:1$smdp.example.com$ABC\x00", ActivationCodeInvalidError, "activation_code.characters"),
    ("LPA:1$smdp.example.com$AB\tC", ActivationCodeInvalidError, "activation_code.characters"),
    ("LPA:1$smdp.example.com$ÄBC", ActivationCodeInvalidError, "activation_code.characters"),
    ("LPA:1$smdp.example.com$ABC\u200b", ActivationCodeInvalidError, "activation_code.characters"),
    ("LPA:1$smdp.exämple.com$ABC", ActivationCodeInvalidError, "activation_code.characters"),
    ("LPA:1$smdp.example.com$" + "A" * 256, ActivationCodeInvalidError, "activation_code.matching_id"),
    ("LPA:1$smdp.example.com$" + "A" * 600, ActivationCodeInvalidError, "activation_code.too_long"),
]


@pytest.mark.parametrize("text, error_class, kind", BAD_ACTIVATION_CODES)
def test_malformed_activation_codes_name_their_defect(text, error_class, kind):
    with pytest.raises(error_class) as caught:
        ActivationCode.parse(text)
    assert caught.value.kind == f"input.{kind}"
    assert isinstance(caught.value, BadInputError)
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    "text",
    [
        "LPA:1$smdp..example.com$SECRET-MATCHING-ID-42",
        "LPA:1$smdp.example.com$SECRET-MATCHING-ID-42$bad-oid",
        "LPA:1$smdp.example.com$SECRET-MATCHING-ID-42 $2.999.10",
        "LPA:1$smdp.example.com$SECRET-MATCHING-ID-42$$SECRET-CONFIRMATION",
        "LPA:1$smdp.example.com$SECRET-MATCHING-ID-42$2.999.10$1$SECRET-CONFIRMATION",
        "LPA:2$smdp.example.com$SECRET-MATCHING-ID-42",
        "SECRET-MATCHING-ID-42",
    ],
)
def test_errors_never_repeat_the_matching_id_or_a_confirmation_code(text):
    with pytest.raises(BadInputError) as caught:
        ActivationCode.parse(text)
    message = str(caught.value)
    assert "SECRET-MATCHING-ID-42" not in message
    assert "SECRET-CONFIRMATION" not in message


def test_activation_code_of_wrong_type_is_bad_input():
    with pytest.raises(ActivationCodeInvalidError):
        ActivationCode.parse(None)


def test_constructing_an_activation_code_validates_it():
    with pytest.raises(SmdpAddressInvalidError):
        ActivationCode(smdp_address="not a host")
    with pytest.raises(ActivationCodeInvalidError):
        ActivationCode(smdp_address="smdp.example.com", matching_id="A$B")


# --- EID ----------------------------------------------------------------------------------------


def test_sgp26_eid_is_valid_and_its_check_digits_are_recomputed():
    eid = Eid.parse(SGP26_EID)
    assert str(eid) == SGP26_EID
    assert Eid.check_digits_for(SGP26_EID[:30]) == "35"
    assert Eid.with_check_digits(SGP26_EID[:30]) == eid


@pytest.mark.parametrize("body", ["890490321234512345123456789012", "890440000000000000000000000000", "8904903200000000000000000000" + "99"])
def test_computed_check_digits_make_valid_eids(body):
    eid = Eid.with_check_digits(body)
    assert int(eid.digits) % 97 == 1
    assert Eid.parse(eid.digits) == eid


def test_eid_bcd_coding_is_plain():
    eid = Eid.parse(SGP26_EID)
    assert eid.to_bytes() == bytes.fromhex(SGP26_EID)
    assert Eid.from_bytes(bytes.fromhex(SGP26_EID)) == eid
    der = codec.encode("GetEuiccDataResponse", {"eidValue": eid.to_bytes()})
    assert der.hex().upper() == "BF3E125A10" + SGP26_EID


BAD_EIDS = [
    ("", "empty"),
    ("   ", "empty"),
    (SGP26_EID[:-1], "length"),
    (SGP26_EID + "0", "length"),
    ("8904903212345123451234567890123", "length"),
    (SGP26_EID[:-2] + "36", "check_digits"),
    (SGP26_EID[:-2] + "00", "check_digits"),
    ("89049032123451234512345678901253", "check_digits"),
    ("98049032123451234512345678901235", "check_digits"),
    ("8904903212345123451234567890123A", "characters"),
    ("8904 9032 1234 5123 4512 3456 7890 1235", "characters"),
    ("89049032-12345123451234567890123", "characters"),
    ("８９049032123451234512345678901235", "characters"),
    ("0x89049032123451234512345678901235", "characters"),
]


@pytest.mark.parametrize("text, defect", BAD_EIDS)
def test_malformed_eids_name_their_defect(text, defect):
    with pytest.raises(BadInputError) as caught:
        Eid.parse(text)
    assert caught.value.kind == f"input.eid.{defect}"


@pytest.mark.parametrize(
    "data",
    [bytes(15), bytes(17), bytes.fromhex("8904903212345123451234567890123A"), bytes.fromhex(SGP26_EID[:-2] + "36")],
)
def test_malformed_eids_from_a_card_are_malformed_data(data):
    with pytest.raises(MalformedDataError):
        Eid.from_bytes(data)


# --- ICCID --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digits, bcd",
    [
        ("8949449999999990023", "989444999999990920F3"),
        ("89014103211118510720", "98101430121181157002"),
        ("8944476500001224158", "984474560000214251F8"),
    ],
)
def test_iccid_nibble_swapped_bcd(digits, bcd):
    iccid = Iccid.parse(digits)
    assert iccid.to_bytes().hex().upper() == bcd
    assert Iccid.from_bytes(bytes.fromhex(bcd)) == iccid
    enable = codec.encode("EnableProfileRequest", {"profileIdentifier": ("iccid", iccid.to_bytes()), "refreshFlag": True})
    assert enable.hex().upper() == "BF3111A00C5A0A" + bcd + "8101FF"


def test_luhn_digit_and_trailing_f():
    assert luhn_digit("894944999999999002") == "3"
    assert luhn_digit("8901410321111851072") == "0"
    assert Iccid.with_check_digit("894944999999999002") == Iccid("8949449999999990023")
    assert Iccid.parse("8949449999999990023F") == Iccid("8949449999999990023")
    assert Iccid.parse("8949449999999990023f") == Iccid("8949449999999990023")


def test_iccid_from_card_keeps_what_the_card_holds():
    # wrong Luhn digit on the card: reported as it is, not refused
    assert str(Iccid.from_bytes(bytes.fromhex("989444999999990920F4"))) == "8949449999999990024"


BAD_ICCIDS = [
    ("", "empty"),
    ("894944999999999002", "length"),
    ("894944999999999002312", "length"),
    ("89494499999999900231F", "characters"),
    ("8949449999999990024", "check_digit"),
    ("89014103211118510721", "check_digit"),
    ("8949449999999990023FF", "characters"),
    ("894944999999999002F3", "characters"),
    ("8949-4499-9999-9990-023", "characters"),
    ("8949449999999990O23", "characters"),
    ("8949449999999990023\x00", "characters"),
    ("٨949449999999990023", "characters"),
]


@pytest.mark.parametrize("text, defect", BAD_ICCIDS)
def test_malformed_iccids_name_their_defect(text, defect):
    with pytest.raises(BadInputError) as caught:
        Iccid.parse(text)
    assert caught.value.kind == f"input.iccid.{defect}"


@pytest.mark.parametrize(
    "bcd",
    ["989444999999990920", "989444999999990920F3FF", "9894449999999909A0F3", "98944499999999FFFFFF", "F89444999999990920F3"],
)
def test_malformed_iccids_from_a_card_are_malformed_data(bcd):
    with pytest.raises(MalformedDataError):
        Iccid.from_bytes(bytes.fromhex(bcd))
