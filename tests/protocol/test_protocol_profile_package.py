"""Unprotected profile packages: what the lab SM-DP+ binds and the virtual eUICC installs."""
from __future__ import annotations

import pytest

from sgp22.errors import BadInputError, MalformedDataError
from sgp22.profile_package import (
    EUICC_RESPONSE_OK,
    ProfilePackageError,
    build_euicc_response,
    build_upp,
    decode_iccid,
    encode_iccid,
    parse_euicc_response,
    parse_upp,
    split_elements,
)

ICCID = "8949000000000000007"


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


def test_smallest_package_is_header_then_end_with_saip_tags():
    package = build_upp(ICCID)
    elements = split_elements(package)
    assert [e.kind for e in elements] == ["header", "end"]
    assert package[0] == 0xA0  # ProfileElement.header
    assert elements[1].der == bytes.fromhex("AA05A003810102")  # PE-End, identification 2
    header = elements[0].value
    assert (header["major-version"], header["minor-version"]) == (2, 3)
    assert header["iccid"] == bytes.fromhex("989400000000000000F7")
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
    assert set(kinds[1:-1]) == {"genericFileManagement"}


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


def test_elements_outside_the_subset_are_kept_raw():
    pin_codes = bytes.fromhex("A2030A0101")  # tag A2 = SAIP pinCodes, opaque here
    package = build_upp(ICCID)
    header, end = split_elements(package)
    parsed = parse_upp(header.der + pin_codes + end.der)
    assert [e.kind for e in parsed.elements] == ["header", "unknown", "end"]
    assert parsed.elements[1].der == pin_codes


def _parts():
    header, *middle, end = split_elements(build_upp(ICCID, size=3000))
    return header.der, b"".join(e.der for e in middle), end.der


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
