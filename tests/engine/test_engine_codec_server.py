"""``esimflow codec-server``: operators holding the key read histories decrypted in the Temporal
UI and CLI, with matching IDs and confirmation codes still masked; nobody else reads anything."""
from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import httpx
from temporalio.api.common.v1 import Payload

from esimflow import contract
from esimflow.codec import AesGcmCodec, Keyring
from esimflow.codec_server import create_app, mask_secrets
from tests.conftest import TEST_PAYLOAD_KEY, temporal_tool

EID = "89049032000000000000000000000163"
MATCHING_ID = "MATCH-7Q2K-9ZX4-SECRET"
CONFIRMATION_CODE = "73915528"
ACTIVATION_CODE = f"LPA:1$smdp.lab.example:8443${MATCHING_ID}"
TOKEN = "Bearer operator-token-5b1f"
UI_ORIGIN = "http://localhost:8233"
CODEC = AesGcmCodec(Keyring(TEST_PAYLOAD_KEY))


def json_payload(value) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


def as_json(payload: Payload) -> dict:
    return {"metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
            "data": base64.b64encode(payload.data).decode()}


def from_json(document: dict) -> Payload:
    return Payload(metadata={k: base64.b64decode(v) for k, v in document.get("metadata", {}).items()},
                   data=base64.b64decode(document.get("data", "")))


@pytest.fixture
async def http():
    app = create_app(CODEC, authorizations=[TOKEN], cors_origins=[UI_ORIGIN])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as client:
        yield client


async def test_decode_shows_the_payload_with_its_secrets_masked(http):
    download = {"eid": EID, "activation_code": ACTIVATION_CODE, "confirmation_code": CONFIRMATION_CODE}
    sealed = CODEC.encrypt(json_payload({"operation": "DownloadProfile", "arguments": download}))
    answer = await http.post("/decode", json={"payloads": [as_json(sealed)]},
                       headers={"Authorization": TOKEN, "X-Namespace": "default"})
    assert answer.status_code == 200
    (decoded,) = [from_json(p) for p in answer.json()["payloads"]]
    shown = json.loads(decoded.data)
    assert shown["arguments"]["eid"] == EID  # decrypted
    text = decoded.data.decode()
    assert MATCHING_ID not in text and CONFIRMATION_CODE not in text
    assert shown["arguments"]["activation_code"] == "LPA:1$smdp.lab.example:8443$MATC…(22)"


def test_secrets_are_masked_wherever_they_appear():
    masked = mask_secrets({
        "note": f"scanned {ACTIVATION_CODE} at the counter",
        "steps": [{"matching_id": MATCHING_ID, "code": CONFIRMATION_CODE}],
        "authenticate_server_response": "bf3882" + "00" * 300,
        "retries": 3,
    })
    text = json.dumps(masked)
    assert MATCHING_ID not in text and CONFIRMATION_CODE not in text
    assert "smdp.lab.example:8443$MATC…(22)" in masked["note"]  # the SM-DP+ address stays readable
    assert masked["authenticate_server_response"] == "BF38…(303 bytes, holds the matching ID)"
    assert masked["retries"] == 3


async def test_encode_then_decode_round_trips(http):
    plain = json_payload({"eid": EID})
    encoded = await http.post("/encode", json={"payloads": [as_json(plain)]}, headers={"Authorization": TOKEN})
    (sealed,) = [from_json(p) for p in encoded.json()["payloads"]]
    assert sealed.metadata["encoding"] == b"binary/encrypted" and EID.encode() not in sealed.data
    assert CODEC.decrypt(sealed) == plain


async def test_without_the_right_authorization_nothing_is_decoded(http):
    sealed = CODEC.encrypt(json_payload({"eid": EID}))
    for headers in ({}, {"Authorization": "Bearer guessed"}, {"Authorization": TOKEN + "x"}):
        answer = await http.post("/decode", json={"payloads": [as_json(sealed)]}, headers=headers)
        assert answer.status_code == 401 and EID not in answer.text


async def test_the_ui_preflight_is_answered_for_its_origin_only(http):
    asked = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type,x-namespace"}
    answer = await http.options("/decode", headers={"Origin": UI_ORIGIN, **asked})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == UI_ORIGIN
    assert answer.headers["access-control-allow-credentials"] == "true"
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert all(name in allowed for name in ("authorization", "content-type", "x-namespace"))
    assert (await http.options("/decode", headers={"Origin": "http://evil.example", **asked})).status_code == 400
    posted = await http.post("/decode", json={"payloads": []}, headers={"Origin": UI_ORIGIN, "Authorization": TOKEN})
    assert posted.headers["access-control-allow-origin"] == UI_ORIGIN


async def test_a_payload_under_another_key_comes_back_as_it_was(http):
    foreign = AesGcmCodec(Keyring(bytes(range(64, 96)))).encrypt(json_payload({"eid": EID}))
    answer = await http.post("/decode", json={"payloads": [as_json(foreign)]}, headers={"Authorization": TOKEN})
    assert [from_json(p) for p in answer.json()["payloads"]] == [foreign]


# --- the real verb, read by the real `temporal` CLI ----------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def codec_server(tmp_path):
    auth_file = tmp_path / "codec-auth"
    auth_file.write_text(f"# operators\n{TOKEN}\n")
    port = free_port()
    env = {**os.environ, "ESIMFLOW_CODEC_KEY": TEST_PAYLOAD_KEY.hex()}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "esimflow"), "codec-server", "--port", str(port),
         "--auth-file", str(auth_file), "--cors-origin", UI_ORIGIN], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"codec server did not start: {process.stderr.read().decode()}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def temporal_show(address: str, workflow_id: str, *codec_flags: str) -> tuple[Payload | None, str]:
    """The workflow's input as ``temporal workflow show --output json`` prints it, and all it printed."""
    done = subprocess.run([temporal_tool("temporal"), "workflow", "show", "--workflow-id", workflow_id,
                           "--address", address, "--output", "json", *codec_flags],
                          capture_output=True, text=True, timeout=60)
    try:
        started = json.loads(done.stdout)["events"][0]["workflowExecutionStartedEventAttributes"]
    except (ValueError, KeyError, IndexError):
        return None, done.stdout + done.stderr
    return from_json(started["input"]["payloads"][0]), done.stdout + done.stderr


@pytest.mark.temporal
async def test_the_temporal_cli_reads_a_history_through_the_codec_server(
        temporal_dev_server, dev_client, codec_server):
    workflow_id = f"codec-server-{uuid.uuid4().hex[:8]}"
    download = contract.DownloadProfileInput(EID, activation_code=ACTIVATION_CODE, confirmation_code=CONFIRMATION_CODE)
    # no worker polls this queue: the input simply stays in the history for the operator to read
    handle = await dev_client.start_workflow(contract.Operation.DOWNLOAD_PROFILE, download, id=workflow_id,
                                             task_queue=f"nobody-{workflow_id}")
    try:
        sealed, _ = temporal_show(temporal_dev_server.address, workflow_id)
        assert sealed.metadata["encoding"] == b"binary/encrypted" and EID.encode() not in sealed.data  # control

        shown, printed = temporal_show(temporal_dev_server.address, workflow_id,
                                       "--codec-endpoint", codec_server, "--codec-auth", TOKEN)
        assert shown.metadata["encoding"] == b"json/plain"
        value = json.loads(shown.data)
        assert value["eid"] == EID and value["consent_timeout_seconds"] == download.consent_timeout_seconds
        assert value["activation_code"] == "LPA:1$smdp.lab.example:8443$MATC…(22)"
        assert MATCHING_ID.encode() not in shown.data and CONFIRMATION_CODE.encode() not in shown.data
        assert MATCHING_ID not in printed

        refused, printed = temporal_show(temporal_dev_server.address, workflow_id,
                                         "--codec-endpoint", codec_server, "--codec-auth", "Bearer guessed",
                                         "--command-timeout", "3s")
        assert refused is None or refused.metadata["encoding"] == b"binary/encrypted"  # nothing decoded
    finally:
        await handle.terminate("test ended")
