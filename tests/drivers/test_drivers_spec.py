"""Reader specs as users write them on the command line and in fleet files, and the AT answer
lines as modems print them (3GPP TS 27.007 formats, numeric and verbose +CME ERROR)."""
from __future__ import annotations

import pytest

from carddrivers import at_protocol
from carddrivers.spec import ReaderSpec, normalise
from sgp22.errors import BadInputError, CardRemovedError, CommandRefusedError, MalformedDataError


def test_specs_name_the_driver_target_and_options():
    spec = ReaderSpec.parse("at:/dev/ttyUSB2?mode=csim&baud=9600")
    assert (spec.driver, spec.target, spec.at_settings) == ("at", "/dev/ttyUSB2", {"mode": "csim", "baud": 9600})
    assert str(spec) == "at:/dev/ttyUSB2?baud=9600&mode=csim"  # canonical: options sorted
    reader = ReaderSpec.parse("pcsc:Virtual PCD 00 00?block=120")
    assert (reader.target, reader.block_size) == ("Virtual PCD 00 00", 120)
    assert ReaderSpec.parse("local:card-1").block_size is None


def test_a_bare_reader_name_is_a_pcsc_reader():
    assert normalise("Virtual PCD 00 01") == "pcsc:Virtual PCD 00 01"
    assert normalise("at:/dev/ttyACM0?timeout=3") == "at:/dev/ttyACM0?timeout=3"


@pytest.mark.parametrize("text, complaint", [
    ("usb:reader", "reader spec must be"),
    ("qmi:/dev/cdc-wdm0", "QMI driver is not implemented"),
    ("mbim:/dev/cdc-wdm0", "MBIM driver is not implemented"),
    ("at:", "reader spec must be"),
    ("at:?baud=9600", "names no reader"),
    ("pcsc:Reader?mode=csim", "unknown option"),
    ("at:/dev/ttyUSB2?mode=qmi", "mode must be cgla or csim"),
    ("at:/dev/ttyUSB2?baud=fast", "baud must be a positive number"),
    ("at:/dev/ttyUSB2?timeout=0", "timeout must be"),
    ("at:/dev/ttyUSB2?block=300", "block must be 6..255"),
    ("at:/dev/ttyUSB2?baud", "options must be key=value"),
])
def test_bad_specs_are_refused_when_given(text, complaint):
    with pytest.raises(BadInputError, match=complaint):
        ReaderSpec.parse(text)


def test_commands_count_hex_characters():
    apdu = bytes.fromhex("81E2910003BF3E00")
    assert at_protocol.cgla_command(1, apdu) == 'AT+CGLA=1,16,"81E2910003BF3E00"'
    assert at_protocol.csim_command(apdu) == 'AT+CSIM=16,"81E2910003BF3E00"'
    assert at_protocol.ccho_command(bytes.fromhex("A0000005591010FFFFFFFF8900000100")) == \
        'AT+CCHO="A0000005591010FFFFFFFF8900000100"'


def test_answers_are_checked_against_their_length():
    assert at_protocol.parse_hex_answer("+CGLA:", '+CGLA: 8,"BF3E9000"') == bytes.fromhex("BF3E9000")
    assert at_protocol.parse_hex_answer("+CSIM:", "+CSIM: 4,9000") == bytes.fromhex("9000")
    with pytest.raises(MalformedDataError, match="says 6 hex digits but carries 4"):
        at_protocol.parse_hex_answer("+CGLA:", '+CGLA: 6,"9000"')


def test_session_ids_bare_or_prefixed():
    assert at_protocol.parse_session(["2"]) == 2
    assert at_protocol.parse_session(["+CCHO: 3"]) == 3
    with pytest.raises(MalformedDataError, match="channel numbers"):
        at_protocol.parse_session(["1234567"])


def test_channel_numbers_from_the_class_byte():
    assert [at_protocol.channel_of(cla) for cla in (0x80, 0x81, 0x83, 0xC0, 0xCF)] == [0, 1, 3, 4, 19]


@pytest.mark.parametrize("final, kind, retryable", [
    ("+CME ERROR: 14", "card.modem.sim_busy", True),
    ("+CME ERROR: SIM busy", "card.modem.sim_busy", True),
    ("+CME ERROR: 10", "card.absent", True),
    ("+CME ERROR: 21", "card.channel_lost", True),
    ("+CME ERROR: 50", "card.modem.refused", False),
    ("ERROR", "card.modem.refused", False),
    ("+CME ERROR: 765", "card.modem.error", True),
])
def test_final_errors_are_typed(final, kind, retryable):
    error = at_protocol.final_error(final, "AT+CGLA", "/dev/ttyUSB2")
    assert (error.kind, error.retryable) == (kind, retryable)
    assert "AT+CGLA on modem /dev/ttyUSB2" in error.message
    assert isinstance(error, CardRemovedError) == (kind == "card.absent")
    assert isinstance(error, CommandRefusedError) == (kind == "card.modem.refused")
