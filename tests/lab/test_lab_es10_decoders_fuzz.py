"""The ES10 response decoders of ``sgp22`` under hostile answers: each function's real answer,
recorded from the virtual eUICC after a real download, comes back mutated (bits flipped, cut
short, lengths rewritten, bytes inserted, tags swapped, another function's answer). Each call
ends in a typed ``EsimError`` (malformed data, the function's result error) or a value, never
another exception.

A card that answers off-protocol is a fault the virtual eUICC does not produce, so the mutated
answers come from a stand-in channel; the answers it mutates are the real card's.

Seeded and reproducible (``SEED``); 1,500 calls in a few seconds. Outcomes of the recorded run
(seed 7700): MalformedDataError 1364, Es10ResultError 7, SessionContextError 5,
EidUnavailableError 3, values 121; untyped 0.
"""
from __future__ import annotations

import collections
import random

import pytest

from sgp22 import es10
from sgp22.errors import EsimError

from rsplab.euicc import VirtualEuicc
from tests.lab.euicc_kit import SGP26, Lpa, Smdp, iccid_for

SEED = 7700
CASES = 1500
ICCID = iccid_for(42)


class Recording:
    """An ISD-R channel that keeps each request's answer (keyed by the request's tag)."""

    def __init__(self, channel) -> None:
        self.channel = channel
        self.answers: dict[bytes, bytes] = {}

    def store_data(self, request: bytes) -> bytes:
        answer = self.channel.store_data(request)
        self.answers[request[:2]] = answer
        return answer


class Hostile:
    """Answers every request with a mutation of a recorded answer."""

    def __init__(self, rng: random.Random, answers: dict[bytes, bytes]) -> None:
        self.rng = rng
        self.answers = answers

    def store_data(self, request: bytes) -> bytes:
        rng = self.rng
        answer = self.answers.get(request[:2]) or b""
        if rng.random() < 0.1:
            answer = rng.choice(list(self.answers.values()))  # another function's answer
        data = bytearray(answer)
        for _ in range(rng.randrange(1, 4)):
            operation = rng.randrange(7)
            if operation == 0 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif operation == 1 and data:
                del data[rng.randrange(len(data)):]
            elif operation == 2:
                at = rng.randrange(len(data) + 1)
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))
            elif operation == 3 and len(data) > 3:
                data[rng.choice([1, 2, 3])] = rng.choice([0x00, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0xFF])
            elif operation == 4 and len(data) > 1:
                data[0:2] = rng.choice([b"\xBF\x2D", b"\xBF\x3E", b"\x30\x80", b"\xFF\xFF", b"\x04\x00"])
            elif operation == 5:
                data = bytearray(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))))
            # operation 6: the answer unchanged (some calls must succeed)
        return bytes(data)


CALLS = {
    "get_eid": es10.get_eid,
    "get_euicc_info1": es10.get_euicc_info1,
    "get_euicc_info2": es10.get_euicc_info2,
    "get_profiles_info": es10.get_profiles_info,
    "get_euicc_configured_addresses": es10.get_euicc_configured_addresses,
    "get_rat": es10.get_rat,
    "get_euicc_challenge": es10.get_euicc_challenge,
    "list_notifications": es10.list_notifications,
    "retrieve_notifications_list": es10.retrieve_notifications_list,
    "enable_profile": lambda isdr: es10.enable_profile(isdr, iccid=ICCID),
    "disable_profile": lambda isdr: es10.disable_profile(isdr, iccid=ICCID),
    "set_nickname": lambda isdr: es10.set_nickname(isdr, ICCID, "fuzz"),
    "set_default_dp_address": lambda isdr: es10.set_default_dp_address(isdr, "smdp.example.com"),
    "remove_notification_from_list": lambda isdr: es10.remove_notification_from_list(isdr, 1),
    "delete_profile": lambda isdr: es10.delete_profile(isdr, iccid=ICCID),
    "cancel_session": lambda isdr: es10.cancel_session(isdr, bytes(16), es10.CancelSessionReason(0)),
}


@pytest.fixture
def recorded(tmp_path):
    with VirtualEuicc(SGP26, tmp_path / "euicc.json") as card:
        lpa = Lpa(card)
        smdp = Smdp()
        pir = lpa.install(smdp, ICCID)
        recording = Recording(lpa.channel)
        for name in ("get_eid", "get_euicc_info1", "get_euicc_info2", "get_profiles_info",
                     "get_euicc_configured_addresses", "get_rat", "list_notifications",
                     "retrieve_notifications_list", "enable_profile", "set_nickname", "set_default_dp_address",
                     "disable_profile", "remove_notification_from_list", "cancel_session", "get_euicc_challenge"):
            try:
                CALLS[name](recording)
            except EsimError:
                pass  # a refusal is an answer worth mutating too
        CALLS["delete_profile"](recording)
        yield recording.answers, pir


def test_every_mutated_answer_decodes_or_is_a_typed_error(recorded):
    answers, pir = recorded
    rng = random.Random(SEED)
    channel = Hostile(rng, answers)
    outcomes: collections.Counter = collections.Counter()
    untyped = []
    for number in range(CASES):
        name = rng.choice([*CALLS, "decode_installation_result"])
        try:
            if name == "decode_installation_result":
                es10.decode_installation_result(Hostile(rng, {b"": pir}).store_data(b""))
            else:
                CALLS[name](channel)
        except EsimError as error:
            outcomes[type(error).__name__] += 1
        except Exception as error:  # noqa: BLE001 - anything untyped is the finding
            untyped.append((number, name, f"{type(error).__name__}: {error}"))
        else:
            outcomes["value"] += 1
    print(f"ES10 decoder fuzz, seed {SEED}, {CASES} calls: {dict(sorted(outcomes.items()))}")
    assert not untyped, untyped[:10]
    assert outcomes["value"] > CASES // 20  # the unchanged answers still decode
