"""The AT modem driver against the lab's virtual modem (a real pseudo-terminal, pyserial on the
other end, a virtual eUICC behind it): both ways to the ISD-R (AT+CCHO/CGLA/CCHC and AT+CSIM
with MANAGE CHANNEL), and what real modem ports do: echo, URCs inside answers, +CME ERROR, slow
and lost answers, a modem that restarts, a line too long for the modem."""
from __future__ import annotations

import pytest

from carddrivers.at import AtModemTransport, ModemResetError
from carddrivers.spec import ReaderSpec, open_transport
from rsplab.euicc import EuiccConfig, Faults, VirtualEuicc
from rsplab.modem import ModemFaults, VirtualModem
from sgp22 import es10
from sgp22.apdu import IsdrChannel
from sgp22.errors import CardRemovedError, CardTimeoutError, CommandRefusedError, TransportError
from sgp22.tlv import build

# GetProfilesInfo with a tag list long enough (175 bytes) to need two blocks of 120, one of 255
LONG_REQUEST = build(0xBF2D, build(0x5C, bytes.fromhex("5A4F9F70909192B6B7B8999F2495") * 12))


@pytest.fixture
def card(lab_pki):
    with VirtualEuicc(lab_pki.root) as euicc:
        yield euicc


def modem_for(card, **options) -> VirtualModem:
    return VirtualModem(card, **options).start()


@pytest.fixture
def modem(card):
    modem = modem_for(card)
    yield modem
    modem.stop()


def test_es10_over_logical_channels_the_modem_opens(card, modem):
    assert modem.at.echo  # as a modem comes up
    with IsdrChannel(AtModemTransport(modem.device)) as isdr:
        assert isdr.transport.mode == "cgla"
        assert not modem.at.echo  # ATE0
        assert es10.get_eid(isdr) == card.eid
        assert es10.get_profiles_info(isdr) == []
        assert modem.at.sessions == {isdr.channel}
    assert modem.at.sessions == set()  # AT+CCHC on close


def test_echo_left_on_by_a_modem_that_ignores_ate0(card, modem, monkeypatch):
    original = modem.at.handle

    def keep_echo(line):
        answer = original(line)
        modem.at.echo = True
        return answer

    monkeypatch.setattr(modem.at, "handle", keep_echo)
    with IsdrChannel(AtModemTransport(modem.device)) as isdr:
        assert es10.get_eid(isdr) == card.eid
        assert modem.at.echo


def test_a_modem_without_cgla_gets_csim_and_manage_channel_on_the_basic_channel(card):
    modem = modem_for(card, cgla=False)
    try:
        with IsdrChannel(AtModemTransport(modem.device)) as isdr:
            assert isdr.transport.mode == "csim" and isdr.channel == 1  # opened with MANAGE CHANNEL
            assert es10.get_eid(isdr) == card.eid
            assert modem.at.sessions == set()
    finally:
        modem.stop()


def test_the_reader_spec_forces_csim_and_sets_the_timeout(card, modem):
    transport = open_transport(ReaderSpec.parse(f"at:{modem.device}?mode=csim&timeout=3&baud=9600"))
    with IsdrChannel(transport) as isdr:
        assert (transport.mode, transport.timeout) == ("csim", 3.0)
        assert es10.get_eid(isdr) == card.eid


def test_urcs_before_and_inside_every_answer_are_skipped(card):
    modem = modem_for(card, faults=ModemFaults.parse(["urc=1"]))
    try:
        with IsdrChannel(AtModemTransport(modem.device)) as isdr:
            for _ in range(5):
                assert es10.get_eid(isdr) == card.eid
        assert modem.at.injected["urc"] >= 5
    finally:
        modem.stop()


def test_sim_busy_is_a_typed_retryable_error_and_the_next_command_works(card):
    modem = modem_for(card, faults=ModemFaults.parse(["cme=2"]))
    try:
        with IsdrChannel(AtModemTransport(modem.device)) as isdr:
            assert es10.get_eid(isdr) == card.eid  # APDU 1
            with pytest.raises(TransportError) as busy:
                es10.get_eid(isdr)  # APDU 2
            assert (busy.value.kind, busy.value.retryable) == ("card.modem.sim_busy", True)
            assert "+CME ERROR: 14 (SIM busy)" in busy.value.message
            assert es10.get_eid(isdr) == card.eid
    finally:
        modem.stop()


def test_a_missing_card_is_card_absent(lab_pki):
    with VirtualEuicc(lab_pki.root, faults=Faults(remove_after=2)) as card:  # out after AT+CCHO
        modem = modem_for(card)
        try:
            with pytest.raises(CardRemovedError) as absent, IsdrChannel(AtModemTransport(modem.device)) as isdr:
                es10.get_eid(isdr)
            assert absent.value.kind == "card.absent"
        finally:
            modem.stop()


def test_slow_answers_within_the_timeout_arrive(card):
    modem = modem_for(card, faults=ModemFaults.parse(["slow=0.05"]))
    try:
        with IsdrChannel(AtModemTransport(modem.device, timeout=2)) as isdr:
            assert es10.get_eid(isdr) == card.eid
    finally:
        modem.stop()


def test_a_lost_answer_times_out_and_a_fresh_transport_works(card):
    modem = modem_for(card, faults=ModemFaults.parse(["lose=2"]))
    try:
        isdr = IsdrChannel(AtModemTransport(modem.device, timeout=2)).open()
        assert es10.get_eid(isdr) == card.eid
        with pytest.raises(CardTimeoutError) as lost:
            es10.get_eid(isdr)
        assert lost.value.retryable
        with pytest.raises(TransportError, match="lost an answer") as out_of_step:
            isdr.transport.transmit(bytes.fromhex("81E2910003BF3E00"))  # no answer can be trusted any more
        assert out_of_step.value.retryable
        isdr.close()
        assert modem.at.sessions == set()  # the channel of the lost answer closed all the same
        with IsdrChannel(AtModemTransport(modem.device, timeout=2)) as again:
            assert es10.get_eid(again) == card.eid
    finally:
        modem.stop()


def test_a_modem_restart_is_a_retryable_modem_reset_and_its_channels_are_gone(card):
    modem = modem_for(card, faults=ModemFaults.parse(["reset-after=1"]))
    try:
        isdr = IsdrChannel(AtModemTransport(modem.device)).open()
        assert es10.get_eid(isdr) == card.eid
        with pytest.raises(ModemResetError) as reset:
            es10.get_eid(isdr)
        assert (reset.value.kind, reset.value.retryable) == ("card.modem_reset", True)
        assert modem.at.sessions == set() and modem.at.echo  # the modem came back as from power-on
        isdr.close()
        with IsdrChannel(AtModemTransport(modem.device)) as again:
            assert es10.get_eid(again) == card.eid
    finally:
        modem.stop()


def test_blocks_too_long_for_the_modem_fall_back_to_120(card):
    modem = modem_for(card, max_apdu_data=120)
    try:
        with IsdrChannel(AtModemTransport(modem.device)) as isdr:
            assert isdr.block_size == 255
            assert isdr.store_data(LONG_REQUEST) == bytes.fromhex("BF2D02A000")
            assert isdr.block_size == 120
        with IsdrChannel(AtModemTransport(modem.device), fallback_block_size=None) as fixed, \
                pytest.raises(CommandRefusedError, match="incorrect parameters"):
            fixed.store_data(LONG_REQUEST)
    finally:
        modem.stop()


def test_blocks_too_long_for_the_card_fall_back_to_120_over_the_modem(lab_pki):
    with VirtualEuicc(lab_pki.root, config=EuiccConfig(max_store_data_block=120)) as card:
        modem = modem_for(card)
        try:
            with IsdrChannel(AtModemTransport(modem.device)) as isdr:
                assert es10.get_profiles_info(isdr) == []  # short requests go in one block either way
                assert isdr.block_size == 255
                assert isdr.store_data(LONG_REQUEST) == bytes.fromhex("BF2D02A000")
                assert isdr.block_size == 120
        finally:
            modem.stop()


def test_no_modem_at_the_path_is_a_clear_error(tmp_path):
    with pytest.raises(TransportError, match="cannot open modem port") as missing:
        AtModemTransport(str(tmp_path / "ttyUSB9"))
    assert missing.value.kind == "card.modem_unavailable"
