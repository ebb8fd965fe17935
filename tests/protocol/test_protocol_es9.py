"""ES9+/ES11 client against a local HTTPS server: the JSON binding, TLS trust that only the
configured CA grants, and every kind of bad answer mapped to its typed error."""
from __future__ import annotations

import base64
import json
import socket

import pytest

from sgp22 import codec, tlv
from sgp22.errors import (
    BadInputError,
    Es9FunctionError,
    HttpStatusError,
    ServerAddressUnresolvableError,
    ServerResponseError,
    ServerTimeoutError,
    ServerUnreachableError,
    SmdpAddressInvalidError,
    TlsError,
)
from sgp22.result_errors import (
    ConfirmationCodeMissingError,
    MatchingIdRefusedError,
    SmdpAddressRefusedError,
    TransactionUnknownError,
)
from sgp22.es9 import Es9Client, Es9Config, Es11Client, TransactionMismatchError
from sgp22.es9_types import parse_server_address

from tests.protocol.tls_test_server import Delay, GarbageTlsServer, ScriptedHttpsServer, make_pki

FQDN = "smdp.example.com"
TID = "0123456789ABCDEF0123456789ABCDEF"
ES9 = "/gsma/rsp2/es9plus/"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


SERVER_SIGNED1 = codec.encode("ServerSigned1", {
    "transactionId": bytes.fromhex(TID), "euiccChallenge": bytes(16), "serverAddress": FQDN, "serverChallenge": bytes(16)})
SIGNATURE = tlv.build(0x5F37, bytes(64))
PKID = tlv.build(0x04, bytes(20))
CERT = bytes.fromhex("3003020101")
METADATA = codec.encode("StoreMetadataRequest", {
    "iccid": bytes.fromhex("98400923000010000063"), "serviceProviderName": "Lab", "profileName": "P"})
BPP = tlv.build(0xBF36, tlv.build(0xBF23, b"") + tlv.build(0xA0, b"") + tlv.build(0xA1, b"") + tlv.build(0xA3, b""))
OK_HEADER = {"functionExecutionStatus": {"status": "Executed-Success"}}

INITIATE_OK = {
    "header": OK_HEADER, "transactionId": TID, "serverSigned1": b64(SERVER_SIGNED1), "serverSignature1": b64(SIGNATURE),
    "euiccCiPKIdToBeUsed": b64(PKID), "serverCertificate": b64(CERT),
}
AUTH_CLIENT_OK = {
    "header": OK_HEADER, "transactionId": TID, "profileMetadata": b64(METADATA),
    "smdpSigned2": b64(codec.encode("SmdpSigned2", {"transactionId": bytes.fromhex(TID), "ccRequiredFlag": False})),
    "smdpSignature2": b64(SIGNATURE), "smdpCertificate": b64(CERT),
}


def answer(body, status: int = 200, content_type: str = "application/json;charset=UTF-8"):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return (status, body, content_type)


def failed(subject: str, reason: str, message: str | None = None, status: str = "Failed") -> dict:
    data = {"subjectCode": subject, "reasonCode": reason}
    if message:
        data["message"] = message
    return {"header": {"functionExecutionStatus": {"status": status, "statusCodeData": data}}}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("es9-pki")
    return make_pki(directory, "lab", [FQDN]), make_pki(directory, "rogue", [FQDN])


@pytest.fixture(scope="module")
def server(pki):
    running = ScriptedHttpsServer(pki[0]).start()
    yield running
    running.stop()


@pytest.fixture
def smdp(server):
    server.answers.clear()
    server.requests.clear()
    return server


def config_for(server, pki_, **overrides) -> Es9Config:
    return Es9Config(ca_file=pki_.ca_file, connect_overrides={FQDN: f"127.0.0.1:{server.port}"}, **overrides)


@pytest.fixture
def client_config(server, pki):
    return config_for(server, pki[0], timeout=5)


# --- Success paths ----------------------------------------------------------------------------------


async def test_initiate_authentication_sends_the_es9_binding_and_parses_the_answer(smdp, client_config):
    smdp.answers[ES9 + "initiateAuthentication"] = answer(INITIATE_OK)
    async with Es9Client(FQDN, client_config) as client:
        result = await client.initiate_authentication(bytes(range(16)), bytes.fromhex("BF2000"))
    (request,) = smdp.requests
    assert request.path == ES9 + "initiateAuthentication"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-admin-protocol"] == "gsma/rsp/v2.2.0"
    assert request.headers["user-agent"] == "gsma-rsp-lpad"
    assert request.headers["host"] == FQDN  # the SM-DP+ name, though we connected to 127.0.0.1
    assert json.loads(request.body) == {"euiccChallenge": b64(bytes(range(16))), "euiccInfo1": "vyAA", "smdpAddress": FQDN}
    assert result.transaction_id == TID
    assert (result.server_signed1, result.server_signature1) == (SERVER_SIGNED1, SIGNATURE)
    assert (result.euicc_ci_pkid_to_be_used, result.server_certificate) == (PKID, CERT)
    assert result.server_authentication().server_signed1 == SERVER_SIGNED1


async def test_authenticate_client_get_bpp_notification_and_cancel(smdp, client_config):
    smdp.answers[ES9 + "authenticateClient"] = answer(AUTH_CLIENT_OK)
    smdp.answers[ES9 + "getBoundProfilePackage"] = answer({"header": OK_HEADER, "transactionId": TID.lower(), "boundProfilePackage": b64(BPP)})
    smdp.answers[ES9 + "handleNotification"] = (204, b"", "")
    smdp.answers[ES9 + "cancelSession"] = answer({"header": OK_HEADER, "transactionId": TID})
    async with Es9Client(FQDN, client_config) as client:
        auth = await client.authenticate_client(TID, bytes.fromhex("BF3800"))
        bpp = await client.get_bound_profile_package(TID, bytes.fromhex("BF2100"))
        assert await client.handle_notification(bytes.fromhex("BF3700")) is None
        assert await client.cancel_session(TID, bytes.fromhex("BF4100")) is None
    assert auth.profile_metadata == METADATA and auth.transaction_id == TID
    assert bpp.bound_profile_package == BPP and bpp.transaction_id == TID
    bodies = [json.loads(r.body) for r in smdp.requests]
    assert bodies == [
        {"transactionId": TID, "authenticateServerResponse": "vzgA"},
        {"transactionId": TID, "prepareDownloadResponse": "vyEA"},
        {"pendingNotification": "vzcA"},
        {"transactionId": TID, "cancelSessionResponse": "v0EA"},
    ]


@pytest.mark.parametrize(
    "response",
    [(204, b"", ""), (200, b"", ""), answer({"header": OK_HEADER}),
     answer({"header": {"functionExecutionStatus": {"status": "Executed-WithWarning", "statusCodeData": {"subjectCode": "8.1", "reasonCode": "1.1"}}}})],
    ids=["204", "200-empty", "200-success", "200-warning"],
)
async def test_handle_notification_accepts_an_empty_or_successful_answer(smdp, client_config, response):
    smdp.answers[ES9 + "handleNotification"] = response
    async with Es9Client(FQDN, client_config) as client:
        await client.handle_notification(bytes.fromhex("BF3700"))


async def test_server_address_with_port(smdp, pki):
    config = Es9Config(ca_file=pki[0].ca_file, connect_overrides={f"{FQDN}:8443": f"127.0.0.1:{smdp.port}"})
    smdp.answers[ES9 + "initiateAuthentication"] = answer(INITIATE_OK)
    async with Es9Client(f"{FQDN}:8443", config) as client:
        await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
    assert smdp.requests[0].headers["host"] == f"{FQDN}:8443"
    assert json.loads(smdp.requests[0].body)["smdpAddress"] == f"{FQDN}:8443"


# --- TLS: only the configured CA, and the SM-DP+ name -------------------------------------------------


async def test_certificate_from_another_ca_is_refused_even_if_ssl_cert_file_trusts_it(smdp, server, pki, monkeypatch):
    lab, rogue = pki
    # the environment trusts the server's CA; the configured CA is another one
    monkeypatch.setenv("SSL_CERT_FILE", str(lab.ca_file))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(lab.ca_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(lab.ca_file.parent))
    smdp.answers[ES9 + "initiateAuthentication"] = answer(INITIATE_OK)
    async with Es9Client(FQDN, config_for(server, rogue)) as client:
        with pytest.raises(TlsError) as raised:
            await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
    assert not raised.value.retryable
    assert smdp.requests == []


async def test_certificate_for_another_name_is_refused(smdp, server, pki):
    config = Es9Config(ca_file=pki[0].ca_file, connect_overrides={"other.example.com": f"127.0.0.1:{server.port}"})
    async with Es9Client("other.example.com", config) as client:
        with pytest.raises(TlsError, match="not trusted"):
            await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))


def test_missing_ca_file_is_a_configuration_error(tmp_path):
    with pytest.raises(BadInputError):
        Es9Client(FQDN, Es9Config(ca_file=tmp_path / "absent.pem"))


def test_unparsable_ca_file_is_a_configuration_error(tmp_path):
    (tmp_path / "bad.pem").write_text("not a certificate")
    with pytest.raises(BadInputError):
        Es9Client(FQDN, Es9Config(ca_file=tmp_path / "bad.pem"))


# --- Bad answers ------------------------------------------------------------------------------------


HTTP_ERRORS = [(500, True), (502, True), (503, True), (504, True), (429, True), (400, False), (401, False),
               (403, False), (404, False), (405, False), (301, False), (302, False), (201, False), (204, False)]


@pytest.mark.parametrize("status,retryable", HTTP_ERRORS)
async def test_http_status_other_than_200_is_an_http_status_error(smdp, client_config, status, retryable):
    smdp.answers[ES9 + "initiateAuthentication"] = answer(INITIATE_OK, status=status)
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(HttpStatusError) as raised:
            await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
    assert raised.value.status_code == status
    assert raised.value.retryable is retryable


@pytest.mark.parametrize("status", [500, 503, 400, 404])
async def test_handle_notification_http_errors(smdp, client_config, status):
    smdp.answers[ES9 + "handleNotification"] = answer({"header": OK_HEADER}, status=status)
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(HttpStatusError):
            await client.handle_notification(bytes.fromhex("BF3700"))


NOT_JSON = {
    "html": (b"<html><body>Bad Gateway</body></html>", "text/html"),
    "empty": (b"", "application/json"),
    "truncated": (b'{"header": {"functionExecutionStatus"', "application/json"),
    "not-utf8": (b"\xff\xfe\x00{", "application/json"),
    "json-null": (b"null", "application/json"),
    "json-list": (b"[]", "application/json"),
    "json-number": (b"42", "application/json"),
    "json-string": (b'"Executed-Success"', "application/json"),
}


@pytest.mark.parametrize("name", list(NOT_JSON))
async def test_answer_that_is_not_a_json_object_is_a_server_response_error(smdp, client_config, name):
    body, content_type = NOT_JSON[name]
    smdp.answers[ES9 + "initiateAuthentication"] = (200, body, content_type)
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(ServerResponseError):
            await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))


def _without(key: str) -> dict:
    return {k: v for k, v in INITIATE_OK.items() if k != key}


WRONG_SHAPE = {
    "no-header": _without("header"),
    "header-not-object": {**INITIATE_OK, "header": "ok"},
    "no-status-block": {**INITIATE_OK, "header": {}},
    "status-missing": {**INITIATE_OK, "header": {"functionExecutionStatus": {}}},
    "status-not-string": {**INITIATE_OK, "header": {"functionExecutionStatus": {"status": 0}}},
    "status-unknown": {**INITIATE_OK, "header": {"functionExecutionStatus": {"status": "Done"}}},
    "no-transaction-id": _without("transactionId"),
    "transaction-id-not-hex": {**INITIATE_OK, "transactionId": "XYZ"},
    "transaction-id-17-bytes": {**INITIATE_OK, "transactionId": "00" * 17},
    "transaction-id-number": {**INITIATE_OK, "transactionId": 12},
    "no-server-signed1": _without("serverSigned1"),
    "server-signed1-not-base64": {**INITIATE_OK, "serverSigned1": "@@@@"},
    "server-signed1-wrong-tag": {**INITIATE_OK, "serverSigned1": b64(SIGNATURE)},
    "server-signed1-truncated": {**INITIATE_OK, "serverSigned1": b64(SERVER_SIGNED1[:-3])},
    "server-signed1-trailing": {**INITIATE_OK, "serverSigned1": b64(SERVER_SIGNED1 + b"\x00")},
    "signature-wrong-tag": {**INITIATE_OK, "serverSignature1": b64(PKID)},
    "pkid-empty": {**INITIATE_OK, "euiccCiPKIdToBeUsed": ""},
    "certificate-list": {**INITIATE_OK, "serverCertificate": [b64(CERT)]},
}


@pytest.mark.parametrize("name", list(WRONG_SHAPE))
async def test_answer_of_the_wrong_shape_is_a_server_response_error(smdp, client_config, name):
    smdp.answers[ES9 + "initiateAuthentication"] = answer(WRONG_SHAPE[name])
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(ServerResponseError):
            await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))


AUTH_CLIENT_WRONG = {
    "metadata-wrong-tag": {**AUTH_CLIENT_OK, "profileMetadata": b64(SIGNATURE)},
    "smdp-signed2-missing": {k: v for k, v in AUTH_CLIENT_OK.items() if k != "smdpSigned2"},
    "certificate-garbage": {**AUTH_CLIENT_OK, "smdpCertificate": b64(b"\x30\x82")},
}


@pytest.mark.parametrize("name", list(AUTH_CLIENT_WRONG))
async def test_authenticate_client_of_the_wrong_shape(smdp, client_config, name):
    smdp.answers[ES9 + "authenticateClient"] = answer(AUTH_CLIENT_WRONG[name])
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(ServerResponseError):
            await client.authenticate_client(TID, bytes.fromhex("BF3800"))


async def test_answer_for_another_transaction_is_refused(smdp, client_config):
    smdp.answers[ES9 + "getBoundProfilePackage"] = answer({"header": OK_HEADER, "transactionId": "AA" * 16, "boundProfilePackage": b64(BPP)})
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(TransactionMismatchError):
            await client.get_bound_profile_package(TID, bytes.fromhex("BF2100"))


async def test_bpp_that_is_not_a_bpp_is_refused(smdp, client_config):
    smdp.answers[ES9 + "getBoundProfilePackage"] = answer({"header": OK_HEADER, "transactionId": TID, "boundProfilePackage": b64(METADATA)})
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(ServerResponseError):
            await client.get_bound_profile_package(TID, bytes.fromhex("BF2100"))


# --- Failed statuses ----------------------------------------------------------------------------------


FAILURES = [
    ("initiateAuthentication", "8.8.1", "3.8", SmdpAddressRefusedError),
    ("initiateAuthentication", "8.8.2", "3.1", Es9FunctionError),
    ("authenticateClient", "8.2.6", "3.8", MatchingIdRefusedError),
    ("authenticateClient", "8.10.1", "3.9", TransactionUnknownError),
    ("authenticateClient", "8.1", "6.1", Es9FunctionError),
    ("getBoundProfilePackage", "8.2.7", "2.2", ConfirmationCodeMissingError),
    ("getBoundProfilePackage", "8.2.7", "3.8", Es9FunctionError),
    ("getBoundProfilePackage", "8.2", "3.7", Es9FunctionError),
    ("handleNotification", "8.1", "6.1", Es9FunctionError),
    ("cancelSession", "8.8", "3.10", Es9FunctionError),
    ("cancelSession", "9.9", "4.2", Es9FunctionError),
]


async def _call(client: Es9Client, function: str):
    if function == "initiateAuthentication":
        return await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
    if function == "authenticateClient":
        return await client.authenticate_client(TID, bytes.fromhex("BF3800"))
    if function == "getBoundProfilePackage":
        return await client.get_bound_profile_package(TID, bytes.fromhex("BF2100"))
    if function == "handleNotification":
        return await client.handle_notification(bytes.fromhex("BF3700"))
    return await client.cancel_session(TID, bytes.fromhex("BF4100"))


@pytest.mark.parametrize("function,subject,reason,error_class", FAILURES)
async def test_failed_status_raises_with_subject_and_reason(smdp, client_config, function, subject, reason, error_class):
    smdp.answers[ES9 + function] = answer(failed(subject, reason, "refused by test"))
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(error_class) as raised:
            await _call(client, function)
    error = raised.value
    assert isinstance(error, Es9FunctionError)
    assert (error.function, error.subject_code, error.reason_code) == (function, subject, reason)
    assert error.kind == f"es9.{subject}/{reason}"
    assert "refused by test" in error.message


@pytest.mark.parametrize("status", [400, 403, 500])
async def test_failed_status_sent_with_an_http_error_keeps_its_codes(smdp, client_config, status):
    smdp.answers[ES9 + "authenticateClient"] = answer(failed("8.2.6", "3.8"), status=status)
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(MatchingIdRefusedError):
            await client.authenticate_client(TID, bytes.fromhex("BF3800"))


async def test_failed_without_status_code_data_is_still_a_function_error(smdp, client_config):
    smdp.answers[ES9 + "initiateAuthentication"] = answer({"header": {"functionExecutionStatus": {"status": "Failed"}}})
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(Es9FunctionError):
            await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))


async def test_expired_status_is_a_function_error(smdp, client_config):
    smdp.answers[ES9 + "authenticateClient"] = answer(failed("8.2", "4.10", status="Expired"))
    async with Es9Client(FQDN, client_config) as client:
        with pytest.raises(Es9FunctionError, match="Expired"):
            await client.authenticate_client(TID, bytes.fromhex("BF3800"))


async def test_a_server_echoing_the_matching_id_does_not_leak_it(smdp, client_config):
    secret = "MATCHING-ID-SECRET-0042"
    smdp.answers[ES9 + "authenticateClient"] = answer(failed("8.2.6", "3.8", f"matchingId {secret} unknown"))
    async with Es9Client(FQDN, client_config, secrets=[secret]) as client:
        with pytest.raises(MatchingIdRefusedError) as raised:
            await client.authenticate_client(TID, bytes.fromhex("BF3800"))
    assert secret not in str(raised.value)
    assert "MATC…(23)" in str(raised.value)


# --- Network failures ------------------------------------------------------------------------------------


async def test_garbage_instead_of_http_is_a_server_response_error(pki):
    garbage = GarbageTlsServer(pki[0]).start()
    try:
        config = Es9Config(ca_file=pki[0].ca_file, connect_overrides={FQDN: f"127.0.0.1:{garbage.port}"}, timeout=5)
        async with Es9Client(FQDN, config) as client:
            with pytest.raises(ServerResponseError):
                await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
    finally:
        garbage.stop()


async def test_nobody_listening_is_server_unreachable_and_retryable(pki):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = Es9Config(ca_file=pki[0].ca_file, connect_overrides={FQDN: f"127.0.0.1:{port}"})
    async with Es9Client(FQDN, config) as client:
        with pytest.raises(ServerUnreachableError) as raised:
            await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
    assert raised.value.retryable


async def test_unresolvable_host_is_its_own_error(pki):
    async with Es9Client("smdp.nonexistent.invalid", Es9Config(ca_file=pki[0].ca_file)) as client:
        with pytest.raises(ServerAddressUnresolvableError):
            await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))


async def test_server_that_does_not_answer_in_time(smdp, server, pki):
    smdp.answers[ES9 + "initiateAuthentication"] = Delay(1)
    async with Es9Client(FQDN, config_for(server, pki[0], timeout=0.2)) as client:
        with pytest.raises(ServerTimeoutError) as raised:
            await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
    assert raised.value.retryable


# --- Addresses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address,host,port",
    [("smdp.example.com", "smdp.example.com", 443), ("localhost:8443", "localhost", 8443),
     ("127.0.0.1", "127.0.0.1", 443), ("[::1]:9443", "::1", 9443), ("SMDP.GSMA.COM", "smdp.gsma.com", 443)],
)
def test_server_addresses(address, host, port):
    parsed = parse_server_address(address)
    assert (parsed.host, parsed.port, parsed.text) == (host, port, address)


@pytest.mark.parametrize(
    "address",
    ["", " smdp.example.com", "https://smdp.example.com", "smdp.example.com/path", "smdp.example.com:99999",
     "smdp.example.com:port", "-smdp.example.com", "smdp..example.com", "user@smdp.example.com", "smdp example.com",
     "smdp.example.com?x=1", "smdp_example.com", None, 42],
)
def test_bad_server_addresses_are_refused(address):
    with pytest.raises(SmdpAddressInvalidError):
        parse_server_address(address)


# --- ES11 ---------------------------------------------------------------------------------------------


async def test_es11_event_entries_as_objects_or_der(smdp, client_config):
    der = codec.encode("EventEntries", {"eventId": "EVENT-2", "rspServerAddress": "smdp2.example.com"})
    smdp.answers["/gsma/rsp2/es11/initiateAuthentication"] = answer(INITIATE_OK)
    smdp.answers["/gsma/rsp2/es11/authenticateClient"] = answer({
        "header": OK_HEADER, "transactionId": TID,
        "eventEntries": [{"eventId": "EVENT-1", "rspServerAddress": FQDN}, b64(der)],
    })
    async with Es11Client(FQDN, client_config) as client:
        await client.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
        result = await client.authenticate_client(TID, bytes.fromhex("BF3800"))
    assert [(e.event_id, e.rsp_server_address) for e in result.events] == [("EVENT-1", FQDN), ("EVENT-2", "smdp2.example.com")]
    assert [r.path for r in smdp.requests] == ["/gsma/rsp2/es11/initiateAuthentication", "/gsma/rsp2/es11/authenticateClient"]
    assert "EVENT-1" not in repr(result.events[0])


@pytest.mark.parametrize(
    "entries",
    ["EVENT-1", [42], [{"eventId": "E"}], [{"rspServerAddress": FQDN}], ["@@notbase64"], [b64(b"\x30\x03\x0c\x01A")]],
)
async def test_es11_malformed_event_entries(smdp, client_config, entries):
    smdp.answers["/gsma/rsp2/es11/authenticateClient"] = answer({"header": OK_HEADER, "eventEntries": entries})
    async with Es11Client(FQDN, client_config) as client:
        with pytest.raises(ServerResponseError):
            await client.authenticate_client(TID, bytes.fromhex("BF3800"))


async def test_es11_without_events_is_an_empty_list(smdp, client_config):
    smdp.answers["/gsma/rsp2/es11/authenticateClient"] = answer({"header": OK_HEADER, "eventEntries": []})
    async with Es11Client(FQDN, client_config) as client:
        assert (await client.authenticate_client(TID, bytes.fromhex("BF3800"))).events == []
