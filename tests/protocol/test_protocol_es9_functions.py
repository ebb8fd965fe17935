"""The ES9+/ES11 binding table (sgp22.es9_functions) is the notes' section 3, and the client and
the lab SM-DP+ both follow it: the lab serves exactly its functions, the client sends exactly
its request fields, and what the lab encodes the client reads back."""
from __future__ import annotations

import base64

import pytest

from sgp22 import codec, es9, tlv
from sgp22.errors import BadInputError
from sgp22.es9_functions import ADMIN_PROTOCOL, ES9, ES9_FUNCTIONS, ES11_FUNCTIONS, Encoding
from sgp22.es9_types import parse_server_address

# notes section 3: request fields, response fields
NOTES = {
    "initiateAuthentication": (["euiccChallenge", "euiccInfo1", "smdpAddress"],
                               ["transactionId", "serverSigned1", "serverSignature1", "euiccCiPKIdToBeUsed",
                                "serverCertificate"]),
    "authenticateClient": (["transactionId", "authenticateServerResponse"],
                           ["transactionId", "profileMetadata", "smdpSigned2", "smdpSignature2", "smdpCertificate"]),
    "getBoundProfilePackage": (["transactionId", "prepareDownloadResponse"], ["transactionId", "boundProfilePackage"]),
    "handleNotification": (["pendingNotification"], []),
    "cancelSession": (["transactionId", "cancelSessionResponse"], []),
}
TAGS = {"euiccInfo1": 0xBF20, "serverSigned1": 0x30, "serverSignature1": 0x5F37, "euiccCiPKIdToBeUsed": 0x04,
        "authenticateServerResponse": 0xBF38, "profileMetadata": 0xBF25, "smdpSignature2": 0x5F37,
        "prepareDownloadResponse": 0xBF21, "boundProfilePackage": 0xBF36, "cancelSessionResponse": 0xBF41}


def test_the_table_is_the_notes():
    assert {name: ([f.name for f in fn.request], [f.name for f in fn.response])
            for name, fn in ES9_FUNCTIONS.items()} == NOTES
    assert [fn.url_path for fn in ES9_FUNCTIONS.values()] == [f"/gsma/rsp2/es9plus/{name}" for name in NOTES]
    assert [name for name, fn in ES9_FUNCTIONS.items() if fn.no_content] == ["handleNotification"]
    for fn in ES9_FUNCTIONS.values():
        for field in (*fn.request, *fn.response):
            if field.name in TAGS:
                assert field.tags == (TAGS[field.name],), field.name
    assert set(ES11_FUNCTIONS) == {"initiateAuthentication", "authenticateClient"}
    assert es9.ADMIN_PROTOCOL == ADMIN_PROTOCOL and ADMIN_PROTOCOL.startswith("gsma/rsp/v2.")


def test_every_asn1_type_of_the_table_is_in_the_codec():
    for fn in (*ES9_FUNCTIONS.values(), *ES11_FUNCTIONS.values()):
        for field in (*fn.request, *fn.response):
            if field.asn1 is not None:
                assert field.asn1 in codec.specification().types, field.asn1


def test_binary_fields_travel_as_base64_and_the_rest_as_they_are():
    body = ES9.get_bound_profile_package.encode_request(
        {"transactionId": "00FF", "prepareDownloadResponse": bytes.fromhex("BF2100")})
    assert body == {"transactionId": "00FF", "prepareDownloadResponse": base64.b64encode(b"\xBF\x21\x00").decode()}
    assert ES9.get_bound_profile_package.request_field("transactionId").encoding is Encoding.HEX


@pytest.mark.parametrize("values", [
    {"transactionId": "00FF"},  # a field missing
    {"transactionId": "00FF", "prepareDownloadResponse": b"\xBF\x21\x00", "extra": "x"},  # one the table lacks
    {"transactionId": "00FF", "prepareDownloadResponse": "BF2100"},  # text where bytes go
])
def test_a_request_off_the_table_is_refused(values):
    with pytest.raises(BadInputError):
        ES9.get_bound_profile_package.encode_request(values)


def test_the_lab_serves_exactly_the_tables_functions():
    from rsplab.smdp.app import handlers
    from rsplab.smdp.faults import ENDPOINTS

    class Service:
        def __getattr__(self, name: str) -> str:
            return name

    assert handlers(Service(), ES9_FUNCTIONS) == {
        "initiateAuthentication": "initiate_authentication", "authenticateClient": "authenticate_client",
        "getBoundProfilePackage": "get_bound_profile_package", "handleNotification": "handle_notification",
        "cancelSession": "cancel_session"}
    assert set(ENDPOINTS) == {*NOTES, "es11.initiateAuthentication", "es11.authenticateClient", "*"}


def test_what_the_lab_encodes_the_client_reads():
    signature = tlv.build(0x5F37, bytes(64))
    answer = ES9.authenticate_client.encode_response({
        "transactionId": "00FF", "profileMetadata": tlv.build(0xBF25, b""), "smdpSigned2": tlv.build(0x30, b""),
        "smdpSignature2": signature, "smdpCertificate": tlv.build(0x30, b"")})
    client = es9.Es9Client.__new__(es9.Es9Client)
    client.address = parse_server_address("smdp.example.com")
    assert client._read(answer, ES9.authenticate_client, "smdpSignature2") == signature
    assert client._read(answer, ES9.authenticate_client, "transactionId", "00ff") == "00FF"
