"""Unprotected profile packages: what the lab SM-DP+ binds and the virtual eUICC installs,
checked against the real GSMA TS.48 packages and the SAIP module itself."""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asn1tools
import pytest

from sgp22 import profile_package
from sgp22.errors import BadInputError, MalformedDataError
from sgp22.es10_types import AccessRule
from sgp22.profile_builder import build_upp
from sgp22.profile_package import (
    EUICC_RESPONSE_OK,
    IccidMismatchError,
    ProfilePackageError,
    access_rules_of,
    build_euicc_response,
    decode_header_iccid,
    decode_iccid,
    encode_header_iccid,
    encode_iccid,
    file_content,
    parse_euicc_response,
    parse_upp,
    split_elements,
)

ICCID = "8949000000000000007"
REFERENCE = Path("/work/shared/reference")
TS48 = REFERENCE / "ts48"
TS48_HEADERS = {  # file: (header ICCID as the README lists it, header major.minor)
    "TS48v1_A.der": ("89000123456789012341", (2, 1)),
    "TS48v2_SAIP2.1_NoBERTLV.der": ("89000123456789012358", (2, 1)),
    "TS48v3_SAIP2.3_BERTLV.der": ("89000123456789012341", (2, 3)),
    "TS48v5_SAIP2.3_BERTLV_SUCI.der": ("89000123456789012341", (2, 3)),
    "TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der": ("8949449999999990015", (2, 3)),
}
SAIP_ELEMENT_KINDS = {
    "header", "mf", "pukCodes", "pinCodes", "telecom", "usim", "opt-usim", "isim", "opt-isim", "csim", "opt-csim",
    "gsm-access", "df-5gs", "df-saip", "akaParameter", "cdmaParameter", "genericFileManagement", "securityDomain",
    "rfm", "end"}


@pytest.fixture(scope="module")
def saip():
    """The SAIP PEDefinitions module itself, compiled by asn1tools alone (not the project's
    parser). asn1tools cannot parse its one DEFAULT on a SEQUENCE OF (sqnInit); that member is
    made OPTIONAL here, which changes no tag."""
    source = (REFERENCE / "asn1/saip/PEDefinitions.asn").read_text()
    source, edits = re.subn(r"(sqnInit SEQUENCE \(SIZE \(32\)\) OF OCTET STRING \(SIZE \(6\)\)) DEFAULT \{.*?\}",
                            r"\1 OPTIONAL", source, flags=re.S)
    assert edits == 1
    return asn1tools.compile_string(source, "der")


def saip_elements(saip, package: bytes) -> list[tuple[str, dict]]:
    elements, offset = [], 0
    while offset < len(package):
        value, length = saip.decode_with_length("ProfileElement", package[offset:])
        elements.append(value)
        offset += length
    return elements


def test_header_iccid_is_plain_bcd_and_19_digits_are_f_padded():
    assert encode_header_iccid("89000123456789012341") == bytes.fromhex("89000123456789012341")
    assert encode_header_iccid("8949449999999990015") == bytes.fromhex("8949449999999990015F")
    assert decode_header_iccid(bytes.fromhex("8949449999999990015F")) == "8949449999999990015"
    for bad in ("89494499999999900F15", "8949449999999990015A", "894944"):
        with pytest.raises(ProfilePackageError):
            decode_header_iccid(bytes.fromhex(bad))


@pytest.mark.parametrize("name", sorted(TS48_HEADERS))
def test_every_ts48_package_parses_with_its_header_iccid_and_keeps_every_byte(name):
    data = (TS48 / name).read_bytes()
    iccid, version = TS48_HEADERS[name]
    parsed = parse_upp(data)
    assert parsed.iccid == iccid and parsed.ef_iccid == iccid
    assert (parsed.major_version, parsed.minor_version) == version
    assert parsed.profile_type == "GSMA Generic eUICC Test Profile"
    assert 28 <= len(parsed.elements) <= 30
    assert {e.kind for e in parsed.elements} <= SAIP_ELEMENT_KINDS
    assert b"".join(e.der for e in parsed.elements) == data
    assert parsed.elements[1].kind == "mf" and parsed.elements[1].identification == 4


def test_an_ef_iccid_that_differs_from_the_header_is_refused():
    data = (TS48 / "TS48v1_A.der").read_bytes()
    swapped = encode_iccid("89000123456789012341")
    assert data.count(swapped) == 1
    other = data.replace(swapped, encode_iccid("89000123456789012358"))
    with pytest.raises(IccidMismatchError, match="EF.ICCID holds ICCID 89000123456789012358"):
        parse_upp(other)


def test_a_truncated_element_is_named_with_its_kind_and_offset():
    data = (TS48 / "TS48v3_SAIP2.3_BERTLV.der").read_bytes()
    elements = split_elements(data)
    usim_offset = sum(len(e.der) for e in elements[:7])
    assert elements[7].kind == "usim"
    with pytest.raises(ProfilePackageError) as raised:
        parse_upp(data[:usim_offset + 200])
    assert raised.value.message.startswith(f"profile element 8 (usim) at offset {usim_offset} is cut short")
    assert "\n" not in raised.value.message


def test_generated_packages_decode_with_the_saip_module_itself(saip):
    package = build_upp("8949000000000000015", size=5000)
    elements = saip_elements(saip, package)
    assert [kind for kind, _ in elements][:2] == ["header", "mf"] and elements[-1][0] == "end"
    assert {kind for kind, _ in elements[2:-1]} == {"genericFileManagement"}
    assert elements[0][1]["iccid"] == bytes.fromhex("8949000000000000015F")
    mf = elements[1][1]
    assert mf["templateID"] == "2.23.143.1.2.1"
    assert mf["ef-iccid"] == [("fillFileContent", bytes.fromhex("989400000000000010F5"))]
    identifications = [value[next(iter(value))]["identification"] for _, value in elements[1:]]
    assert identifications == list(range(1, len(elements)))


def test_the_projects_parser_and_the_saip_module_agree_on_every_ts48_element(saip):
    for name in TS48_HEADERS:
        data = (TS48 / name).read_bytes()
        ours = parse_upp(data).elements
        theirs = saip_elements(saip, data)
        assert [e.kind for e in ours] == [kind for kind, _ in theirs]
        for element, (kind, value) in zip(ours, theirs):
            if kind in ("header", "mf", "end"):
                assert element.value == value


def test_file_content_follows_fill_offsets():
    commands = [("fileDescriptor", {}), ("fillFileContent", b"ab"), ("fillFileOffset", 2), ("fillFileContent", b"c")]
    assert file_content(commands) == b"ab\xff\xffc"


def test_iccid_is_coded_as_ef_iccid_nibble_swapped_with_f_padding():
    assert encode_iccid(ICCID) == bytes.fromhex("989400000000000000F7")
    assert encode_iccid("89490000000000000015") == bytes.fromhex("98940000000000000051")
    assert decode_iccid(bytes.fromhex("989400000000000000F7")) == ICCID


@pytest.mark.parametrize("bad", ["", "89", "8949000000000000007A", "894900000000000000071", " 8949000000000000007"])
def test_iccid_that_is_not_18_to_20_digits_is_refused(bad):
    with pytest.raises(BadInputError):
        encode_iccid(bad)


@pytest.mark.parametrize("coded", ["98940000000000000FF7", "9894000000000000A0F7", "989400", "FFFFFFFFFFFFFFFFFFFF"])
def test_iccid_bytes_with_padding_inside_or_non_digits_are_malformed(coded):
    with pytest.raises(ProfilePackageError):
        decode_iccid(bytes.fromhex(coded))


def test_smallest_package_is_header_mf_then_end_with_saip_tags():
    package = build_upp(ICCID)
    elements = split_elements(package)
    assert [e.kind for e in elements] == ["header", "mf", "end"]
    assert package[0] == 0xA0  # ProfileElement.header
    assert elements[1].tag == 0xB0  # ProfileElement.mf
    assert elements[2].der == bytes.fromhex("AA05A003810102")  # PE-End, identification 2
    header = elements[0].value
    assert (header["major-version"], header["minor-version"]) == (2, 3)
    assert header["iccid"] == bytes.fromhex("8949000000000000007F")
    assert set(header["eUICC-Mandatory-services"]) == {"usim", "milenage"}


def test_round_trip_gives_back_the_iccid_version_type_and_services():
    parsed = parse_upp(build_upp(ICCID, profile_type="test type", services=("usim", "isim", "tuak128")))
    assert parsed.iccid == ICCID
    assert (parsed.major_version, parsed.minor_version) == (2, 3)
    assert parsed.profile_type == "test type"
    assert parsed.services == ("usim", "isim", "tuak128")


@pytest.mark.parametrize("size", [10 * 1024, 30 * 1024, 100 * 1024, 16500, 4096 * 1024 - 7])
def test_package_of_requested_size_is_exactly_that_big_and_parses(size):
    package = build_upp(ICCID, size=size)
    assert len(package) == size
    parsed = parse_upp(package)
    assert parsed.iccid == ICCID and parsed.size == size
    kinds = [e.kind for e in parsed.elements]
    assert kinds[0] == "header" and kinds[-1] == "end"
    assert kinds[1] == "mf" and set(kinds[2:-1]) == {"genericFileManagement"}


def test_every_size_from_the_smallest_with_files_is_met_exactly():
    smallest = len(build_upp(ICCID)) + 28
    for size in list(range(smallest, smallest + 600)) + list(range(16380, 16460)):
        assert len(build_upp(ICCID, size=size)) == size


def test_same_iccid_and_size_give_the_same_package_and_other_iccids_differ():
    assert build_upp(ICCID, size=5000) == build_upp(ICCID, size=5000)
    assert build_upp(ICCID, size=5000)[100:] != build_upp("89490000000000000015", size=5000)[100:]


def test_size_too_small_or_too_large_names_the_limit():
    with pytest.raises(BadInputError, match="at least"):
        build_upp(ICCID, size=60)
    with pytest.raises(BadInputError, match="at most"):
        build_upp(ICCID, size=5 * 1024 * 1024)
    with pytest.raises(BadInputError):
        build_upp(ICCID, services=("usim", "warp-drive"))


def test_elements_the_project_does_not_interpret_are_named_and_kept_raw():
    pin_codes = bytes.fromhex("A209A003810102A1028100")  # SAIP pinCodes: PEHeader 2, then a filePath
    future = bytes.fromhex("BF3F03800100")  # a tag the SAIP module does not define (yet)
    header, mf, end = split_elements(build_upp(ICCID))
    parsed = parse_upp(header.der + mf.der + pin_codes + future + end.der)
    assert [e.kind for e in parsed.elements] == ["header", "mf", "pinCodes", "unknown", "end"]
    assert parsed.elements[2].der == pin_codes and parsed.elements[2].identification == 2
    assert parsed.elements[3].der == future


def _parts():
    header, mf, *middle, end = split_elements(build_upp(ICCID, size=3000))
    return header.der, mf.der + b"".join(e.der for e in middle), end.der


@pytest.mark.parametrize("case", ["empty", "truncated", "no header", "no end", "after end", "two headers", "garbage"])
def test_malformed_packages_raise_a_typed_error(case):
    header, middle, end = _parts()
    data = {
        "empty": b"",
        "truncated": header + middle + end[:-2],
        "no header": middle + end,
        "no end": header + middle,
        "after end": header + end + middle,
        "two headers": header + header + end,
        "garbage": b"\xff\x00\x13\x37",
    }[case]
    with pytest.raises(MalformedDataError) as raised:
        parse_upp(data)
    assert raised.value.kind == "upp.malformed"


def test_minimal_euicc_response_vector():
    assert build_euicc_response() == EUICC_RESPONSE_OK == bytes.fromhex("3007A0053003800100")
    assert parse_euicc_response(EUICC_RESPONSE_OK) == [{"status": "ok"}]


def test_failed_installation_response_names_status_and_element():
    response = build_euicc_response("not-enough-memory", identification=3, aborted=True)
    assert parse_euicc_response(response) == [{"status": "not-enough-memory", "identification": 3}]
    assert parse_euicc_response(EUICC_RESPONSE_OK + response)[1]["status"] == "not-enough-memory"
    with pytest.raises(ProfilePackageError):
        parse_euicc_response(response[:-1])
    with pytest.raises(BadInputError):
        build_euicc_response("exploded")


def test_a_sequence_of_with_an_unexpected_tag_is_refused_not_looped_on():
    """asn1tools alone loops forever on this EUICCResponse; the project's compile refuses it."""
    with pytest.raises(MalformedDataError):
        parse_euicc_response(bytes.fromhex("3005A003020100"))


# --- the ARA-M and its access rules ------------------------------------------------------------------------

DIALER = AccessRule(bytes(range(32)), "com.example.dialer", 1)
ANY_APP_OF = AccessRule(bytes(range(20)))


def test_a_generated_package_gives_the_ara_m_its_rules_as_the_saip_module_reads_them(saip):
    package = build_upp(ICCID, size=4000, access_rules=[DIALER, ANY_APP_OF])
    assert len(package) == 4000
    kind, application = saip_elements(saip, package)[-2]
    assert kind == "application"
    (instance,) = application["instanceList"]
    assert instance["instanceAID"] == instance["classAID"] == bytes.fromhex("A00000015141434C00")
    first, second = instance["processData"]
    assert first[:4] == bytes.fromhex("80E29000") and first[5] == 0xF0  # STORE DATA, Store-REF-AR-DO
    assert first[7:9] == bytes.fromhex("E2") + bytes([len(first) - 9])
    assert access_rules_of(parse_upp(package)) == [DIALER, ANY_APP_OF]
    assert access_rules_of(parse_upp(build_upp(ICCID))) == []


@pytest.mark.parametrize("command, reason", [
    ("80E2900003F00100", "an access rule does not decode"),
    ("80CA00FF00", "is given a command that is not STORE DATA"),
])
def test_an_ara_m_command_that_is_not_a_rule_is_a_package_defect(saip, command, reason):
    header, mf, end = split_elements(build_upp(ICCID))
    ara_m = saip.encode("ProfileElement", ("application", {
        "app-Header": {"identification": 2},
        "instanceList": [{"applicationLoadPackageAID": bytes.fromhex("A00000015141434C"),
                          "classAID": bytes.fromhex("A00000015141434C00"),
                          "instanceAID": bytes.fromhex("A00000015141434C00"),
                          "applicationPrivileges": bytes(3), "applicationSpecificParametersC9": b"",
                          "processData": [bytes.fromhex(command)]}]}))
    with pytest.raises(ProfilePackageError, match=f"the ARA-M of element 2.*{reason}"):
        access_rules_of(parse_upp(header.der + mf.der + ara_m + end.der))


def test_threads_asking_together_share_one_build():
    """A card host's first installs arrive together: the spec is built once, not per thread."""
    builds = []
    barrier = threading.Barrier(8)

    def slow_build() -> object:
        builds.append(threading.get_ident())
        time.sleep(0.05)
        return object()

    shared = profile_package._built_once(slow_build)

    def ask() -> object:
        barrier.wait()
        return shared()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: ask(), range(8)))
    assert len(builds) == 1
    assert all(result is results[0] for result in results)
