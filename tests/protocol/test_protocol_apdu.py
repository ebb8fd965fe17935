"""APDU framing: STORE DATA segmentation, CLA per channel, status words, GET RESPONSE, the ISD-R
session and the trace, against exact byte sequences."""
from __future__ import annotations

import logging

import pytest

from sgp22 import apdu
from sgp22.apdu import IsdrChannel, cla_for_channel, store_data_commands
from sgp22.status_words import (
    StatusCardBusyError,
    StatusConditionsNotSatisfiedError,
    StatusMemoryError,
    StatusNotFoundError,
    StatusNotSupportedError,
    StatusTechnicalError,
    StatusWrongParametersError,
    status_word_error,
)
from sgp22.errors import BadInputError, CardRemovedError, EsimError, MalformedDataError, StatusWordError, TransportError
from carddrivers.local import LocalTransport

from tests.protocol.scripted_card import Es10Applet, ScriptedCard

TERMINAL_CAPABILITY = "80AA00000AA9088100820101830107"
OPEN = "0070000001"
SELECT_ISDR_CH1 = "01A4040010A0000005591010FFFFFFFF8900000100"
CLOSE_CH1 = "0070800100"


# --- STORE DATA segmentation ---------------------------------------------------------------------


def test_single_block_store_data_is_last_block_number_zero_with_le():
    assert store_data_commands(0x81, bytes.fromhex("BF2E00")) == [bytes.fromhex("81E2910003BF2E0000")]


def test_store_data_blocks_count_p2_and_mark_only_the_last_block():
    data = bytes(range(250))
    commands = store_data_commands(0x82, data, block_size=120)
    assert [c[:5].hex().upper() for c in commands] == ["82E2110078", "82E2110178", "82E291020A"]
    assert all(c[-1] == 0x00 for c in commands)
    assert b"".join(c[5:-1] for c in commands) == data


@pytest.mark.parametrize("size,blocks", [(6, 42), (63, 4), (120, 3), (255, 1)])
def test_store_data_block_size_sets_the_number_of_blocks(size, blocks):
    commands = store_data_commands(0x81, bytes(250), block_size=size)
    assert len(commands) == blocks
    assert max(c[4] for c in commands) == min(size, 250)


@pytest.mark.parametrize("size", [0, 5, 256, 1000, -1, "120", 120.0])
def test_store_data_block_size_outside_6_to_255_is_refused(size):
    with pytest.raises(BadInputError):
        store_data_commands(0x81, b"\xbf\x2e\x00", block_size=size)


def test_store_data_needs_data_and_at_most_256_blocks():
    with pytest.raises(BadInputError):
        store_data_commands(0x81, b"")
    assert len(store_data_commands(0x81, bytes(6 * 256), block_size=6)) == 256
    with pytest.raises(BadInputError, match="256"):
        store_data_commands(0x81, bytes(6 * 256 + 1), block_size=6)


@pytest.mark.parametrize(
    "channel,proprietary,cla",
    [(0, True, 0x80), (1, True, 0x81), (3, True, 0x83), (4, True, 0xC0), (5, True, 0xC1), (19, True, 0xCF),
     (0, False, 0x00), (2, False, 0x02), (4, False, 0x40), (19, False, 0x4F)],
)
def test_cla_for_logical_channels(channel, proprietary, cla):
    assert cla_for_channel(channel, proprietary=proprietary) == cla


@pytest.mark.parametrize("channel", [-1, 20, 255])
def test_cla_for_impossible_channel_is_refused(channel):
    with pytest.raises(BadInputError):
        cla_for_channel(channel)


# --- Status words ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sw,error_class,kind",
    [
        (0x6A82, StatusNotFoundError, "card.sw.not_found"),
        (0x6A88, StatusNotFoundError, "card.sw.not_found"),
        (0x6985, StatusConditionsNotSatisfiedError, "card.sw.conditions_not_satisfied"),
        (0x6982, StatusConditionsNotSatisfiedError, "card.sw.conditions_not_satisfied"),
        (0x6999, StatusConditionsNotSatisfiedError, "card.sw.conditions_not_satisfied"),
        (0x6D00, StatusNotSupportedError, "card.sw.not_supported"),
        (0x6E00, StatusNotSupportedError, "card.sw.not_supported"),
        (0x6881, StatusNotSupportedError, "card.sw.not_supported"),
        (0x6A81, StatusNotSupportedError, "card.sw.not_supported"),
        (0x6F00, StatusTechnicalError, "card.sw.technical"),
        (0x6FC2, StatusTechnicalError, "card.sw.technical"),
        (0x6400, StatusTechnicalError, "card.sw.technical"),
        (0x6A84, StatusMemoryError, "card.sw.memory"),
        (0x6581, StatusMemoryError, "card.sw.memory"),
        (0x6A80, StatusWrongParametersError, "card.sw.wrong_parameters"),
        (0x6A86, StatusWrongParametersError, "card.sw.wrong_parameters"),
        (0x6700, StatusWrongParametersError, "card.sw.wrong_parameters"),
        (0x6B00, StatusWrongParametersError, "card.sw.wrong_parameters"),
        (0x9300, StatusCardBusyError, "card.sw.busy"),
        (0x6283, StatusWordError, "card.status_word"),
        (0x63C1, StatusWordError, "card.status_word"),
        (0x0000, StatusWordError, "card.status_word"),
        (0x9F10, StatusWordError, "card.status_word"),
    ],
)
def test_status_words_map_to_typed_errors(sw, error_class, kind):
    error = status_word_error(sw, "STORE DATA")
    assert type(error) is error_class
    assert error.kind == kind
    assert error.sw == sw
    assert f"{sw:04X}" in error.message


def test_retryable_status_words_are_the_transient_ones():
    assert status_word_error(0x6F00, "x").retryable
    assert status_word_error(0x9300, "x").retryable
    assert not status_word_error(0x6A82, "x").retryable
    assert not status_word_error(0x6A80, "x").retryable


@pytest.mark.parametrize("answer", [b"", b"\x90", bytearray(b"\x61")])
def test_answer_without_status_word_is_a_transport_error(answer):
    link = apdu.ApduLink(LocalTransport(ScriptedCard([("80CA00FE00", answer.hex())])))
    with pytest.raises(TransportError, match="status word"):
        link.transmit(bytes.fromhex("80CA00FE00"))


# --- The ISD-R session -------------------------------------------------------------------------------


def test_isdr_session_sends_exactly_the_lpa_sequence():
    card = ScriptedCard([
        (TERMINAL_CAPABILITY, "9000"),
        (OPEN, "019000"),
        (SELECT_ISDR_CH1, "9000"),
        ("81E2910003BF2E0000", "BF2E1280101122334455667788990011223344556677 9000"),
        (CLOSE_CH1, "9000"),
    ])
    with IsdrChannel(LocalTransport(card)) as isdr:
        assert isdr.channel == 1
        answer = isdr.store_data(bytes.fromhex("BF2E00"))
    assert answer.hex().upper() == "BF2E1280101122334455667788990011223344556677"
    assert card.finished
    assert not isdr.is_open


def test_get_response_collects_a_long_answer_with_the_commands_cla():
    card = ScriptedCard([
        (OPEN, "019000"),
        (SELECT_ISDR_CH1, "6112"),
        ("01C0000012", "6F10840EA0000005591010FFFFFFFF89000001 9000"),
        ("81E2910003BF220000", "BF22AA 6104"),
        ("81C0000004", "BBCCDD 6101"),
        ("81C0000001", "EE 9000"),
        (CLOSE_CH1, "9000"),
    ])
    with IsdrChannel(LocalTransport(card), terminal_capability=False) as isdr:
        assert isdr.select_response.startswith(bytes.fromhex("6F10"))
        assert isdr.store_data(bytes.fromhex("BF2200")) == bytes.fromhex("BF22AABBCCDDEE")
    assert card.finished


def test_wrong_le_is_repeated_with_the_length_the_card_asks_for():
    link = apdu.ApduLink(LocalTransport(ScriptedCard([("80CA9F7F00", "6C2D"), ("80CA9F7F2D", "AA9000")])))
    response = link.exchange(bytes.fromhex("80CA9F7F00"))
    assert (response.data, response.sw) == (b"\xaa", 0x9000)


def test_get_response_cla_can_be_set_for_vendor_commands():
    link = apdu.ApduLink(LocalTransport(ScriptedCard([("00CA00FE00", "AA6101"), ("80C0000001", "BB9000")])))
    assert link.exchange(bytes.fromhex("00CA00FE00"), get_response_cla=0x80).data == b"\xaa\xbb"


def test_a_card_without_isdr_is_reported_and_its_channel_closed():
    card = ScriptedCard([(OPEN, "029000"), ("02A4040010A0000005591010FFFFFFFF8900000100", "6A82"), ("0070800200", "9000")])
    with pytest.raises(StatusNotFoundError, match="eUICC"):
        IsdrChannel(LocalTransport(card), terminal_capability=False).open()
    assert card.finished


def test_no_free_logical_channel_is_a_typed_error():
    card = ScriptedCard([(TERMINAL_CAPABILITY, "6D00"), (OPEN, "6881")])
    with pytest.raises(StatusNotSupportedError) as raised:
        IsdrChannel(LocalTransport(card)).open()
    assert raised.value.sw == 0x6881


@pytest.mark.parametrize("answer", ["9000", "009000", "149000", "01029000"])
def test_manage_channel_answer_without_a_usable_channel_number_is_malformed(answer):
    card = ScriptedCard([(OPEN, answer)])
    with pytest.raises(MalformedDataError):
        IsdrChannel(LocalTransport(card), terminal_capability=False).open()


def test_channels_above_three_use_the_further_cla_form():
    card = ScriptedCard([
        (OPEN, "059000"),
        ("41A4040010A0000005591010FFFFFFFF8900000100", "9000"),
        ("C1E2910003BF3C0000", "BF3C03810161 9000"),
        ("0070800500", "9000"),
    ])
    with IsdrChannel(LocalTransport(card), terminal_capability=False) as isdr:
        assert isdr.store_data(bytes.fromhex("BF3C00")) == bytes.fromhex("BF3C03810161")


def test_basic_channel_mode_sends_no_manage_channel():
    card = ScriptedCard([
        ("00A4040010A0000005591010FFFFFFFF8900000100", "9000"),
        ("80E2910003BF200000", "BF2003820102 9000"),
    ])
    with IsdrChannel(LocalTransport(card), logical_channel=False, terminal_capability=False) as isdr:
        assert isdr.store_data(bytes.fromhex("BF2000")) == bytes.fromhex("BF2003820102")
    assert card.finished


def test_store_data_in_blocks_of_the_configured_size():
    request = bytes.fromhex("BF2D") + bytes([10]) + bytes(10)
    card = ScriptedCard([
        (OPEN, "019000"), (SELECT_ISDR_CH1, "9000"),
        ("81E2110006BF2D0A00000000", "9000"),
        ("81E2110106000000000000 00", "9000"),
        ("81E2910201 00 00", "BF2D00 9000"),
        (CLOSE_CH1, "9000"),
    ])
    with IsdrChannel(LocalTransport(card), block_size=6, terminal_capability=False) as isdr:
        assert isdr.store_data(request) == bytes.fromhex("BF2D00")
    assert card.finished


def test_an_answer_before_the_last_block_ends_the_sequence():
    card = ScriptedCard([
        (OPEN, "019000"), (SELECT_ISDR_CH1, "9000"),
        ("81E2110006BF2D0A00000000", "BF3703800101 9000"),
        (CLOSE_CH1, "9000"),
    ])
    with IsdrChannel(LocalTransport(card), block_size=6, terminal_capability=False) as isdr:
        assert isdr.store_data(bytes.fromhex("BF2D0A") + bytes(10)) == bytes.fromhex("BF3703800101")
    assert card.finished


def test_error_status_in_the_middle_of_a_sequence_stops_it():
    card = ScriptedCard([
        (OPEN, "019000"), (SELECT_ISDR_CH1, "9000"),
        ("81E2110006BF2D0A00000000", "6A80"),
        (CLOSE_CH1, "9000"),
    ])
    with IsdrChannel(LocalTransport(card), block_size=6, terminal_capability=False) as isdr:
        with pytest.raises(StatusWrongParametersError) as raised:
            isdr.store_data(bytes.fromhex("BF2D0A") + bytes(10))
    assert raised.value.sw == 0x6A80
    assert card.finished


def test_store_data_on_a_closed_session_is_refused():
    isdr = IsdrChannel(LocalTransport(ScriptedCard([])))
    with pytest.raises(TransportError, match="not open"):
        isdr.store_data(bytes.fromhex("BF2E00"))


def test_closing_after_the_card_vanished_does_not_hide_the_original_error():
    class Vanishing:
        def __init__(self):
            self.inner = Es10Applet({})
            self.gone = False

        def transmit(self, command):
            if self.gone:
                raise CardRemovedError("card removed")
            return self.inner.transmit(command)

    card = Vanishing()
    with pytest.raises(CardRemovedError):
        with IsdrChannel(LocalTransport(card)) as isdr:
            card.gone = True
            isdr.store_data(bytes.fromhex("BF2E00"))


def test_the_applet_stand_in_checks_block_numbers():
    applet = Es10Applet({"BF2E00": "BF2E00"})
    with IsdrChannel(LocalTransport(applet), block_size=6) as isdr:
        isdr.store_data(bytes.fromhex("BF2E00"))
        assert applet.transmit(bytes.fromhex("81E2110103BF2E0000")) == bytes.fromhex("6A86")


# --- Trace ------------------------------------------------------------------------------------------


MATCHING_ID = "SECRET-MATCHING-ID-12345"


def _authenticate_server_like_request() -> bytes:
    secret = MATCHING_ID.encode()
    body = bytes.fromhex("A0") + bytes([len(secret) + 2, 0x80, len(secret)]) + secret
    return bytes.fromhex("BF38") + bytes([len(body)]) + body


def test_trace_is_off_by_default(caplog):
    caplog.set_level(logging.DEBUG, logger="sgp22.apdu.trace")
    with IsdrChannel(LocalTransport(Es10Applet({"BF2E00": "BF2E00"}))) as isdr:
        isdr.store_data(bytes.fromhex("BF2E00"))
    assert not [r for r in caplog.records if r.name == "sgp22.apdu.trace"]


def test_trace_logs_apdus_in_hex(caplog):
    caplog.set_level(logging.DEBUG, logger="sgp22.apdu.trace")
    with IsdrChannel(LocalTransport(Es10Applet({"BF2E00": "BF2E03800101"})), trace=True) as isdr:
        isdr.store_data(bytes.fromhex("BF2E00"))
    lines = [r.getMessage() for r in caplog.records if r.name == "sgp22.apdu.trace"]
    assert ">> 81E2910003BF2E0000" in lines
    assert "<< BF2E038001019000" in lines


def test_trace_withholds_authenticate_server_data_both_ways(caplog):
    caplog.set_level(logging.DEBUG, logger="sgp22.apdu.trace")
    request = _authenticate_server_like_request()
    echoed = bytes.fromhex("BF38") + bytes([len(MATCHING_ID) + 2, 0x80, len(MATCHING_ID)]) + MATCHING_ID.encode()
    applet = Es10Applet(lambda r: echoed)
    with IsdrChannel(LocalTransport(applet), trace=True, block_size=10) as isdr:
        assert isdr.store_data(request) == echoed
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert MATCHING_ID.encode().hex().upper()[:8] not in text
    assert MATCHING_ID not in text
    assert "withheld" in text
    assert ">> 81E211000A [11 bytes of BF38" in text  # headers stay visible, data only by length
    assert "<< 9000 [" in text


# --- Local transport ---------------------------------------------------------------------------------


def test_local_transport_turns_a_crashing_card_into_a_transport_error():
    class Broken:
        def transmit(self, command):
            raise ValueError("bug in the card")

    with pytest.raises(TransportError) as raised:
        LocalTransport(Broken()).transmit(bytes.fromhex("0070000001"))
    assert raised.value.retryable
    assert isinstance(raised.value.__cause__, ValueError)


@pytest.mark.parametrize("answer", ["9000", None, 0x9000, [0x90, 0x00]])
def test_local_transport_refuses_answers_that_are_not_bytes(answer):
    class Odd:
        def transmit(self, command):
            return answer

    with pytest.raises(TransportError, match="not bytes"):
        LocalTransport(Odd()).transmit(bytes.fromhex("0070000001"))


def test_local_transport_passes_the_cards_own_typed_errors():
    class Removed:
        def transmit(self, command):
            raise CardRemovedError("gone")

    with pytest.raises(CardRemovedError):
        LocalTransport(Removed()).transmit(bytes.fromhex("0070000001"))


def test_local_transport_after_close_is_refused():
    transport = LocalTransport(Es10Applet({}))
    transport.close()
    with pytest.raises(TransportError, match="closed"):
        transport.transmit(bytes.fromhex("0070000001"))


def test_local_transport_needs_something_that_transmits():
    with pytest.raises(TypeError):
        LocalTransport(object())


def test_every_error_here_is_an_esim_error():
    for error in (status_word_error(0x6A82, "x"), StatusCardBusyError("x", sw=0x9300)):
        assert isinstance(error, EsimError) and error.to_dict()["kind"].startswith("card.")
