"""sgp22.codec against the tag vectors of the reference notes (section 11) and round trips of
the structures the LPA, the virtual eUICC and the lab SM-DP+ exchange."""
import datetime

import asn1tools
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sgp22 import asn1_der, codec
from sgp22.errors import BadInputError, MalformedDataError

ICCID_BCD = bytes.fromhex("989444999999990920F3")  # ICCID 8949449999999990023, EF.ICCID coding
EID = bytes.fromhex("89049032123451234512345678901235")
TID = bytes.fromhex("0123456789ABCDEF0123456789ABCDEF")
CHALLENGE = bytes(range(16))
SIGNATURE = bytes(range(64))
OTPK = b"\x04" + bytes(range(64))

# (type, value, DER) exactly as the notes list them, <iccid> filled with ICCID_BCD
NOTE_VECTORS = [
    ("GetEuiccDataRequest", {"tagList": b"\x5a"}, "BF3E035C015A"),
    (
        "EnableProfileRequest",
        {"profileIdentifier": ("iccid", ICCID_BCD), "refreshFlag": True},
        "BF3111A00C5A0A" + ICCID_BCD.hex() + "8101FF",
    ),
    ("DeleteProfileRequest", ("iccid", ICCID_BCD), "BF330C5A0A" + ICCID_BCD.hex()),
    ("EuiccMemoryResetRequest", {"resetOptions": (b"\xe0", 3)}, "BF3404820205E0"),
    ("RetrieveNotificationsListRequest", {"searchCriteria": ("seqNumber", 5)}, "BF2B05A003800105"),
    ("NotificationSentRequest", {"seqNumber": 5}, "BF3003800105"),
    ("ListNotificationRequest", {"profileManagementOperation": (b"\x80", 1)}, "BF280481020780"),
    (
        "PrepareDownloadResponse",
        ("downloadResponseError", {"transactionId": b"\x01", "downloadErrorCode": 2}),
        "BF2108A106800101020102",
    ),
    (
        "AuthenticateServerResponse",
        ("authenticateResponseError", {"transactionId": b"\x01", "authenticateErrorCode": 6}),
        "BF3808A106800101020106",
    ),
    ("CancelSessionResponse", ("cancelSessionResponseError", 5), "BF4103810105"),
]


@pytest.mark.parametrize("type_name, value, der_hex", NOTE_VECTORS, ids=[v[0] for v in NOTE_VECTORS])
def test_note_vectors_encode_decode_and_identify(type_name, value, der_hex):
    der = bytes.fromhex(der_hex)
    assert codec.encode(type_name, value) == der
    assert codec.decode(type_name, der) == value
    assert codec.identify(der) == type_name
    assert codec.decode_any(der) == (type_name, value)


# --- OBJECT IDENTIFIER with a second arc >= 40 ------------------------------------------------


def test_sgp26_smdp_oid_round_trips():
    signed = {"transactionId": TID, "smdpOid": "2.999.10", "reason": 0}
    der = codec.encode("EuiccCancelSessionSigned", signed)
    assert bytes.fromhex("8103 88370A") in der  # automatic tag [1]
    assert codec.decode("EuiccCancelSessionSigned", der)["smdpOid"] == "2.999.10"
    pir = codec.encode("ProfileInstallationResult", _profile_installation_result())
    assert bytes.fromhex("0603 88370A") in pir  # universal tag
    assert codec.decode_any(pir)[1]["profileInstallationResultData"]["smdpOid"] == "2.999.10"


@pytest.mark.parametrize(
    "dotted, content_hex",
    [
        ("2.999.10", "88370A"),
        ("1.2.840.10045.4.3.2", "2A8648CE3D040302"),
        ("2.23.146.1.2.1.4", "67811201020104"),
        ("0.0", "00"),
        ("1.39", "4F"),
        ("2.0", "50"),
        ("2.40", "78"),
        ("2.47", "7F"),
        ("2.48", "8100"),
        ("2.100000.3", "868D7003"),
    ],
)
def test_oid_content_octets_both_ways(dotted, content_hex):
    assert asn1_der.encode_oid_content(dotted).hex().upper() == content_hex
    assert asn1_der.decode_oid_content(bytes.fromhex(content_hex)) == dotted
    der = codec.encode("DpProprietaryData", {"dpOid": dotted})
    assert codec.decode("DpProprietaryData", der) == {"dpOid": dotted}


@pytest.mark.parametrize("dotted", ["3.1", "1.40", "0.40", "1", "", "a.b", "1.-2.3", "1..2"])
def test_impossible_oids_do_not_encode(dotted):
    with pytest.raises(BadInputError):
        codec.encode("DpProprietaryData", {"dpOid": dotted})


@pytest.mark.parametrize(
    "dp_proprietary_data_hex",
    [
        "B803060188",  # ends inside a subidentifier
        "B80406028001",  # subidentifier padded with a leading 0x80
        "B8020600",  # no content at all
    ],
)
def test_malformed_oids_raise_malformed_data(dp_proprietary_data_hex):
    inner = bytes.fromhex(dp_proprietary_data_hex)
    with pytest.raises(MalformedDataError):
        codec.decode("ConfigureISDPRequest", bytes.fromhex("BF24") + bytes([len(inner)]) + inner)


# --- identify: one tag, several types -------------------------------------------------------------


def _euicc_info1() -> dict:
    ski = bytes.fromhex("F54172BDF98A95D65CBEB88A38A1C11D800A85C3")
    return {"svn": b"\x02\x02\x02", "euiccCiPKIdListForVerification": [ski], "euiccCiPKIdListForSigning": [ski]}


def _certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "codec test")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


CERT = _certificate()


def _notification_metadata(seq: int, event: bytes) -> dict:
    return {
        "seqNumber": seq,
        "profileManagementOperation": (event, 4),
        "notificationAddress": "smdp.example.com",
        "iccid": ICCID_BCD,
    }


def _profile_installation_result() -> dict:
    return {
        "profileInstallationResultData": {
            "transactionId": TID,
            "notificationMetadata": _notification_metadata(7, b"\x80"),
            "smdpOid": "2.999.10",
            "finalResult": (
                "successResult",
                {"aid": bytes.fromhex("A0000005591010FFFFFFFF8900001000"), "simaResponse": bytes.fromhex("3007A0053003800100")},
            ),
        },
        "euiccSignPIR": SIGNATURE,
    }


def _other_signed_notification() -> dict:
    return {
        "tbsOtherNotification": _notification_metadata(8, b"\x40"),
        "euiccNotificationSignature": SIGNATURE,
        "euiccCertificate": CERT,
        "eumCertificate": CERT,
    }


def _bound_profile_package() -> dict:
    return {
        "initialiseSecureChannelRequest": {
            "remoteOpId": 1,
            "transactionId": TID,
            "controlRefTemplate": {"keyType": b"\x88", "keyLen": b"\x10", "hostId": b"mahlzeit"},
            "smdpOtpk": OTPK,
            "smdpSign": SIGNATURE,
        },
        "firstSequenceOf87": [bytes(40)],
        "sequenceOf88": [bytes(30), bytes(31)],
        "secondSequenceOf87": [bytes(56)],
        "sequenceOf86": [bytes(1020 - 4 - 8), bytes(100)],
    }


def _ctx_params(matching_id: str) -> tuple:
    return (
        "ctxParamsForCommonAuthentication",
        {"matchingId": matching_id, "deviceInfo": {"tac": bytes.fromhex("35290611"), "deviceCapabilities": {}}},
    )


def _authenticate_server_request(matching_id: str = "TS48V2-SAIP2-1-NOBERTLV") -> dict:
    return {
        "serverSigned1": {
            "transactionId": TID,
            "euiccChallenge": CHALLENGE,
            "serverAddress": "testsmdpplus1.example.com",
            "serverChallenge": CHALLENGE[::-1],
        },
        "serverSignature1": SIGNATURE,
        "euiccCiPKIdToBeUsed": bytes(20),
        "serverCertificate": CERT,
        "ctxParams1": _ctx_params(matching_id),
    }


def _euicc_info2() -> dict:
    ski = bytes(20)
    return {
        "profileVersion": b"\x02\x03\x01",
        "svn": b"\x02\x02\x02",
        "euiccFirmwareVer": b"\x01\x00\x00",
        "extCardResource": bytes.fromhex("810100820400010000830200FF"),
        "uiccCapability": (b"\x7f\xff\xff\xc0", 26),
        "rspCapability": (b"\xb8", 5),
        "euiccCiPKIdListForVerification": [ski],
        "euiccCiPKIdListForSigning": [ski],
        "ppVersion": b"\x01\x00\x00",
        "sasAcreditationNumber": "GI-BA-UP-0419",
    }


STRUCTURES = [
    ("GetEuiccInfo1Request", {}),
    ("EUICCInfo1", _euicc_info1()),
    ("GetEuiccInfo2Request", {}),
    ("EUICCInfo2", _euicc_info2()),
    ("GetEuiccChallengeRequest", {}),
    ("GetEuiccChallengeResponse", {"euiccChallenge": CHALLENGE}),
    ("GetEuiccDataResponse", {"eidValue": EID}),
    ("AuthenticateServerRequest", _authenticate_server_request()),
    (
        "AuthenticateServerResponse",
        (
            "authenticateResponseOk",
            {
                "euiccSigned1": {
                    "transactionId": TID,
                    "serverAddress": "testsmdpplus1.example.com",
                    "serverChallenge": CHALLENGE,
                    "euiccInfo2": _euicc_info2(),
                    "ctxParams1": _ctx_params("MATCH"),
                },
                "euiccSignature1": SIGNATURE,
                "euiccCertificate": CERT,
                "eumCertificate": CERT,
            },
        ),
    ),
    (
        "PrepareDownloadRequest",
        {
            "smdpSigned2": {"transactionId": TID, "ccRequiredFlag": True},
            "smdpSignature2": SIGNATURE,
            "hashCc": bytes(32),
            "smdpCertificate": CERT,
        },
    ),
    (
        "PrepareDownloadResponse",
        ("downloadResponseOk", {"euiccSigned2": {"transactionId": TID, "euiccOtpk": OTPK}, "euiccSignature2": SIGNATURE}),
    ),
    ("BoundProfilePackage", _bound_profile_package()),
    ("ConfigureISDPRequest", {"dpProprietaryData": {"dpOid": "2.999.10"}}),
    (
        "StoreMetadataRequest",
        {
            "iccid": ICCID_BCD,
            "serviceProviderName": "esimflow lab",
            "profileName": "Lab profile",
            "profileClass": 0,
            "notificationConfigurationInfo": [
                {"profileManagementOperation": (b"\xf0", 4), "notificationAddress": "smdp.example.com"}
            ],
        },
    ),
    ("ReplaceSessionKeysRequest", {"initialMacChainingValue": bytes(16), "ppkEnc": b"\x11" * 16, "ppkCmac": b"\x22" * 16}),
    ("ProfileInstallationResult", _profile_installation_result()),
    ("CancelSessionRequest", {"transactionId": TID, "reason": 127}),
    (
        "CancelSessionResponse",
        (
            "cancelSessionResponseOk",
            {
                "euiccCancelSessionSigned": {"transactionId": TID, "smdpOid": "2.999.10", "reason": 0},
                "euiccCancelSessionSignature": SIGNATURE,
            },
        ),
    ),
    ("ListNotificationResponse", ("notificationMetadataList", [_notification_metadata(1, b"\x80")])),
    ("ListNotificationResponse", ("listNotificationsResultError", 127)),
    (
        "RetrieveNotificationsListResponse",
        (
            "notificationList",
            [
                ("profileInstallationResult", _profile_installation_result()),
                ("otherSignedNotification", _other_signed_notification()),
            ],
        ),
    ),
    ("OtherSignedNotification", _other_signed_notification()),
    ("NotificationMetadata", _notification_metadata(3, b"\x20")),
    ("NotificationSentResponse", {"deleteNotificationStatus": 1}),
    ("ProfileInfoListRequest", {"searchCriteria": ("profileClass", 2), "tagList": bytes.fromhex("5A9F70")}),
    (
        "ProfileInfoListResponse",
        (
            "profileInfoListOk",
            [
                {
                    "iccid": ICCID_BCD,
                    "isdpAid": bytes.fromhex("A0000005591010FFFFFFFF8900001000"),
                    "profileState": 1,
                    "profileNickname": "work",
                    "profileClass": 2,
                    "dpProprietaryData": {"dpOid": "2.999.10"},
                    "profilePolicyRules": (b"\x40", 3),
                }
            ],
        ),
    ),
    ("ProfileInfoListResponse", ("profileInfoListError", 1)),
    ("DisableProfileRequest", {"profileIdentifier": ("isdpAid", bytes.fromhex("A0000005591010FFFFFFFF8900001000")), "refreshFlag": False}),
    ("EnableProfileResponse", {"enableResult": 5}),
    ("DisableProfileResponse", {"disableResult": 2}),
    ("DeleteProfileResponse", {"deleteResult": 0}),
    ("EuiccMemoryResetResponse", {"resetResult": 1}),
    ("SetNicknameRequest", {"iccid": ICCID_BCD, "profileNickname": "Reise"}),
    ("SetNicknameResponse", {"setNicknameResult": 0}),
    ("EuiccConfiguredAddressesRequest", {}),
    ("EuiccConfiguredAddressesResponse", {"defaultDpAddress": "smdp.example.com", "rootDsAddress": "lpa.ds.gsma.com"}),
    ("SetDefaultDpAddressRequest", {"defaultDpAddress": "smdp.example.com:8443"}),
    ("SetDefaultDpAddressResponse", {"setDefaultDpAddressResult": 127}),
    ("GetRatRequest", {}),
    (
        "GetRatResponse",
        {
            "rat": [
                {
                    "pprIds": (b"\x60", 3),
                    "allowedOperators": [{"mccMnc": bytes.fromhex("62F210")}],
                    "pprFlags": (b"\x80", 1),
                }
            ]
        },
    ),
    ("LoadCRLRequest", {"crl": CERT}),
    ("LoadCRLResponse", ("loadCRLResponseError", 5)),
    (
        "InitiateAuthenticationRequest",
        {"euiccChallenge": CHALLENGE, "smdpAddress": "smdp.example.com", "euiccInfo1": _euicc_info1()},
    ),
    (
        "InitiateAuthenticationResponse",
        (
            "initiateAuthenticationOk",
            {
                "transactionId": TID,
                "serverSigned1": _authenticate_server_request()["serverSigned1"],
                "serverSignature1": SIGNATURE,
                "euiccCiPKIdToBeUsed": bytes(20),
                "serverCertificate": CERT,
            },
        ),
    ),
    ("GetBoundProfilePackageResponse", ("getBoundProfilePackageOk", {"transactionId": TID, "boundProfilePackage": _bound_profile_package()})),
    ("HandleNotification", {"pendingNotification": ("otherSignedNotification", _other_signed_notification())}),
    ("CancelSessionResponseEs9", ("cancelSessionOk", {})),
    (
        "AuthenticateClientResponseEs11",
        ("authenticateClientOk", {"transactionId": TID, "eventEntries": [{"eventId": "EV1", "rspServerAddress": "smdp.example.com"}]}),
    ),
]


@pytest.mark.parametrize("type_name, value", STRUCTURES, ids=[s[0] for s in STRUCTURES])
def test_structures_round_trip_and_are_identified_by_tag(type_name, value):
    der = codec.encode(type_name, value)
    assert codec.decode(type_name, der) == value
    if type_name != "NotificationSentResponse":  # see the ambiguity test below
        assert codec.decode_any(der) == (type_name, value)


def test_certificates_pass_through_as_raw_der():
    der = codec.encode("OtherSignedNotification", _other_signed_notification())
    decoded = codec.decode("OtherSignedNotification", der)
    assert decoded["euiccCertificate"] == CERT
    assert x509.load_der_x509_certificate(decoded["euiccCertificate"]).subject.rfc4514_string() == "CN=codec test"


def test_default_profile_class_decodes_as_the_number():
    value = {"iccid": ICCID_BCD, "serviceProviderName": "x", "profileName": "y"}
    der = codec.encode("StoreMetadataRequest", value)
    assert b"\x95" not in der[-3:]  # DER leaves the default out
    assert codec.decode("StoreMetadataRequest", der)["profileClass"] == 2


def test_unknown_sequence_fields_from_newer_cards_are_skipped():
    known = codec.encode("EnableProfileResponse", {"enableResult": 0})
    newer = bytes.fromhex("BF3106") + known[3:] + bytes.fromhex("9F7F00")  # hypothetical extra field
    assert codec.decode("EnableProfileResponse", newer) == {"enableResult": 0}
    assert codec.identify(newer) == "EnableProfileResponse"


def test_empty_request_and_full_response_share_a_tag():
    assert codec.identify(bytes.fromhex("BF2000")) == "GetEuiccInfo1Request"
    assert codec.identify(codec.encode("EUICCInfo1", _euicc_info1())) == "EUICCInfo1"
    assert codec.identify(bytes.fromhex("BF2200")) == "GetEuiccInfo2Request"
    assert codec.identify(bytes.fromhex("BF4300")) == "GetRatRequest"
    assert codec.identify(codec.encode("GetRatResponse", {"rat": []})) == "GetRatResponse"


def test_profile_list_error_is_not_taken_for_a_request():
    assert codec.decode_any(bytes.fromhex("BF2D0381017F")) == ("ProfileInfoListResponse", ("profileInfoListError", 127))
    assert codec.identify(bytes.fromhex("BF2D035C015A")) == "ProfileInfoListRequest"


def test_responses_that_could_read_as_requests_are_told_apart():
    assert codec.identify(bytes.fromhex("BF3F0380017F")) == "SetDefaultDpAddressResponse"
    assert codec.identify(bytes.fromhex("BF3F0580036C6162")) == "SetDefaultDpAddressRequest"
    assert codec.identify(bytes.fromhex("BF3503810105")) == "LoadCRLResponse"
    assert codec.identify(codec.encode("LoadCRLRequest", {"crl": CERT})) == "LoadCRLRequest"


def test_notification_sent_response_is_ambiguous_and_read_as_the_request():
    der = codec.encode("NotificationSentResponse", {"deleteNotificationStatus": 1})
    assert der == codec.encode("NotificationSentRequest", {"seqNumber": 1})
    assert codec.identify(der) == "NotificationSentRequest"
    assert codec.decode("NotificationSentResponse", der) == {"deleteNotificationStatus": 1}


def test_cancel_session_request_and_response_share_bf41():
    assert codec.identify(bytes.fromhex("BF4106800101810100")) == "CancelSessionRequest"
    assert codec.identify(bytes.fromhex("BF4103810105")) == "CancelSessionResponse"


# --- Bad input ---------------------------------------------------------------------------------

VALID_MESSAGES = {
    "EUICCInfo1": codec.encode("EUICCInfo1", _euicc_info1()),
    "AuthenticateServerRequest": codec.encode("AuthenticateServerRequest", _authenticate_server_request()),
    "ProfileInstallationResult": codec.encode("ProfileInstallationResult", _profile_installation_result()),
    "OtherSignedNotification": codec.encode("OtherSignedNotification", _other_signed_notification()),
    "BoundProfilePackage": codec.encode("BoundProfilePackage", _bound_profile_package()),
    "EnableProfileRequest": bytes.fromhex("BF3111A00C5A0A" + ICCID_BCD.hex() + "8101FF"),
}


def _truncations():
    for name, der in VALID_MESSAGES.items():
        # every prefix of short messages, a spread of cut points for long ones
        step = 1 if len(der) < 40 else max(1, len(der) // 23)
        for cut in range(1, len(der), step):
            yield pytest.param(name, der[:cut], id=f"{name}-cut{cut}")


@pytest.mark.parametrize("type_name, data", list(_truncations()))
def test_truncated_messages_raise_malformed_data(type_name, data):
    with pytest.raises(MalformedDataError):
        codec.decode(type_name, data)
    with pytest.raises(MalformedDataError):
        codec.decode_any(data)


@pytest.mark.parametrize("type_name", sorted(VALID_MESSAGES))
def test_trailing_garbage_is_refused(type_name):
    with pytest.raises(MalformedDataError) as caught:
        codec.decode(type_name, VALID_MESSAGES[type_name] + b"\x00")
    assert caught.value.kind == "asn1.trailing_data"


GARBLED = [
    "",  # nothing
    "00",  # no SGP.22 message starts with these tags
    "FF",
    "BF",
    "5A0A" + ICCID_BCD.hex(),
    "0603883700",
    "BF3E",  # ends before the length
    "BF3E05",  # content missing
    "BF3E85FFFFFFFFFF",  # length of more than 4 bytes
    "BF3E8000",  # indefinite length is not DER
    "BF3E035C015B5A",  # trailing byte after the TLV
    "BF3E035A015A",  # EID of 1 byte
    "BF3E135A1189049032123451234512345678901235FF",  # EID of 17 bytes
    "BF3104800199",  # one byte missing
    "BF3106A0045A025A00",  # refreshFlag missing, inner lengths disagree
    "BF2E0380011122",  # inner TLV shorter than the outer one
    "BF2E128010" + "00" * 15,  # challenge one byte short
    "BF3808A10680010102010600",  # trailing byte
    "BF3808A106800101030106",  # neither request nor response shape
    "BF2108A106800101020202",
    "BF41038101",
    "BF4104810205",
    "3000",  # empty SEQUENCE: none of the signed structures
    "3003800101",
    "300ABF2F07800101810207",
    "BF3703BF2700",  # PIR with an empty result
    "BF360ABF2307820101800100A6",  # BPP cut inside the secure channel request
    "BF2B05A0038001",
    "BF2D05A003E30100",  # profile list holding a broken ProfileInfo
    "BF2805810307FF",
    "E3035A0100",  # ICCID of 1 byte
    "A203BF3900",
    "BF3A03800100",
    "BF3B0100",
]


@pytest.mark.parametrize("hex_data", GARBLED)
def test_garbled_der_raises_malformed_data(hex_data):
    with pytest.raises(MalformedDataError) as caught:
        codec.decode_any(bytes.fromhex(hex_data))
    assert caught.value.kind.startswith("asn1.")


@pytest.mark.parametrize("position", range(0, 12))
def test_flipped_tag_bytes_never_escape_as_other_errors(position):
    der = bytearray(VALID_MESSAGES["EnableProfileRequest"])
    der[position] ^= 0x20
    try:
        codec.decode_any(bytes(der))
    except MalformedDataError:
        pass


def test_error_messages_do_not_carry_the_matching_id():
    secret = "SECRET-MATCHING-ID-0123456789"
    der = codec.encode("AuthenticateServerRequest", _authenticate_server_request(secret))
    for data in (der[:-5], der + b"\x00", der[:4] + b"\x00" + der[5:]):
        with pytest.raises(MalformedDataError) as caught:
            codec.decode("AuthenticateServerRequest", data)
        message = str(caught.value)
        assert secret not in message
        assert secret.encode().hex().upper() not in message.upper()
        assert len(message) < 400


def test_unknown_choice_alternative_is_an_error():
    with pytest.raises(MalformedDataError) as caught:
        codec.decode("CancelSessionResponse", bytes.fromhex("BF4103820105"))
    assert caught.value.kind == "asn1.unknown_alternative"


@pytest.mark.parametrize(
    "type_name, value",
    [
        ("GetEuiccDataResponse", {"eidValue": EID[:15]}),
        ("GetEuiccDataResponse", {}),
        ("GetEuiccDataResponse", {"eidValue": "8904903212345123451234567890123"}),
        ("EnableProfileRequest", {"profileIdentifier": ("iccid", ICCID_BCD)}),
        ("EnableProfileRequest", {"profileIdentifier": ("eid", ICCID_BCD), "refreshFlag": True}),
        ("CancelSessionRequest", {"transactionId": bytes(17), "reason": 0}),
        ("NotificationSentRequest", {"seqNumber": "five"}),
        ("SetNicknameRequest", {"iccid": ICCID_BCD, "profileNickname": "x" * 65}),
    ],
)
def test_bad_values_raise_bad_input_on_encode(type_name, value):
    with pytest.raises(BadInputError):
        codec.encode(type_name, value)


def test_encode_error_hides_long_values():
    secret = "SECRET-MATCHING-ID-0123456789"
    with pytest.raises(BadInputError) as caught:
        codec.encode("CtxParamsForCommonAuthentication", {"matchingId": secret, "deviceInfo": {"tac": secret}})
    assert secret not in str(caught.value)


def test_unknown_type_name_and_non_bytes_are_bad_input():
    with pytest.raises(BadInputError):
        codec.decode("NoSuchType", b"\x30\x00")
    with pytest.raises(BadInputError):
        codec.encode("NoSuchType", {})
    with pytest.raises(BadInputError):
        codec.decode("GetEuiccDataRequest", "BF3E035C015A")


def test_specification_is_compiled_once():
    assert codec.specification() is codec.specification()
    assert {"BoundProfilePackage", "EventEntries", "RulesAuthorisationTable"} <= set(codec.type_names())


def test_signed_parts_starting_with_a_plain_sequence_are_told_apart():
    parts = {
        "ServerSigned1": _authenticate_server_request()["serverSigned1"],
        "EuiccSigned1": {
            "transactionId": TID,
            "serverAddress": "smdp.example.com",
            "serverChallenge": CHALLENGE,
            "euiccInfo2": _euicc_info2(),
            "ctxParams1": _ctx_params("M"),
        },
        "EUICCSigned2": {"transactionId": TID, "euiccOtpk": OTPK, "hashCc": bytes(32)},
        "SmdpSigned2": {"transactionId": TID, "ccRequiredFlag": False},
        "EuiccCancelSessionSigned": {"transactionId": TID, "smdpOid": "2.999.10", "reason": 1},
        "OtherSignedNotification": _other_signed_notification(),
    }
    for type_name, value in parts.items():
        assert codec.decode_any(codec.encode(type_name, value)) == (type_name, value)


@pytest.mark.timeout(10)
def test_list_element_with_a_foreign_tag_fails_instead_of_hanging():
    # plain asn1tools 0.169 loops forever here: the profile list holds a '95' instead of an 'E3'
    with pytest.raises(MalformedDataError):
        codec.decode("ProfileInfoListResponse", bytes.fromhex("BF2D0AA0039501025C035A9F70"))


@pytest.mark.timeout(10)
def test_other_modules_compiled_through_the_codec_get_the_corrections():
    spec = asn1_der.compile_der_string(
        "M DEFINITIONS AUTOMATIC TAGS ::= BEGIN\n"
        "Result ::= SEQUENCE { status SEQUENCE OF Status, oid OBJECT IDENTIFIER OPTIONAL }\n"
        "Status ::= SEQUENCE { code INTEGER }\n"
        "END\n"
    )
    assert spec.decode("Result", spec.encode("Result", {"status": [], "oid": "2.999.10"})) == {
        "status": [],
        "oid": "2.999.10",
    }
    with pytest.raises(asn1tools.DecodeError) as caught:
        spec.decode("Result", bytes.fromhex("3005A003020100"))
    assert "Status" in str(caught.value)
