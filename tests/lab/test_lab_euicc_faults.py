"""Fault injection: slow answers, a card pulled out, catBusy, corrupted answers."""
from __future__ import annotations

import pytest

from sgp22 import codec
from sgp22.errors import BadInputError, CardRemovedError
from sgp22.profile_package import encode_iccid

from rsplab.euicc import Faults, VirtualEuicc
from rsplab.euicc import faults as faults_module
from tests.lab.euicc_kit import Lpa, Smdp, iccid_for

GET_EID_APDU = bytes.fromhex("80E2910006BF3E035C015A00")
SELECT_ISDR = bytes.fromhex("00A4040C10A0000005591010FFFFFFFF8900000100")


def test_fault_specs_parse_like_the_cli_takes_them():
    faults = Faults.parse(["delay=0.25", "remove-after=40", "cat-busy", "corrupt=3,9", "osu-unavailable", "osu-fail"])
    assert faults == Faults(0.25, 40, True, frozenset({3, 9}), True, True)
    for bad in (["delay=x"], ["remove-after=-1"], ["corrupt="], ["explode"], ["cat-busy=1"]):
        with pytest.raises(BadInputError):
            Faults.parse(bad)


def test_the_modem_reads_its_fault_specs_the_same_way():
    from rsplab.modem.faults import ModemFaults

    faults = ModemFaults.parse(["cme=3,9", "URC=2", "slow=0.05", "lose=7", "reset_after=20"])
    assert faults == ModemFaults(frozenset({3, 9}), 2, 0.05, frozenset({7}), 20)
    for bad in (["urc=0"], ["slow=-1"], ["lose="], ["cme=0"]):
        with pytest.raises(BadInputError, match="has a bad value"):
            ModemFaults.parse(bad)
    with pytest.raises(BadInputError, match="use cme=N.*reset-after=N"):
        ModemFaults.parse(["explode"])


def test_every_apdu_waits_the_configured_delay(identity, monkeypatch):
    waits = []
    monkeypatch.setattr(faults_module.time, "sleep", waits.append)
    card = VirtualEuicc(identity, faults=Faults(delay_s=0.3))
    card.transmit(SELECT_ISDR)
    card.transmit(GET_EID_APDU)
    assert waits == [0.3, 0.3]


def test_the_card_is_removed_after_n_apdus_until_reinserted(identity):
    card = VirtualEuicc(identity, faults=Faults(remove_after=2))
    assert card.transmit(SELECT_ISDR) == b"\x90\x00"
    assert card.transmit(GET_EID_APDU)[-2:] == b"\x90\x00"
    with pytest.raises(CardRemovedError):
        card.transmit(GET_EID_APDU)
    with pytest.raises(CardRemovedError):
        card.transmit(GET_EID_APDU)
    assert card.removed
    card.faults.remove_after = None
    card.reinsert()
    assert card.transmit(GET_EID_APDU)[-2:] == b"\x69\x85"  # a fresh power-on: nothing selected


def test_a_removal_in_the_middle_of_a_download_installs_nothing(identity):
    card = VirtualEuicc(identity)
    lpa, smdp = Lpa(card), Smdp()
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid_for(1), size=4000)
    card.faults.remove_after = card.apdu_count + 10
    with pytest.raises(CardRemovedError):
        lpa.load(bpp)
    card.faults.remove_after = None
    card.reinsert()
    lpa = Lpa(card)
    assert codec.decode("ProfileInfoListResponse", lpa.es10(bytes.fromhex("BF2D00")))[1] == []


def test_cat_busy_refuses_enable_disable_and_reset(identity):
    card = VirtualEuicc(identity)
    lpa = Lpa(card)
    lpa.install(Smdp(), iccid_for(2))
    card.faults.cat_busy = True
    request = codec.encode("EnableProfileRequest", {"profileIdentifier": ("iccid", encode_iccid(iccid_for(2))),
                                                    "refreshFlag": True})
    assert codec.decode("EnableProfileResponse", lpa.es10(request))["enableResult"] == 5
    card.faults.cat_busy = False
    assert codec.decode("EnableProfileResponse", lpa.es10(request))["enableResult"] == 0


def test_a_corrupted_answer_has_one_byte_flipped(identity):
    card = VirtualEuicc(identity, faults=Faults(corrupt_apdus=frozenset({2})))
    card.transmit(SELECT_ISDR)
    reference = VirtualEuicc(identity)
    reference.transmit(SELECT_ISDR)
    good, bad = reference.transmit(GET_EID_APDU), card.transmit(GET_EID_APDU)
    assert bad[-2:] == good[-2:] == b"\x90\x00"
    assert [i for i in range(len(good)) if good[i] != bad[i]] == [len(good) - 3]
    assert card.transmit(GET_EID_APDU) == good  # only the listed APDU numbers
