"""The virtual eUICC at the APDU level: what a PC/SC LPA sees before any ES10 function."""
from __future__ import annotations

import pytest

from sgp22 import codec
from sgp22.errors import BadInputError
from sgp22.tlv import children, parse_one

from rsplab import pki
from rsplab.euicc import ISDR_AID, EuiccIdentity, VirtualEuicc
from tests.lab.euicc_kit import Lpa, Smdp, iccid_for

GET_EID = bytes.fromhex("BF3E035C015A")
EID = "89049032123451234512345678901235"


@pytest.fixture
def card(identity):
    return VirtualEuicc(identity)


def sw(response: bytes) -> int:
    return int.from_bytes(response[-2:], "big")


def open_isdr(card: VirtualEuicc) -> int:
    response = card.transmit(bytes.fromhex("0070000001"))
    assert sw(response) == 0x9000
    channel = response[0]
    cla = channel if channel < 4 else 0x40 | (channel - 4)
    assert sw(card.transmit(bytes([cla, 0xA4, 0x04, 0x00, 0x10]) + ISDR_AID)) == 0x9000
    return channel


def cla_of(channel: int) -> int:
    return 0x80 | channel if channel < 4 else 0xC0 | (channel - 4)


def store_data(card: VirtualEuicc, channel: int, request: bytes, block: int = 255) -> bytes:
    blocks = [request[i : i + block] for i in range(0, len(request), block)]
    answer = b""
    for number, data in enumerate(blocks):
        p1 = 0x91 if number == len(blocks) - 1 else 0x11
        answer = card.transmit(bytes([cla_of(channel), 0xE2, p1, number, len(data)]) + data + b"\x00")
        if number < len(blocks) - 1:
            assert answer == b"\x90\x00"
    return answer


def test_atr_offers_t0_and_has_a_valid_check_byte(card):
    atr = card.atr
    assert atr[0] == 0x3B
    td1 = atr[3]
    assert atr[1] & 0x80 and td1 & 0x0F == 0  # first protocol offered: T=0
    check = 0
    for byte in atr[1:]:
        check ^= byte
    assert check == 0


def test_channels_open_up_to_19_and_use_the_further_class_from_4(card):
    opened = [card.transmit(bytes.fromhex("0070000001"))[0] for _ in range(19)]
    assert opened == list(range(1, 20))
    assert sw(card.transmit(bytes.fromhex("0070000001"))) == 0x6A81
    assert sw(card.transmit(bytes([0x4F, 0xA4, 0x04, 0x00, 0x10]) + ISDR_AID)) == 0x9000  # channel 19
    assert store_data(card, 19, GET_EID)[5:21].hex() == EID
    assert sw(card.transmit(bytes.fromhex("0070800700"))) == 0x9000
    assert sw(card.transmit(bytes([0x43, 0xA4, 0x04, 0x00, 0x10]) + ISDR_AID)) == 0x6881  # channel 7 is closed
    assert card.transmit(bytes.fromhex("0070000001"))[0] == 7


def test_closing_the_basic_channel_or_a_closed_one_is_refused(card):
    assert sw(card.transmit(bytes.fromhex("0070800000"))) == 0x6A86
    assert sw(card.transmit(bytes.fromhex("0070800300"))) == 0x6881


def test_select_isdr_answers_fci_with_svn_and_unknown_aid_is_not_found(card):
    response = card.transmit(bytes.fromhex("00A4040010") + ISDR_AID)
    assert sw(response) == 0x9000
    fci = parse_one(response[:-2])
    assert fci.tag == 0x6F and children(fci.value)[0].value == ISDR_AID
    assert sw(card.transmit(bytes.fromhex("00A4040C10") + ISDR_AID)) == 0x9000
    assert card.transmit(bytes.fromhex("00A4040C10") + ISDR_AID) == b"\x90\x00"
    assert sw(card.transmit(bytes.fromhex("00A4040010A0000005591010FFFFFFFF8900000999"))) == 0x6A82
    assert sw(card.transmit(bytes.fromhex("00A4000C023F00"))) == 0x6A82


@pytest.mark.parametrize("block", [1, 7, 120, 255])
def test_store_data_reassembles_blocks_of_any_size(card, block):
    channel = open_isdr(card)
    response = store_data(card, channel, GET_EID, block)
    assert codec.decode("GetEuiccDataResponse", response[:-2])["eidValue"].hex() == EID


def test_store_data_block_numbers_must_follow(card):
    channel = open_isdr(card)
    cla = cla_of(channel)
    assert card.transmit(bytes([cla, 0xE2, 0x11, 0x00, 3]) + GET_EID[:3]) == b"\x90\x00"
    assert sw(card.transmit(bytes([cla, 0xE2, 0x91, 0x02, 3]) + GET_EID[3:])) == 0x6A86
    # the broken sequence is gone: a continuation without a start is refused as well
    assert sw(card.transmit(bytes([cla, 0xE2, 0x91, 0x01, 3]) + GET_EID[3:])) == 0x6A86
    assert sw(store_data(card, channel, GET_EID)) == 0x9000


def test_store_data_sequences_on_two_channels_do_not_mix(card):
    first, second = open_isdr(card), open_isdr(card)
    assert card.transmit(bytes([cla_of(first), 0xE2, 0x11, 0x00, 3]) + GET_EID[:3]) == b"\x90\x00"
    assert sw(store_data(card, second, bytes.fromhex("BF2E00"))) == 0x9000
    answer = card.transmit(bytes([cla_of(first), 0xE2, 0x91, 0x01, 3]) + GET_EID[3:] + b"\x00")
    assert answer[5:21].hex() == EID


def test_store_data_needs_the_isdr_selected(card):
    assert sw(card.transmit(bytes.fromhex("80E2910006BF3E035C015A00"))) == 0x6985
    assert sw(card.transmit(bytes.fromhex("00A4040C10A0000005591010FFFFFFFF8900000200"))) == 0x9000  # ECASD
    assert sw(card.transmit(bytes.fromhex("80E2910006BF3E035C015A00"))) == 0x6985
    assert sw(card.transmit(bytes.fromhex("00A4040C10") + ISDR_AID)) == 0x9000
    assert sw(card.transmit(bytes.fromhex("80E2910006BF3E035C015A00"))) == 0x9000


@pytest.mark.parametrize("apdu, expected", [
    ("80E2", 0x6700),                          # shorter than a header
    ("80E29100", 0x6700),                      # STORE DATA without data
    ("80E291000003BF3E03", 0x6700),            # extended length
    ("80E2910006BF3E035C", 0x6700),            # Lc says more than there is
    ("8012000000", 0x6D00),                    # unknown instruction
    ("A0A4000C023F00", 0x6E00),                # GSM class
    ("00E2910006BF3E035C015A", 0x6E00),        # STORE DATA needs the proprietary class
    ("0CA4040010" + ISDR_AID.hex(), 0x6882),   # secure messaging
    ("80C0000000", 0x6985),                    # GET RESPONSE with nothing waiting
])
def test_malformed_apdus_get_their_status_words(card, apdu, expected):
    assert sw(card.transmit(bytes.fromhex("00A4040C10") + ISDR_AID)) == 0x9000
    assert sw(card.transmit(bytes.fromhex(apdu))) == expected


def test_store_data_p1_must_be_ber_tlv_blocks(card):
    channel = open_isdr(card)
    assert sw(card.transmit(bytes([cla_of(channel), 0xE2, 0x81, 0x00, 6]) + GET_EID)) == 0x6A86


def test_terminal_capability_is_accepted(card):
    assert card.transmit(bytes.fromhex("80AA00000AA9088100820101830107")) == b"\x90\x00"
    assert sw(card.transmit(bytes.fromhex("80AA000003A50100"))) == 0x6A80


def test_es10_errors_at_apdu_level(card):
    channel = open_isdr(card)
    assert sw(store_data(card, channel, bytes.fromhex("BF7F00"))) == 0x6A88   # no such function
    assert sw(store_data(card, channel, bytes.fromhex("BF3E055C"))) == 0x6A80  # truncated DER
    assert sw(store_data(card, channel, bytes.fromhex("BF31035A0101"))) == 0x6A80  # wrong content


@pytest.fixture(scope="module")
def card_with_profiles(identity):
    card = VirtualEuicc(identity)
    lpa, smdp = Lpa(card), Smdp()
    for number in range(3):
        lpa.install(smdp, iccid_for(number))
    return card


@pytest.mark.parametrize("get_response_cla", ["command", "iso"])
def test_long_answers_are_chained_with_61xx_and_get_response(card_with_profiles, get_response_cla):
    card = card_with_profiles
    channel = open_isdr(card)
    first = store_data(card, channel, bytes.fromhex("BF2D00"))
    assert first[-2] == 0x61 and len(first) == 258
    data = bytearray(first[:-2])
    response = first
    cla = cla_of(channel) if get_response_cla == "command" else channel
    while response[-2] == 0x61:
        response = card.transmit(bytes([cla, 0xC0, 0x00, 0x00, response[-1]]))
        data += response[:-2]
    assert response[-2:] == b"\x90\x00"
    listed = codec.decode("ProfileInfoListResponse", bytes(data))[1]
    assert len(listed) == 3
    assert sw(card.transmit(bytes([cla, 0xC0, 0x00, 0x00, 0x00]))) == 0x6985


def test_another_command_drops_the_waiting_answer(card_with_profiles):
    card = card_with_profiles
    channel = open_isdr(card)
    assert store_data(card, channel, bytes.fromhex("BF2D00"))[-2] == 0x61
    assert sw(store_data(card, channel, GET_EID)) == 0x9000
    assert sw(card.transmit(bytes([cla_of(channel), 0xC0, 0x00, 0x00, 0x00]))) == 0x6985


def test_reset_closes_channels_and_drops_partial_commands(card):
    channel = open_isdr(card)
    assert card.transmit(bytes([cla_of(channel), 0xE2, 0x11, 0x00, 3]) + GET_EID[:3]) == b"\x90\x00"
    assert card.reset() == card.atr
    assert sw(card.transmit(bytes([cla_of(channel), 0xE2, 0x91, 0x01, 3]) + GET_EID[3:])) == 0x6881


def test_identities_from_a_lab_pki_fleet_or_explicit_certificates(tmp_path):
    lab = pki.generate(tmp_path / "pki", eids=[pki.eid_for("89049032", 1), pki.eid_for("89049032", 2)])
    assert VirtualEuicc(lab).eid == lab.eid
    fleet_member = pki.eid_for("89049032", 2)
    card = VirtualEuicc(lab, eid=fleet_member)
    channel = open_isdr(card)
    assert store_data(card, channel, GET_EID)[5:21].hex() == fleet_member
    explicit = EuiccIdentity.build(lab.euicc.certificate, lab.euicc.private_key, lab.eum.certificate,
                                   [lab.ci.certificate])
    assert VirtualEuicc(explicit).eid == lab.eid
    with pytest.raises(BadInputError):
        VirtualEuicc(lab, eid="89049032123451234512345678901235")
