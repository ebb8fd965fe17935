"""The virtual eUICC under hostile APDUs: random commands, mutated ES10 requests, and mutated
bound profile package sessions (truncated, dropped, duplicated or flipped segments, other
functions and other channels cutting in, sessions abandoned half way). After every case a valid
GetEID and GetProfilesInfo answer correctly on every open channel, and the state file loads.

Seeded and reproducible (``SEED``); 390 cases in about four seconds. A case fails the test when
the card raises, logs an internal error (the ``6F00`` it answers instead of dying), or leaves any
channel answering wrongly. Outcomes of the recorded run (seed 2200, 130 cases per kind):
random APDUs 6700 44, 6D00 26, 6881 24, 6884 14, 6E00 11, 6A86 8, 6882 2, 6A82 1; mutated ES10
requests 6A80 108, 6A88 15, 9000 with the function's answer 7; BPP sessions errorResult PIR
71, successResult 30, 6A88 16, abandoned 10, 6985 2, no answer yet 1 (a dropped last
segment); internal errors 0, wedged channels 0. Before the fix in ``es10_server`` the first
truncated segment wedged every channel.
"""
from __future__ import annotations

import collections
import json
import logging
import random

import pytest

from sgp22 import codec, es10
from sgp22.errors import StatusWordError
from sgp22.es10_types import iccid_digits
from sgp22.apdu import ISDR_AID, IsdrChannel, select_by_aid_command
from carddrivers.local import LocalTransport

from rsplab.euicc import VirtualEuicc
from rsplab.euicc.state import EuiccState
from tests.lab.euicc_kit import SGP26, Lpa, Smdp, iccid_for, lpac_pieces

SEED = 2200
CASES_PER_KIND = 130

VALID_REQUESTS = [
    "BF3E035C015A",  # GetEuiccData (EID)
    "BF2D00",  # ProfileInfoList
    "BF2D035C015A",
    "BF2000", "BF2200", "BF2E00", "BF2800", "BF2B00", "BF3C00", "BF4300",
    "BF300380010A",  # NotificationSent seq 10
    "BF3106A1045A0212340101FF",
    "BF3206A1045A021234",
    "BF33045A021234",
    "BF290C5A0A98001032547698103214900408",
    "BF3F0680046C6162",
    "BF340382020780",
    "BF41168010000102030405060708090A0B0C0D0E0F810101",
]


@pytest.fixture
def card(tmp_path):
    euicc = VirtualEuicc(SGP26, tmp_path / "euicc.json")
    yield euicc
    euicc.close()


class Checker:
    """Valid ES10 traffic on three channels: two logical ones and the basic channel."""

    def __init__(self, card: VirtualEuicc) -> None:
        self.card = card
        transport = LocalTransport(card)
        self.channels = [IsdrChannel(transport).open(), IsdrChannel(transport).open(),
                         IsdrChannel(transport, logical_channel=False).open()]

    def reselect(self) -> None:
        for channel in self.channels:
            response = channel.link.exchange(select_by_aid_command(channel.channel, ISDR_AID))
            assert response.ok, f"SELECT ISD-R on channel {channel.channel}: {response.sw:04X}"

    def check(self) -> None:
        self.reselect()
        expected = sorted(iccid_digits(bytes.fromhex(p.iccid)) for p in self.card.store.state.profiles)
        for channel in self.channels:
            assert es10.get_eid(channel) == self.card.eid, f"GetEID on channel {channel.channel}"
            profiles = es10.get_profiles_info(channel)
            assert sorted(p.iccid for p in profiles) == expected, f"GetProfilesInfo on channel {channel.channel}"
        EuiccState.from_json(json.loads(self.card.store.path.read_text()))


def _random_apdu(rng: random.Random, checker: Checker) -> bytes:
    in_use = {c.channel for c in checker.channels}
    cla = rng.choice([0x00, 0x01, 0x02, 0x03, 0x80, 0x81, 0x82, 0x83, 0x40, 0x4F, 0xC0, 0xCF, 0xFF, 0x10, 0x90,
                      rng.randrange(256)])
    ins = rng.choice([0xE2, 0xA4, 0xC0, 0xAA, 0x70, 0xCA, 0xF2, 0x00, 0xFF, rng.randrange(256)])
    p1, p2 = rng.choice([0x11, 0x91, 0x04, 0x00, 0x80, rng.randrange(256)]), rng.randrange(256)
    if ins == 0x70 and p1 == 0x80 and (p2 in in_use or (p2 == 0 and cla & 0x03 in in_use)):
        p2 = 19  # closing the checker's own channels is not a fault of the card
    body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 3, 20, 255, 300])))
    shape = rng.randrange(4)
    if shape == 0:
        return bytes([cla, ins, p1, p2])
    if shape == 1:
        return bytes([cla, ins, p1, p2, rng.randrange(256)])
    if shape == 2:
        return bytes([cla, ins, p1, p2, len(body) & 0xFF]) + body[:255] + bytes(rng.randrange(2))
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12)))


def _mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        operation = rng.randrange(6)
        if operation == 0 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif operation == 1 and len(data) > 1:
            del data[rng.randrange(1, len(data)):]
        elif operation == 2:
            position = rng.randrange(len(data) + 1)
            data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif operation == 3 and len(data) > 2:
            data[2] = rng.choice([0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF])  # length form
        elif operation == 4 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
    return bytes(data) or b"\x00"


def _bpp_session(rng: random.Random, lpa: Lpa, checker: Checker, smdp: Smdp, number: int) -> str:
    """One download whose segments are mangled; returns what the card ended with."""
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid_for(number))
    pieces = lpac_pieces(bpp)
    mutation = rng.choice(["truncate", "drop", "duplicate", "flip", "interleave", "cancel", "abandon", "glue", "none"])
    at = rng.randrange(len(pieces))
    if mutation == "truncate":
        pieces[at] = pieces[at][: rng.randrange(1, len(pieces[at]))]
    elif mutation == "drop":
        del pieces[at]
    elif mutation == "duplicate":
        pieces.insert(at, pieces[at])
    elif mutation == "flip":
        pieces[at] = _mutate(rng, pieces[at])
    elif mutation == "glue" and at + 1 < len(pieces):
        pieces[at : at + 2] = [pieces[at] + pieces[at + 1][: rng.randrange(1, len(pieces[at + 1]) + 1)]]
    for index, piece in enumerate(pieces):
        if index == at and mutation == "interleave":
            other = rng.choice(checker.channels)
            assert es10.get_eid(other) == checker.card.eid
        if index == at and mutation == "cancel":
            lpa.es10(codec.encode("CancelSessionRequest", {"transactionId": download.transaction_id, "reason": 0}))
        if index == at and mutation == "abandon":
            return "abandoned"
        try:
            answer = lpa.es10(piece)
        except StatusWordError as error:
            return f"sw {error.sw:04X}"
        if answer:
            result = codec.decode("ProfileInstallationResult", answer)
            return result["profileInstallationResultData"]["finalResult"][0]
    return "no answer"


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def internal_errors():
    handler = _Errors()
    logger = logging.getLogger("rsplab")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def test_the_card_survives_hostile_apdus_requests_and_sessions(card, internal_errors):
    rng = random.Random(SEED)
    checker = Checker(card)
    lpa = Lpa(card)
    checker.channels.append(lpa.channel)
    smdp = Smdp()
    outcomes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for number in range(CASES_PER_KIND):
        raw = card.transmit(_random_apdu(rng, checker))
        outcomes["random APDU"][raw[-2:].hex().upper()] += 1
        checker.check()

        request = _mutate(rng, bytes.fromhex(rng.choice(VALID_REQUESTS)))
        channel = rng.choice(checker.channels)
        try:
            answer = channel.store_data(request)
            outcomes["mutated ES10 request"]["9000 " + (answer[:2].hex().upper() or "empty")] += 1
        except StatusWordError as error:  # the typed refusal; anything else fails the test
            outcomes["mutated ES10 request"][f"{error.sw:04X}"] += 1
        checker.check()

        ended = _bpp_session(rng, lpa, checker, smdp, number)
        outcomes["BPP session"][ended] += 1
        checker.check()
        assert not internal_errors, [r.getMessage() for r in internal_errors[:3]]
    for kind, counts in outcomes.items():
        print(f"virtual eUICC fuzz, seed {SEED}, {kind}: {dict(sorted(counts.items()))}")
    assert all(sum(c.values()) == CASES_PER_KIND for c in outcomes.values())
    assert outcomes["BPP session"]["successResult"], "no mangled session may also mean no session works at all"


def test_a_truncated_bpp_segment_ends_the_session_and_every_channel_answers_again(card):
    """The reported case: after one truncated element, CancelSession and GetEID on another channel
    answered 9000 without data for ~80 commands, then a GetEID got a ProfileInstallationResult."""
    lpa, other, smdp = Lpa(card), Lpa(card), Smdp()
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    pieces = lpac_pieces(smdp.bpp(download.prepare_response, transaction_id=download.transaction_id,
                                  iccid=iccid_for(1)))
    lpa.es10(pieces[0])
    answer = lpa.es10(pieces[1][:-3])  # ConfigureISDP cut short
    result = codec.decode("ProfileInstallationResult", answer)["profileInstallationResultData"]["finalResult"]
    assert result[0] == "errorResult"
    assert es10.get_eid(other.channel) == card.eid
    assert es10.get_profiles_info(other.channel) == []
    cancel = codec.decode("CancelSessionResponse", lpa.es10(codec.encode(
        "CancelSessionRequest", {"transactionId": download.transaction_id, "reason": 0})))
    assert cancel[0] == "cancelSessionResponseError"  # the session already ended, and it says so
    assert es10.get_eid(lpa.channel) == card.eid
