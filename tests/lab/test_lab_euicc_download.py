"""A download against the virtual eUICC with real signatures and SCP03t, and every refusal code."""
from __future__ import annotations

import os

import pytest

from sgp22 import codec, crypto
from sgp22.profile_builder import build_upp
from sgp22.tlv import build, children, parse_one

from rsplab import pki
from rsplab.euicc import EuiccConfig, RatRule, VirtualEuicc
from tests.lab.euicc_kit import Lpa, Smdp, bpp_without_replace_keys, iccid_for, lpac_pieces, pir_result


@pytest.fixture(scope="module")
def smdp():
    return Smdp()


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    """An SM-DP+ of another CI, whose certificates the card must not accept."""
    return pki.generate(tmp_path_factory.mktemp("other-pki"))


@pytest.fixture
def card(identity):
    return VirtualEuicc(identity)


@pytest.fixture
def lpa(card):
    return Lpa(card)


def auth_result(response: bytes):
    return codec.decode("AuthenticateServerResponse", response)


def prepare_result(response: bytes):
    return codec.decode("PrepareDownloadResponse", response)


def profiles(lpa: Lpa) -> list[dict]:
    return codec.decode("ProfileInfoListResponse", lpa.es10(bytes.fromhex("BF2D00")))[1]


def pending(lpa: Lpa) -> list:
    return codec.decode("RetrieveNotificationsListResponse", lpa.es10(bytes.fromhex("BF2B00")))[1]


# --- AuthenticateServer -----------------------------------------------------------------------


def test_authenticate_server_signs_with_the_euicc_key_and_returns_the_chain(lpa, smdp, identity):
    download = lpa.authenticate(smdp, matching_id="ABC-123")
    ok = children(parse_one(download.auth_response).value)[0]
    signed1, signature, euicc_cert, eum_cert = children(ok.value)
    crypto.verify_plain(identity.credentials[0].euicc_cert, signature.value, signed1.raw)
    assert euicc_cert.raw == identity.credentials[0].euicc_cert_der
    assert eum_cert.raw == identity.credentials[0].eum_cert_der
    decoded = codec.decode("EuiccSigned1", signed1.raw)
    assert decoded["transactionId"] == download.transaction_id
    assert decoded["serverAddress"] == smdp.address
    assert decoded["ctxParams1"][1]["matchingId"] == "ABC-123"
    assert decoded["euiccInfo2"]["svn"] == b"\x02\x02\x02"


def _unknown_ci(lpa, smdp, stranger):
    return {"ci_pkid": bytes(20)}


def _foreign_dpauth(lpa, smdp, stranger):
    return {"server_cert": stranger.dpauth.der, "sign_key": stranger.dpauth.private_key}


def _dppb_as_dpauth(lpa, smdp, stranger):
    return {"server_cert": smdp.ids.dppb.der, "sign_key": smdp.ids.dppb.private_key}


def _wrong_key(lpa, smdp, stranger):
    return {"sign_key": smdp.ids.dppb.private_key}


def _stale_challenge(lpa, smdp, stranger):
    return {"signed1": smdp.server_signed1(b"\x01" * 16, os.urandom(16))}


@pytest.mark.parametrize("tamper, code", [
    (_unknown_ci, "ciPKUnknown"),
    (_foreign_dpauth, "invalidCertificate"),
    (_dppb_as_dpauth, "invalidOid"),
    (_wrong_key, "invalidSignature"),
    (_stale_challenge, "euiccChallengeMismatch"),
])
def test_authenticate_server_refusals(lpa, smdp, stranger, tamper, code):
    codes = {"invalidCertificate": 1, "invalidSignature": 2, "invalidOid": 5, "euiccChallengeMismatch": 6,
             "ciPKUnknown": 7}
    download = lpa.authenticate(smdp, **tamper(lpa, smdp, stranger))
    kind, value = auth_result(download.auth_response)
    assert kind == "authenticateResponseError"
    assert value["authenticateErrorCode"] == codes[code]
    # no session was opened: PrepareDownload has no context
    lpa.prepare(smdp, download)
    assert prepare_result(download.prepare_response)[1]["downloadErrorCode"] == 4


def test_a_challenge_is_good_for_one_authentication(lpa, smdp):
    challenge = lpa.challenge()
    request = smdp.authenticate_server_request(b"\x02" * 16, challenge)
    assert auth_result(lpa.es10(request))[0] == "authenticateResponseOk"
    assert auth_result(lpa.es10(request))[1]["authenticateErrorCode"] == 6


# --- PrepareDownload ----------------------------------------------------------------------------


def test_prepare_download_makes_a_one_time_key_and_signs_it(lpa, smdp, identity):
    download = lpa.authenticate(smdp)
    request = smdp.prepare_download_request(download.auth_response, transaction_id=download.transaction_id)
    signed2, signature = children(children(parse_one(lpa.es10(request)).value)[0].value)
    decoded = codec.decode("EUICCSigned2", signed2.raw)
    assert decoded["transactionId"] == download.transaction_id
    crypto.load_public_point("secp256r1", decoded["euiccOtpk"])
    smdp_signature2 = children(parse_one(request).value)[1]
    crypto.verify_plain(identity.credentials[0].euicc_cert, signature.value, signed2.raw + smdp_signature2.raw)


@pytest.mark.parametrize("options, code", [
    (lambda smdp: {"sign_key": smdp.ids.dpauth.private_key}, 2),
    (lambda smdp: {"dppb_cert": smdp.ids.dpauth.der}, 1),
    (lambda smdp: {"transaction_id": b"\x09" * 16}, 5),
    (lambda smdp: {"cc_required": True}, 127),
])
def test_prepare_download_refusals(lpa, smdp, options, code):
    download = lpa.authenticate(smdp)
    request = smdp.prepare_download_request(download.auth_response,
                                            **{"transaction_id": download.transaction_id, **options(smdp)})
    kind, value = prepare_result(lpa.es10(request))
    assert kind == "downloadResponseError" and value["downloadErrorCode"] == code


def test_hash_cc_is_copied_into_euicc_signed2(lpa, smdp):
    download = lpa.authenticate(smdp)
    hash_cc = crypto.hash_confirmation_code("1234", download.transaction_id)
    lpa.prepare(smdp, download, cc_required=True, hash_cc=hash_cc)
    assert prepare_result(download.prepare_response)[1]["euiccSigned2"]["hashCc"] == hash_cc


# --- LoadBoundProfilePackage ----------------------------------------------------------------------


@pytest.mark.parametrize("pieces", [True, False], ids=["lpac-pieces", "one-sequence"])
def test_install_answers_a_signed_pir_and_shows_the_profile(lpa, smdp, identity, pieces):
    pir = lpa.install(smdp, iccid_for(7), pieces=pieces, size=6000, ppr2=True)
    data, signature = children(parse_one(pir).value)
    crypto.verify_plain(identity.credentials[0].euicc_cert, signature.value, data.raw)
    kind, result = pir_result(pir)
    assert kind == "successResult"
    result_data = codec.decode("ProfileInstallationResultData", data.raw)
    assert result_data["smdpOid"] == "2.999.10"
    assert result_data["notificationMetadata"]["notificationAddress"] == smdp.address
    [profile] = profiles(lpa)
    assert profile["isdpAid"] == result["aid"]
    assert profile["profileState"] == 0 and profile["profileClass"] == 2
    assert profile["serviceProviderName"] == "Lab Telecom"
    assert profile["profilePolicyRules"] == (b"\x20", 3)
    assert [kind for kind, _ in pending(lpa)] == ["profileInstallationResult"]


def test_profile_segments_without_replace_session_keys_use_the_session_keys(lpa, smdp):
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    bpp = bpp_without_replace_keys(smdp, download.prepare_response, transaction_id=download.transaction_id,
                                   iccid=iccid_for(8))
    assert pir_result(lpa.load(bpp))[0] == "successResult"


def _flip(data: bytes, index: int) -> bytes:
    flipped = bytearray(data)
    flipped[index] ^= 0x01
    return bytes(flipped)


def test_a_bad_mac_stops_the_download_at_that_segment(lpa, smdp):
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid_for(9), size=5000)
    pieces = lpac_pieces(bpp)
    target = len(pieces) - 3  # an 86 segment with more to come
    pieces[target] = _flip(pieces[target], 20)
    answers = [lpa.es10(piece) for piece in pieces[: target + 1]]
    assert answers[:-1] == [b""] * target
    assert pir_result(answers[-1]) == ("errorResult", {"bppCommandId": 5, "errorReason": 8})
    assert profiles(lpa) == []
    assert [kind for kind, _ in pending(lpa)] == ["profileInstallationResult"]


def _sign_error(pieces):
    pieces[0] = _flip(pieces[0], len(pieces[0]) - 1)


def test_a_bad_smdp_sign_is_invalid_signature(lpa, smdp):
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    pieces = lpac_pieces(smdp.bpp(download.prepare_response, transaction_id=download.transaction_id,
                                  iccid=iccid_for(10)))
    _sign_error(pieces)
    assert pir_result(lpa.es10(pieces[0])) == ("errorResult", {"bppCommandId": 0, "errorReason": 2})


def test_a_bpp_for_another_transaction_is_refused(lpa, smdp):
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    bpp = smdp.bpp(download.prepare_response, transaction_id=b"\x05" * 16, iccid=iccid_for(11))
    assert pir_result(lpa.load(bpp)) == ("errorResult", {"bppCommandId": 0, "errorReason": 3})


def test_a_bpp_bound_to_another_eid_fails_the_mac(lpa, smdp):
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid_for(12),
                   eid="89049032123451234512345678901299")
    assert pir_result(lpa.load(bpp)) == ("errorResult", {"bppCommandId": 1, "errorReason": 8})


def test_an_installed_iccid_cannot_come_twice(lpa, smdp):
    assert pir_result(lpa.install(smdp, iccid_for(13)))[0] == "successResult"
    assert pir_result(lpa.install(smdp, iccid_for(13))) == ("errorResult", {"bppCommandId": 2, "errorReason": 9})
    assert len(profiles(lpa)) == 1


def install_on(config: EuiccConfig, identity, smdp, **options) -> tuple[str, dict]:
    return pir_result(Lpa(VirtualEuicc(identity, config=config)).install(smdp, iccid_for(20), **options))


def test_unsupported_profile_class(identity, smdp):
    config = EuiccConfig(supported_profile_classes=frozenset({2}))
    assert install_on(config, identity, smdp, profile_class="test") == (
        "errorResult", {"bppCommandId": 2, "errorReason": 6})


def test_ppr_not_allowed_by_the_rat(identity, smdp):
    config = EuiccConfig(rat=(RatRule(frozenset({"ppr2"}), ()),))
    assert install_on(config, identity, smdp, ppr1=True) == ("errorResult", {"bppCommandId": 2, "errorReason": 15})


def test_second_ppr1_profile_is_not_allowed(lpa, smdp):
    assert pir_result(lpa.install(smdp, iccid_for(21), ppr1=True))[0] == "successResult"
    assert pir_result(lpa.install(smdp, iccid_for(22), ppr1=True)) == (
        "errorResult", {"bppCommandId": 2, "errorReason": 15})


def test_insufficient_memory_when_the_card_is_full(identity, smdp):
    kind, result = install_on(EuiccConfig(capacity=4000), identity, smdp, size=9000)
    assert kind == "errorResult" and (result["bppCommandId"], result["errorReason"]) == (5, 10)
    assert "simaResponse" in result


def test_metadata_iccid_must_match_the_profile_header(lpa, smdp):
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid_for(23),
                   package=build_upp(iccid_for(24)))
    assert pir_result(lpa.load(bpp))[1]["errorReason"] == 13


def test_a_package_that_is_not_profile_elements_fails_pe_processing(lpa, smdp):
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid_for(25),
                   package=build_upp(iccid_for(25))[:-3])
    result = pir_result(lpa.load(bpp))[1]
    assert (result["bppCommandId"], result["errorReason"]) == (5, 12)


def test_a_bpp_without_prepare_download_is_refused_at_apdu_level(card, smdp):
    lpa = Lpa(card)
    lpa.authenticate(smdp)
    with pytest.raises(Exception) as raised:
        lpa.es10(build(0xBF36, build(0xBF23, b"")))
    assert getattr(raised.value, "sw", None) == 0x6985


# --- CancelSession ----------------------------------------------------------------------------------


def cancel(lpa: Lpa, transaction_id: bytes, reason: int = 0):
    request = codec.encode("CancelSessionRequest", {"transactionId": transaction_id, "reason": reason})
    return codec.decode("CancelSessionResponse", lpa.es10(request)), lpa


def test_cancel_session_without_a_session_is_invalid_transaction_id(lpa):
    (kind, value), _ = cancel(lpa, b"\x01" * 16)
    assert (kind, value) == ("cancelSessionResponseError", 5)


def test_cancel_session_after_authentication_is_signed_and_ends_the_session(lpa, smdp, identity):
    download = lpa.authenticate(smdp)
    (kind, _), _ = cancel(lpa, b"\x07" * 16)
    assert kind == "cancelSessionResponseError"
    raw = lpa.es10(codec.encode("CancelSessionRequest", {"transactionId": download.transaction_id, "reason": 1}))
    signed, signature = children(children(parse_one(raw).value)[0].value)
    crypto.verify_plain(identity.credentials[0].euicc_cert, signature.value, signed.raw)
    assert codec.decode("EuiccCancelSessionSigned", signed.raw) == {
        "transactionId": download.transaction_id, "smdpOid": "2.999.10", "reason": 1}
    lpa.prepare(smdp, download)
    assert prepare_result(download.prepare_response)[1]["downloadErrorCode"] == 4


def test_cancel_session_during_the_load_leaves_an_interruption_pir(lpa, smdp):
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid_for(30))
    for piece in lpac_pieces(bpp)[:3]:
        assert lpa.es10(piece) == b""
    (kind, _), _ = cancel(lpa, download.transaction_id, reason=5)
    assert kind == "cancelSessionResponseOk"
    [(kind, pir)] = pending(lpa)
    result = pir["profileInstallationResultData"]["finalResult"]
    assert result == ("errorResult", {"bppCommandId": 2, "errorReason": 11})
    assert profiles(lpa) == []


def test_profile_operations_answer_cat_busy_while_a_session_is_open(lpa, smdp):
    assert pir_result(lpa.install(smdp, iccid_for(31)))[0] == "successResult"
    enable = codec.encode("EnableProfileRequest", {"profileIdentifier": ("iccid", profiles(lpa)[0]["iccid"]),
                                                   "refreshFlag": False})
    download = lpa.authenticate(smdp)
    assert codec.decode("EnableProfileResponse", lpa.es10(enable))["enableResult"] == 5
    reset = codec.encode("EuiccMemoryResetRequest", {"resetOptions": (b"\x80", 1)})
    assert codec.decode("EuiccMemoryResetResponse", lpa.es10(reset))["resetResult"] == 5
    cancel(lpa, download.transaction_id)
    assert codec.decode("EnableProfileResponse", lpa.es10(enable))["enableResult"] == 0
