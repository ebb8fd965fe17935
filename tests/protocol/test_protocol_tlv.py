"""sgp22.tlv, the one tag/length reader (the codec's outer-TLV check and the BSP segment parser
use it), with the vectors of the reference notes."""
from __future__ import annotations

import pytest

from sgp22 import codec, crypto, tlv
from sgp22.errors import MalformedDataError

FULL_SEGMENT = bytes.fromhex("868203F8") + bytes(1016)  # notes section 4: a 1020-byte encrypted segment


@pytest.mark.parametrize("data,tag,length,value_at", [
    (bytes.fromhex("BF3E035C015A"), 0xBF3E, 3, 3),  # GetEuiccDataRequest
    (bytes.fromhex("5F3740") + bytes(64), 0x5F37, 64, 3),  # a plain r||s signature
    (FULL_SEGMENT, 0x86, 1016, 4),
    (bytes.fromhex("308180") + bytes(128), 0x30, 128, 3),
    (bytes.fromhex("BF3684000000FF") + bytes(255), 0xBF36, 255, 7),  # long form kept by a lenient reader
])
def test_tags_and_lengths(data, tag, length, value_at):
    found, after_tag = tlv.read_tag(data)
    assert found == tag
    assert tlv.read_length(data, after_tag) == (length, value_at)
    item, end = tlv.read_tlv(data)
    assert (item.tag, len(item.value), end, item.raw) == (tag, length, len(data), data)


@pytest.mark.parametrize("data,truncated", [
    ("", True),
    ("BF", True),  # tag cut
    ("BF3E", True),  # length missing
    ("BF3E82FF", True),  # length field cut
    ("BF3E05", True),  # value missing
    ("BF3E8000", False),  # indefinite length is not DER
    ("BF3E85FFFFFFFFFF", False),  # length field of 5 bytes
    ("BFFFFFFFFF0100", False),  # tag longer than 4 bytes
])
def test_bad_framing_is_malformed(data, truncated):
    with pytest.raises(MalformedDataError) as raised:
        tlv.read_tlv(bytes.fromhex(data))
    assert isinstance(raised.value, tlv.TruncatedError) is truncated


@pytest.mark.parametrize("encoded", ["8180", "820100", "8203F8", "05"])
def test_minimal_lengths_are_accepted(encoded):
    data = bytes.fromhex(encoded)
    assert tlv.read_length(data, 0, minimal=True)[1] == len(data)
    assert tlv.encode_length(tlv.read_length(data, 0)[0]) == data


@pytest.mark.parametrize("encoded", ["8105", "82007F", "820080", "83000100"])
def test_longer_forms_than_needed_are_refused_when_minimal(encoded):
    with pytest.raises(MalformedDataError, match="not DER-minimal"):
        tlv.read_length(bytes.fromhex(encoded), 0, minimal=True)


def test_the_codec_and_the_bsp_parser_read_lengths_the_same_way():
    with pytest.raises(MalformedDataError) as raised:
        codec.decode("GetEuiccDataRequest", bytes.fromhex("BF3E8000"))
    assert raised.value.kind == "asn1.bad_length" and "indefinite length" in raised.value.message
    with pytest.raises(MalformedDataError) as raised:
        codec.decode("GetEuiccDataRequest", bytes.fromhex("BF3E"))
    assert raised.value.kind == "asn1.truncated"
    keys = crypto.derive_session_keys(bytes(32), b"mahlzeit", "89049032123451234512345678901235")
    segment = crypto.BspSession(keys.s_enc, keys.s_mac, keys.initial_mcv).wrap_encrypted(bytes(1007))
    assert segment[:4] == FULL_SEGMENT[:4] and len(segment) == 1020
    with pytest.raises(MalformedDataError, match="not DER-minimal"):
        crypto.BspSession(keys.s_enc, keys.s_mac, keys.initial_mcv).unwrap_encrypted(bytes.fromhex("8681") + bytes([0x10]) + bytes(16))
