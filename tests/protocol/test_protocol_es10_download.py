"""ES10b: AuthenticateServer and PrepareDownload built from the server's raw TLVs,
LoadBoundProfilePackage segmentation, CancelSession, and the notification functions."""
from __future__ import annotations

import pytest

from sgp22 import codec, es10, tlv
from sgp22.apdu import IsdrChannel
from sgp22.errors import BadInputError, Es10ResultError, MalformedDataError
from sgp22.es10_enums import (
    AuthenticateErrorCode,
    BppCommandId,
    CancelSessionError,
    CancelSessionReason,
    DownloadErrorCode,
    ErrorReason,
    NotificationEvent,
    NotificationSentResult,
    ProfileClass,
    flags_to_bits,
)
from sgp22.es10_session_types import (
    AuthenticateServerRequest,
    DeviceInfo,
    PrepareDownloadRequest,
    ServerAuthentication,
)
from carddrivers.local import LocalTransport

from tests.protocol.scripted_card import Es10Applet
from tests.protocol.test_protocol_es10 import EUICC_INFO2, ICCID, ICCID_CODED

TID = bytes.fromhex("0123456789ABCDEF0123456789ABCDEF")
MATCHING_ID = "MATCH-1234-SECRET-ID"
CERT = bytes.fromhex("3003020101")  # stands for a DER certificate: the ES10 layer never parses it
SIGNATURE = tlv.build(0x5F37, bytes(range(64)))
PKID = tlv.build(0x04, bytes.fromhex("F54172BDF98A95D65CBEB88A38A1C11D800A85C3"))
SERVER_SIGNED1 = {
    "transactionId": TID,
    "euiccChallenge": bytes(range(16)),
    "serverAddress": "smdp.example.com",
    "serverChallenge": bytes(range(16, 32)),
}
DEVICE_INFO = {"tac": bytes.fromhex("35290611"), "deviceCapabilities": {}}


def session(answers):
    applet = Es10Applet(answers)
    return IsdrChannel(LocalTransport(applet)).open(), applet


def server_auth(server_signed1: bytes | None = None, signature: bytes = SIGNATURE) -> ServerAuthentication:
    return ServerAuthentication(
        server_signed1=server_signed1 or codec.encode("ServerSigned1", SERVER_SIGNED1),
        server_signature1=signature,
        euicc_ci_pkid_to_be_used=PKID,
        server_certificate=CERT,
    )


def authenticate_ok() -> bytes:
    signed = {
        "transactionId": TID,
        "serverAddress": "smdp.example.com",
        "serverChallenge": bytes(range(16, 32)),
        "euiccInfo2": EUICC_INFO2,
        "ctxParams1": ("ctxParamsForCommonAuthentication", {"matchingId": MATCHING_ID, "deviceInfo": DEVICE_INFO}),
    }
    return codec.encode("AuthenticateServerResponse", ("authenticateResponseOk", {
        "euiccSigned1": signed, "euiccSignature1": bytes(64), "euiccCertificate": CERT, "eumCertificate": CERT,
    }))


# --- AuthenticateServer ---------------------------------------------------------------------------------


def test_authenticate_server_request_matches_the_asn1_encoding():
    request = AuthenticateServerRequest(server_auth(), MATCHING_ID, DeviceInfo())
    expected = codec.encode("AuthenticateServerRequest", {
        "serverSigned1": SERVER_SIGNED1,
        "serverSignature1": bytes(range(64)),
        "euiccCiPKIdToBeUsed": bytes.fromhex("F54172BDF98A95D65CBEB88A38A1C11D800A85C3"),
        "serverCertificate": CERT,
        "ctxParams1": ("ctxParamsForCommonAuthentication", {"matchingId": MATCHING_ID, "deviceInfo": DEVICE_INFO}),
    })
    assert es10.encode_authenticate_server(request) == expected


def test_authenticate_server_forwards_server_bytes_unchanged():
    # serverSigned1 with a field from a later version: the signature covers it, so it must stay
    extended = codec.encode("ServerSigned1", SERVER_SIGNED1)
    extended = tlv.build(0x30, tlv.parse_one(extended).value + bytes.fromhex("8501FF"))
    answer = authenticate_ok()
    isdr, applet = session(lambda request: answer)
    result = es10.authenticate_server(isdr, AuthenticateServerRequest(server_auth(extended), None))
    assert extended in applet.requests[0]
    assert result.raw == answer
    assert result.transaction_id == TID
    assert result.server_address == "smdp.example.com"


def test_authenticate_server_without_matching_id_omits_it():
    request = es10.encode_authenticate_server(AuthenticateServerRequest(server_auth(), None))
    assert request.endswith(bytes.fromhex("A00AA108800435290611A100"))


def test_device_info_with_capabilities_and_imei():
    info = DeviceInfo(tac="35230145", capabilities={"eutranEpcSupportedRelease": "15.0.0"}, imei="352301450000009")
    value = info.to_asn1()
    assert value["tac"] == bytes.fromhex("35230145")
    assert value["deviceCapabilities"] == {"eutranEpcSupportedRelease": bytes([15, 0, 0])}
    assert value["imei"] == bytes.fromhex("53321054000000F9")


@pytest.mark.parametrize(
    "info",
    [DeviceInfo(tac="3529061"), DeviceInfo(tac="3529061X"), DeviceInfo(capabilities={"gsmSupportedRelease": "8"}),
     DeviceInfo(capabilities={"gsmSupportedRelease": "8.0.300"}), DeviceInfo(imei="12345")],
)
def test_bad_device_info_is_refused(info):
    with pytest.raises(BadInputError):
        info.to_asn1()


def test_matching_id_stays_out_of_the_request_repr():
    request = AuthenticateServerRequest(server_auth(), MATCHING_ID)
    assert MATCHING_ID not in repr(request)
    assert MATCHING_ID[:4] in repr(request)


@pytest.mark.parametrize(
    "part,value",
    [("server_signed1", SIGNATURE), ("server_signature1", tlv.build(0x5F38, bytes(64))),
     ("euicc_ci_pkid_to_be_used", tlv.build(0x80, bytes(20))), ("server_certificate", b"\x30\x05\x02\x01"),
     ("server_signed1", b""), ("server_certificate", CERT + b"\x00")],
)
def test_malformed_server_parts_are_refused_before_the_card_sees_them(part, value):
    auth = server_auth()
    auth = ServerAuthentication(**{**vars(auth), part: value})
    isdr, applet = session({})
    with pytest.raises(MalformedDataError):
        es10.authenticate_server(isdr, AuthenticateServerRequest(auth, MATCHING_ID))
    assert applet.requests == []


def test_authenticate_server_error_vector_is_euicc_challenge_mismatch():
    isdr, _ = session(lambda request: bytes.fromhex("BF3808A106800101020106"))
    with pytest.raises(Es10ResultError) as raised:
        es10.authenticate_server(isdr, AuthenticateServerRequest(server_auth(), MATCHING_ID))
    assert raised.value.result_name == AuthenticateErrorCode.euiccChallengeMismatch.name
    assert raised.value.function == "authenticateServer"


@pytest.mark.parametrize("member", list(AuthenticateErrorCode))
def test_every_authenticate_error_is_named(member):
    answer = codec.encode("AuthenticateServerResponse", ("authenticateResponseError", {"transactionId": TID, "authenticateErrorCode": int(member)}))
    isdr, _ = session(lambda request: answer)
    with pytest.raises(Es10ResultError) as raised:
        es10.authenticate_server(isdr, AuthenticateServerRequest(server_auth(), None))
    assert raised.value.result_name == member.name


# --- PrepareDownload ----------------------------------------------------------------------------------


SMDP_SIGNED2 = codec.encode("SmdpSigned2", {"transactionId": TID, "ccRequiredFlag": True})


def test_prepare_download_request_with_hash_cc_matches_the_asn1_encoding():
    hash_cc = bytes(range(32))
    request = PrepareDownloadRequest(SMDP_SIGNED2, SIGNATURE, CERT, hash_cc)
    expected = codec.encode("PrepareDownloadRequest", {
        "smdpSigned2": {"transactionId": TID, "ccRequiredFlag": True}, "smdpSignature2": bytes(range(64)),
        "hashCc": hash_cc, "smdpCertificate": CERT,
    })
    assert es10.encode_prepare_download(request) == expected


def test_prepare_download_ok_and_error_vector():
    ok = codec.encode("PrepareDownloadResponse", ("downloadResponseOk", {
        "euiccSigned2": {"transactionId": TID, "euiccOtpk": b"\x04" + bytes(64)}, "euiccSignature2": bytes(64)}))
    isdr, applet = session(lambda request: ok)
    result = es10.prepare_download(isdr, PrepareDownloadRequest(SMDP_SIGNED2, SIGNATURE, CERT))
    assert (result.raw, result.transaction_id, result.euicc_otpk[:1], result.hash_cc) == (ok, TID, b"\x04", None)
    assert b"\x04\x20" not in applet.requests[0][:8]

    isdr, _ = session(lambda request: bytes.fromhex("BF2108A106800101020102"))
    with pytest.raises(Es10ResultError) as raised:
        es10.prepare_download(isdr, PrepareDownloadRequest(SMDP_SIGNED2, SIGNATURE, CERT))
    assert raised.value.result_name == DownloadErrorCode.invalidSignature.name


def test_hash_cc_of_the_wrong_size_is_refused():
    with pytest.raises(MalformedDataError):
        es10.encode_prepare_download(PrepareDownloadRequest(SMDP_SIGNED2, SIGNATURE, CERT, bytes(31)))


# --- CancelSession -------------------------------------------------------------------------------------


def test_cancel_session_request_and_signed_answer():
    ok = codec.encode("CancelSessionResponse", ("cancelSessionResponseOk", {
        "euiccCancelSessionSigned": {"transactionId": TID, "smdpOid": "2.999.10", "reason": 1},
        "euiccCancelSessionSignature": bytes(64)}))
    isdr, applet = session(lambda request: ok)
    assert es10.cancel_session(isdr, TID, CancelSessionReason.postponed) == ok
    assert applet.requests[0] == bytes.fromhex("BF4115") + bytes.fromhex("8010") + TID + bytes.fromhex("810101")


def test_cancel_session_error_vector_is_invalid_transaction_id():
    isdr, _ = session(lambda request: bytes.fromhex("BF4103810105"))
    with pytest.raises(Es10ResultError) as raised:
        es10.cancel_session(isdr, TID, CancelSessionReason.endUserRejection)
    assert raised.value.result_name == CancelSessionError.invalidTransactionId.name


# --- LoadBoundProfilePackage ----------------------------------------------------------------------------


def seg(tag: int, size: int, fill: int) -> bytes:
    return tlv.build(tag, bytes([fill]) * size)


BF23 = tlv.build(0xBF23, bytes.fromhex("820101") + tlv.build(0x80, TID) + seg(0x5F49, 65, 4) + seg(0x5F37, 64, 5))
A0 = tlv.build(0xA0, seg(0x87, 40, 1))
M88 = [seg(0x88, 200, 2), seg(0x88, 30, 3)]
A2 = tlv.build(0xA2, seg(0x87, 60, 6))
P86 = [seg(0x86, 1020, 7), seg(0x86, 1020, 8), seg(0x86, 300, 9)]


def make_bpp(with_a2: bool = True) -> bytes:
    parts = BF23 + A0 + tlv.build(0xA1, b"".join(M88)) + (A2 if with_a2 else b"") + tlv.build(0xA3, b"".join(P86))
    return tlv.build(0xBF36, parts)


def pir(error: tuple[int, int] | None = None) -> bytes:
    final = ("successResult", {"aid": bytes.fromhex("A0000005591010FFFFFFFF8900001000"), "simaResponse": bytes.fromhex("3007A0053003800100")})
    if error:
        final = ("errorResult", {"bppCommandId": error[0], "errorReason": error[1]})
    return codec.encode("ProfileInstallationResult", {
        "profileInstallationResultData": {
            "transactionId": TID,
            "notificationMetadata": {"seqNumber": 7, "profileManagementOperation": flags_to_bits(NotificationEvent.install),
                                     "notificationAddress": "smdp.example.com", "iccid": bytes.fromhex(ICCID_CODED)},
            "smdpOid": "2.999.10",
            "finalResult": final,
        },
        "euiccSignPIR": bytes(64),
    })


@pytest.mark.parametrize("with_a2", [True, False])
def test_bpp_is_cut_into_the_segments_the_euicc_expects(with_a2):
    bpp = make_bpp(with_a2)
    bf36_header = tlv.read_tlv(bpp)[0].header
    expected = [bf36_header + BF23, A0, tlv.read_tlv(tlv.build(0xA1, b"".join(M88)))[0].header, *M88]
    if with_a2:
        expected.append(A2)
    expected += [tlv.read_tlv(tlv.build(0xA3, b"".join(P86)))[0].header, *P86]
    assert [s.data for s in es10.bpp_segments(bpp)] == expected
    assert b"".join(expected) == bpp


def test_load_bpp_sends_each_segment_as_its_own_sequence_and_returns_the_pir():
    bpp = make_bpp()
    segments = es10.bpp_segments(bpp)
    answer = pir()
    applet = Es10Applet(lambda request: answer if request == segments[-1].data else b"")
    progress = []
    with IsdrChannel(LocalTransport(applet)) as isdr:
        result = es10.load_bound_profile_package(isdr, bpp, on_segment=progress.append)
    assert applet.requests == [s.data for s in segments]
    assert [(p.done, p.total) for p in progress] == [(n, 10) for n in range(1, 11)]
    assert progress[0].name == "initialiseSecureChannel" and progress[-1].name == "profileElement"
    assert result.ok and result.raw == answer
    assert result.iccid == ICCID and result.notification.seq_number == 7
    assert result.notification.event == NotificationEvent.install
    assert result.smdp_oid == "2.999.10" and result.transaction_id == TID
    assert result.isdp_aid.hex().upper() == "A0000005591010FFFFFFFF8900001000"
    assert es10.installation_error(result) is None
    # every STORE DATA of each sequence restarts its block number at 00
    store_data = [a for a in applet.apdus if a[1] == 0xE2]
    firsts = [a for a in store_data if a[3] == 0]
    assert len(firsts) == len(segments)


def test_load_bpp_stops_at_an_early_pir_with_the_error_named():
    bpp = make_bpp()
    segments = es10.bpp_segments(bpp)
    answer = pir((BppCommandId.configureISDP, ErrorReason.installFailedDueToIccidAlreadyExistsOnEuicc))
    applet = Es10Applet(lambda request: answer if request == segments[1].data else b"")
    with IsdrChannel(LocalTransport(applet)) as isdr:
        result = es10.load_bound_profile_package(isdr, bpp)
    assert len(applet.requests) == 2
    assert not result.ok
    assert result.error.command is BppCommandId.configureISDP
    assert result.error.reason is ErrorReason.installFailedDueToIccidAlreadyExistsOnEuicc
    error = es10.installation_error(result)
    assert isinstance(error, Es10ResultError)
    assert error.result_name == "installFailedDueToIccidAlreadyExistsOnEuicc"
    assert error.bpp_command_id == "configureISDP"
    assert error.kind == "es10.loadBoundProfilePackage.installFailedDueToIccidAlreadyExistsOnEuicc"


def test_load_bpp_without_any_answer_is_malformed():
    applet = Es10Applet(lambda request: b"")
    with IsdrChannel(LocalTransport(applet)) as isdr:
        with pytest.raises(MalformedDataError, match="ProfileInstallationResult"):
            es10.load_bound_profile_package(isdr, make_bpp())


def test_load_bpp_with_a_garbled_answer_is_malformed():
    applet = Es10Applet(lambda request: b"\xbf\x37\x05\x00")
    with IsdrChannel(LocalTransport(applet)) as isdr:
        with pytest.raises(MalformedDataError):
            es10.load_bound_profile_package(isdr, make_bpp())


BAD_BPPS = {
    "wrong-outer-tag": tlv.build(0xBF37, make_bpp()[4:]),
    "truncated": make_bpp()[:-10],
    "trailing-bytes": make_bpp() + b"\x00",
    "missing-a3": tlv.build(0xBF36, BF23 + A0 + tlv.build(0xA1, b"".join(M88))),
    "88-inside-a0": tlv.build(0xBF36, BF23 + tlv.build(0xA0, M88[0]) + tlv.build(0xA1, b"".join(M88)) + tlv.build(0xA3, P86[0])),
    "87-inside-a3": tlv.build(0xBF36, BF23 + A0 + tlv.build(0xA1, M88[0]) + tlv.build(0xA3, seg(0x87, 3, 0))),
    "empty-a3": tlv.build(0xBF36, BF23 + A0 + tlv.build(0xA1, M88[0]) + tlv.build(0xA3, b"")),
    "parts-out-of-order": tlv.build(0xBF36, A0 + BF23 + tlv.build(0xA1, M88[0]) + tlv.build(0xA3, P86[0])),
    "extra-part": tlv.build(0xBF36, BF23 + A0 + tlv.build(0xA1, M88[0]) + A2 + tlv.build(0xA3, P86[0]) + A0),
    "a4-instead-of-a2": tlv.build(0xBF36, BF23 + A0 + tlv.build(0xA1, M88[0]) + tlv.build(0xA4, b"") + tlv.build(0xA3, P86[0])),
    "empty": b"",
    "indefinite-length": bytes.fromhex("BF3680") + BF23 + b"\x00\x00",
    "not-a-tlv": b"\xbf",
}


@pytest.mark.parametrize("name", list(BAD_BPPS))
def test_malformed_bpp_is_refused_before_anything_is_sent(name):
    applet = Es10Applet(lambda request: b"")
    with IsdrChannel(LocalTransport(applet)) as isdr:
        with pytest.raises(MalformedDataError):
            es10.load_bound_profile_package(isdr, BAD_BPPS[name])
    assert applet.requests == []


def test_metadata_is_read_from_the_mac_only_segments():
    metadata = codec.encode("StoreMetadataRequest", {
        "iccid": bytes.fromhex(ICCID_CODED), "serviceProviderName": "Lab Operator", "profileName": "Lab 5G",
        "profileClass": 2})
    chunks = [metadata[:20], metadata[20:]]
    a1 = tlv.build(0xA1, b"".join(tlv.build(0x88, chunk + bytes(8)) for chunk in chunks))
    bpp = tlv.build(0xBF36, BF23 + A0 + a1 + tlv.build(0xA3, P86[0]))
    parsed = es10.bpp_profile_metadata(bpp)
    assert parsed.raw == metadata
    assert (parsed.iccid, parsed.service_provider_name, parsed.profile_class) == (ICCID, "Lab Operator", ProfileClass.operational)


def test_metadata_segment_shorter_than_its_mac_is_malformed():
    bpp = tlv.build(0xBF36, BF23 + A0 + tlv.build(0xA1, seg(0x88, 8, 0)) + tlv.build(0xA3, P86[0]))
    with pytest.raises(MalformedDataError):
        es10.bpp_profile_metadata(bpp)


# --- Notifications ---------------------------------------------------------------------------------------


def other_notification(seq: int, event: NotificationEvent) -> bytes:
    return codec.encode("OtherSignedNotification", {
        "tbsOtherNotification": {"seqNumber": seq, "profileManagementOperation": flags_to_bits(event),
                                 "notificationAddress": "smdp.example.com", "iccid": bytes.fromhex(ICCID_CODED)},
        "euiccNotificationSignature": bytes(64), "euiccCertificate": CERT, "eumCertificate": CERT})


def test_list_notifications_filtered_by_install():
    answer = codec.encode("ListNotificationResponse", ("notificationMetadataList", [
        {"seqNumber": 5, "profileManagementOperation": flags_to_bits(NotificationEvent.install), "notificationAddress": "a.example"}]))
    isdr, applet = session({"BF280481020780": answer.hex()})
    (item,) = es10.list_notifications(isdr, NotificationEvent.install)
    assert (item.seq_number, item.event_name, item.address, item.iccid) == (5, "install", "a.example", None)


@pytest.mark.parametrize("event", [NotificationEvent(0), NotificationEvent.install | NotificationEvent.delete])
def test_notification_filter_must_be_one_event(event):
    isdr, _ = session({})
    with pytest.raises(BadInputError):
        es10.list_notifications(isdr, event)


def test_retrieve_notifications_keeps_each_signed_notification_byte_for_byte():
    install, delete = pir(), other_notification(8, NotificationEvent.delete)
    answer = tlv.build(0xBF2B, tlv.build(0xA0, install + delete))
    isdr, applet = session({"BF2B05A003800105": answer.hex()})
    first, second = es10.retrieve_notifications_list(isdr, seq_number=5)
    assert (first.raw, second.raw) == (install, delete)
    assert (first.metadata.seq_number, first.metadata.event_name) == (7, "install")
    assert (second.metadata.seq_number, second.metadata.event_name, second.metadata.iccid) == (8, "delete", ICCID)


def test_retrieve_notifications_no_result_is_an_empty_list_and_other_errors_raise():
    isdr, _ = session({"BF2B00": "BF2B03810101"})
    assert es10.retrieve_notifications_list(isdr) == []
    isdr, _ = session({"BF2B00": "BF2B0381017F"})
    with pytest.raises(Es10ResultError) as raised:
        es10.retrieve_notifications_list(isdr)
    assert raised.value.result_name == "undefinedError"


def test_remove_notification_vector_and_nothing_to_delete():
    isdr, applet = session({"BF3003800105": "BF3003800100"})
    es10.remove_notification_from_list(isdr, 5)
    assert applet.requests == [bytes.fromhex("BF3003800105")]
    isdr, _ = session({"BF3003800105": "BF3003800101"})
    with pytest.raises(Es10ResultError) as raised:
        es10.remove_notification_from_list(isdr, 5)
    assert raised.value.result_name == NotificationSentResult.nothingToDelete.name


def test_long_answers_arrive_through_get_response():
    install = pir()
    answer = tlv.build(0xBF2B, tlv.build(0xA0, install * 3))
    applet = Es10Applet({"BF2B00": answer.hex()}, chunk=100)
    with IsdrChannel(LocalTransport(applet)) as isdr:
        assert len(es10.retrieve_notifications_list(isdr)) == 3
    assert any(a[1] == 0xC0 for a in applet.apdus)
