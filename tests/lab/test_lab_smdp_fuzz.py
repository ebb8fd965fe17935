"""The lab SM-DP+ under hostile requests: every ES9+ and ES11 function and every admin endpoint
(the SM-DS on its own port) gets bodies a careless or malicious client sends (fields of the wrong type, base64 of garbage
DER, valid DER in the wrong field, deep nesting, huge strings, wrong Content-Type or protocol
header, not JSON at all). Each ends in an ES9+ Failed answer, an HTTP 4xx, or a correct answer;
never an HTTP 500, never a dropped connection, and a valid request still works afterwards.

Seeded and reproducible (``SEED``); 480 cases in about five seconds. Outcomes of the recorded
run: ES9+/ES11 (seed 3300, 240 cases) HTTP 200 Failed 159, HTTP 400 Failed 80, HTTP 200
Executed-Success 1; admin (seed 3301, 240 cases) 404 83, 400 58, 200 56, 405 40, 307 3; HTTP
500 0, dropped connections 0.
"""
from __future__ import annotations

import base64
import collections
import json
import os
import random

import httpx

from sgp22 import tlv

from tests.lab.test_lab_smdp_kit import LPA_HEADERS, Download, SoftEuicc, b64, iccid_for, status_of

SEED = 3300
CASES = 240
ES9_FUNCTIONS = {
    "/gsma/rsp2/es9plus/initiateAuthentication": ("euiccChallenge", "euiccInfo1", "smdpAddress"),
    "/gsma/rsp2/es9plus/authenticateClient": ("transactionId", "authenticateServerResponse"),
    "/gsma/rsp2/es9plus/getBoundProfilePackage": ("transactionId", "prepareDownloadResponse"),
    "/gsma/rsp2/es9plus/handleNotification": ("pendingNotification",),
    "/gsma/rsp2/es9plus/cancelSession": ("transactionId", "cancelSessionResponse"),
    "/gsma/rsp2/es11/initiateAuthentication": ("euiccChallenge", "euiccInfo1", "smdpAddress"),
    "/gsma/rsp2/es11/authenticateClient": ("transactionId", "authenticateServerResponse"),
}
DER_SAMPLES = [
    bytes.fromhex("BF2000"), bytes.fromhex("BF3800"), bytes.fromhex("BF2100"), bytes.fromhex("BF3700"),
    bytes.fromhex("BF4100"), bytes.fromhex("3000"), bytes.fromhex("BF2F00"), bytes.fromhex("BF3884FFFFFFFF"),
    tlv.build(0xBF37, tlv.build(0xBF27, b"\x80\x10" + bytes(16))),
    tlv.build(0xBF38, tlv.build(0xA0, tlv.build(0x30, b"\x80\x10" + bytes(16)))),
]


def _value(rng: random.Random, field: str, valid: dict, depth: int = 0):
    choice = rng.randrange(12)
    if choice == 0:
        return valid.get(field)
    if choice == 1:
        return rng.choice([None, True, 0, -1, 2**64, 1e308, "", " "])
    if choice == 2:
        return b64(rng.choice(DER_SAMPLES))
    if choice == 3:
        return b64(os.urandom(rng.randrange(0, 300)))
    if choice == 4:
        return "!!not base64**" + "=" * rng.randrange(4)
    if choice == 5:
        return "A" * rng.choice([1, 1000, 200_000])
    if choice == 6 and depth < 3:
        return [_value(rng, field, valid, depth + 1) for _ in range(rng.randrange(3))]
    if choice == 7 and depth < 3:
        return {"x": _value(rng, field, valid, depth + 1)}
    if choice == 8:
        return rng.choice(["00", "0" * 31, "G" * 32, "00" * 17, valid.get("transactionId", "00")])
    if choice == 9:
        return rng.choice(["smdp.example.com", "localhost:1", "", "a" * 300, "\u00e9\u0000"])
    if choice == 10 and field not in ("smdpAddress", "transactionId") and valid.get(field):
        return b64(base64.b64decode(valid[field])[:-rng.randrange(1, 20)])  # valid DER cut short
    return "\u202e" + "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 20)))


def _body(rng: random.Random, fields: tuple[str, ...], valid: dict) -> tuple[bytes, dict]:
    """Raw body bytes and extra headers of one hostile request."""
    headers = {}
    family = rng.choices(["fields", "deep", "not_json", "wrong_shape", "headers"], weights=[60, 8, 10, 12, 10])[0]
    if family == "fields":
        body = {name: _value(rng, name, valid) for name in fields if rng.random() < 0.9}
        if rng.random() < 0.2:
            body[rng.choice(["header", "extra", "__proto__"])] = _value(rng, "x", valid)
        return json.dumps(body).encode(), headers
    if family == "deep":
        depth = rng.choice([2_000, 50_000])
        return ('{"a":' * depth + "1" + "}" * depth).encode() if rng.random() < 0.5 else (
            "[" * depth + "]" * depth).encode(), headers
    if family == "not_json":
        return rng.choice([b"", b"\xff\xfe\x00", b"{", b'{"a": 1', b"null", os.urandom(64)]), headers
    if family == "wrong_shape":
        return json.dumps(rng.choice([[], "text", 42, None, [{"transactionId": "00"}]])).encode(), headers
    headers = rng.choice([{"Content-Type": "text/plain"}, {"X-Admin-Protocol": "gsma/rsp/v1.0"},
                          {"Content-Type": "application/jsonx"}, {"X-Admin-Protocol": ""},
                          {"Content-Type": "application/json; charset=utf-16"}])
    return json.dumps({name: valid.get(name) for name in fields}).encode(), headers


def _admin_case(rng: random.Random) -> tuple[str, str, bytes]:
    iccid = rng.choice([iccid_for(8000 + rng.randrange(50)), "1234", "", "../..", "%00", "8" * 25, "A" * 500])
    method, path = rng.choice([
        ("GET", ""), ("GET", "/profiles"), ("GET", f"/profiles?status={rng.choice(['x', 'AVAILABLE', '', '%ff'])}"),
        ("POST", "/profiles"), ("GET", f"/profiles/{iccid}"), ("GET", f"/profiles/{iccid}/history"),
        ("GET", f"/profiles/{iccid}/activation-code"),
        ("POST", f"/profiles/{iccid}/{rng.choice(['expire', 'cancel', 'remove', 'release', 'hold', 'reissue', 'x'])}"),
        ("GET", "/faults"), ("POST", "/faults"), ("DELETE", f"/faults/{rng.randrange(-1, 2**40)}"),
        ("PUT", "/profiles"), ("POST", f"/faults/{rng.randrange(5)}"),
    ])
    values = [iccid_for(8000 + rng.randrange(50)), "x" * 300, None, 5, True, [], {}, "ok", -1, 2**63]
    body = {key: rng.choice(values) for key in rng.sample(
        ["iccid", "matchingId", "confirmationCode", "eid", "profileClass", "ppr1", "released", "size", "reason",
         "ccRetryLimit", "endpoint", "kind", "status", "seconds", "count", "probability", "after", "colour"],
        rng.randrange(0, 6))}
    raw = rng.choice([json.dumps(body).encode(), b"[" * 5000 + b"]" * 5000, b"not json", b"", b"null"])
    return method, path, raw


def test_hostile_es9_and_es11_requests_get_an_answer_never_a_500(lpa, smdp):
    euicc = SoftEuicc.from_dir(smdp.identities_dir)
    download = Download(lpa, euicc)
    assert status_of(download.initiate_authentication()) == "Executed-Success"
    valid = {
        "euiccChallenge": b64(os.urandom(16)), "euiccInfo1": b64(euicc.info1()), "smdpAddress": smdp.address,
        "transactionId": download.initiate["transactionId"],
        "authenticateServerResponse": b64(euicc.authenticate_server_response(download.initiate)),
        "prepareDownloadResponse": b64(bytes.fromhex("BF2100")), "pendingNotification": b64(bytes.fromhex("BF3700")),
        "cancelSessionResponse": b64(bytes.fromhex("BF4100")),
    }
    rng = random.Random(SEED)
    outcomes: collections.Counter = collections.Counter()
    for number in range(CASES):
        path, fields = rng.choice(list(ES9_FUNCTIONS.items()))
        raw, headers = _body(rng, fields, valid)
        port, host = (smdp.smds_port, smdp.smds_address) if "/es11/" in path else (smdp.port, smdp.address)
        response = lpa.http.post(f"https://127.0.0.1:{port}{path}", content=raw,
                                 headers={**LPA_HEADERS, "Host": host, **headers},
                                 extensions={"sni_hostname": smdp.fqdn})
        assert response.status_code != 500, (number, path, raw[:200], response.text[:300])
        if response.status_code == 204:
            outcomes["204"] += 1
            continue
        answer = response.json()
        status = answer["header"]["functionExecutionStatus"]["status"]
        assert response.status_code in (200, 400) and status in ("Failed", "Executed-Success"), (number, answer)
        outcomes[f"{response.status_code} {status}"] += 1
    print(f"lab SM-DP+ ES9+/ES11 fuzz, seed {SEED}, {CASES} cases: {dict(sorted(outcomes.items()))}")
    assert status_of(Download(lpa, euicc).initiate_authentication()) == "Executed-Success"


def test_hostile_admin_requests_get_a_4xx_or_an_answer_never_a_500(lpa, smdp):
    rng = random.Random(SEED + 1)
    outcomes: collections.Counter = collections.Counter()
    headers = {"Host": smdp.address, "Authorization": f"Bearer {smdp.admin_token}", "Content-Type": "application/json"}
    for number in range(CASES):
        method, path, raw = _admin_case(rng)
        try:
            response = lpa.http.request(method, f"https://127.0.0.1:{smdp.admin_port}/lab/admin{path}", content=raw,
                                        headers=headers, extensions={"sni_hostname": smdp.fqdn})
        except httpx.HTTPError as error:
            raise AssertionError(f"case {number} {method} {path}: connection dropped ({error!r})") from None
        assert response.status_code < 500, (number, method, path, raw[:200], response.text[:300])
        outcomes[str(response.status_code)] += 1
    print(f"lab SM-DP+ admin fuzz, seed {SEED + 1}, {CASES} cases: {dict(sorted(outcomes.items()))}")
    smdp.clear_faults()
    assert lpa.admin("GET", "").status_code == 200
