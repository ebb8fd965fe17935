"""Identifiers under hostile input: generated activation codes, SM-DP+ addresses, EIDs and ICCIDs
(fields swapped, cut, repeated, huge ports, IPv6 brackets, control and non-ASCII characters,
thousands of characters) each end in the parser's typed ``BadInputError`` or a value, and a
matching ID planted in any field never comes back whole in a message, ``str``, ``repr`` or JSON,
in plain text, hex or base64.

Seeded and reproducible (``SEED``); 2,000 cases in about a second. Outcomes of the recorded run
(seed 4400): ActivationCodeInvalidError 829, SmdpAddressInvalidError 560, BadInputError
(EID/ICCID) 551, parsed 60 (22 activation codes, 38 addresses); untyped 0, leaks 0.
"""
from __future__ import annotations

import base64
import collections
import random

from sgp22.errors import BadInputError
from sgp22.es9_types import parse_server_address
from sgp22.activation_code import ActivationCode, check_smdp_address
from sgp22.identifiers import Eid, Iccid

SEED = 4400
CASES = 2000
SECRET = "K2QX-SECRET-MATCH-77Q"


def shows(secret: str, text: str) -> bool:
    """``secret`` whole in ``text``: plain, hex (either case) or base64."""
    raw = secret.encode()
    forms = (secret, raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(), base64.b64encode(raw).decode()[:-2])
    return any(form in text for form in forms)


def _field(rng: random.Random) -> str:
    return rng.choice([
        "smdp.example.com", "localhost:8443", "[::1]:8443", "10.0.0.1:65535", "", "1", "2.999.10", "$",
        "smdp.example.com:" + "9" * rng.choice([5, 6, 4301, 5000]), "a" * rng.choice([63, 64, 254]),
        "https://smdp.example.com", "smdp_1.example.com", "\u00e9", "\x00", " ", "\t", "MATCH-1", "LPA:1",
        "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(1, 12))),
    ])


def _activation_code(rng: random.Random) -> str:
    fields = [rng.choice(["1", "2", "", "LPA:1"]), "smdp.example.com", "MATCH-1"]
    fields += rng.sample(["", "2.999.10", "1"], rng.randrange(0, 3))
    for _ in range(rng.randrange(0, 3)):
        fields[rng.randrange(len(fields))] = _field(rng)
    fields[rng.randrange(len(fields))] = rng.choice([
        SECRET, SECRET, SECRET + rng.choice([" ", "$", "\u00e9"]), "smdp.example.com:" + SECRET, f"[{SECRET}]",
        "https://" + SECRET, "smdp.example.com/" + SECRET, "smdp.example.com:" + SECRET + ":1"])
    if rng.random() < 0.2:
        fields.insert(rng.randrange(len(fields) + 1), _field(rng))
    text = rng.choice(["LPA:", "lpa:", "", "LPA:LPA:"]) + "$".join(fields)
    if rng.random() < 0.1:
        text = text * rng.choice([2, 30])
    return text


def test_every_generated_identifier_is_parsed_or_refused_with_a_typed_error_that_keeps_secrets():
    rng = random.Random(SEED)
    outcomes: collections.Counter = collections.Counter()
    problems = []
    for number in range(CASES):
        kind = rng.choice(["ac", "ac", "ac", "address", "server", "eid", "iccid"])
        text = _activation_code(rng) if kind == "ac" else rng.choice([SECRET, _field(rng), _activation_code(rng)])
        if kind in ("eid", "iccid") and rng.random() < 0.5:
            text = "".join(rng.choice("0123456789F ") for _ in range(rng.choice([19, 20, 32, 33])))
        parse = {"ac": ActivationCode.parse, "address": check_smdp_address, "server": parse_server_address,
                 "eid": Eid.parse, "iccid": Iccid.parse}[kind]
        try:
            value = parse(text)
        except BadInputError as error:
            outcomes[type(error).__name__] += 1
            said = f"{error} {error.message} {error.to_dict()}"
        except Exception as error:  # noqa: BLE001 - anything untyped is the finding
            problems.append((number, kind, text[:80], f"untyped {type(error).__name__}: {error}"))
            continue
        else:
            outcomes[f"parsed {kind}"] += 1
            said = f"{value} {value!r}" + (f" {value.to_json_dict()}" if isinstance(value, ActivationCode) else "")
            if kind in ("address", "server"):
                said = ""  # an address that parsed is an address, shown as given
        if shows(SECRET, said):
            problems.append((number, kind, text[:80], said[:200]))
    print(f"identifier fuzz, seed {SEED}, {CASES} cases: {dict(sorted(outcomes.items()))}")
    assert not problems, problems[:10]


def test_the_reported_swapped_fields_never_print_the_matching_id():
    for text in (f"LPA:1${SECRET}$smdp.example.com", "LPA:1$ABCD-1234-EFGH$smdp.example.com",
                 f"LPA:1$smdp.example.com$MID${SECRET}", f"LPA:1$smdp.example.com$MID$$${SECRET}",
                 f"LPA:{SECRET}$smdp.example.com$MID", f"LPA:1$smdp.example.com:{SECRET}$MID",
                 f"LPA:1$[{SECRET}]$MID", f"LPA:1$https://{SECRET}$MID", SECRET):
        try:
            ActivationCode.parse(text)
        except BadInputError as error:
            assert not shows(SECRET, error.message) and "ABCD-1234-EFGH" not in error.message, error.message
        else:
            raise AssertionError(f"{text!r} parsed")


def test_a_port_of_thousands_of_digits_is_a_port_error():
    for address in ("smdp.example.com:" + "9" * 4301, "[::1]:" + "1" * 10_000):
        try:
            check_smdp_address(address)
        except BadInputError as error:
            assert error.kind == "input.smdp_address.port" and len(error.message) < 200
        else:
            raise AssertionError("accepted")
