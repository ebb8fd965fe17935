"""The plain LPA sequences against a scripted eUICC (ES10 answers from a table of functions)
and a scripted SM-DP+ (local HTTPS): the happy path, the checks an LPA must make, and
session cancellation with the right reason whenever a step after AuthenticateServer fails."""
from __future__ import annotations

import base64
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sgp22 import codec, crypto, lpa, tlv
from sgp22.apdu import IsdrChannel
from sgp22.status_words import StatusWrongParametersError
from sgp22.errors import BadInputError, Es10ResultError, ServerAddressMismatchError, ServerResponseError
from sgp22.result_errors import MatchingIdRefusedError
from sgp22.es9 import Es9Client, Es9Config, Es11Client, TransactionMismatchError
from sgp22.es10_enums import CancelSessionReason, NotificationEvent, PprFlags, PprIds, flags_to_bits
from carddrivers.local import LocalTransport

from tests.protocol.scripted_card import Es10Applet, Sw
from tests.protocol.tls_test_server import ScriptedHttpsServer, make_pki

FQDN = "smdp.example.com"
TID = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
CHALLENGE = bytes(range(100, 116))
ICCID_CODED = bytes.fromhex("98400923000010000063")
ICCID = "89049032000001000036"
MATCHING_ID = "LAB-MATCHING-ID-0001"
CERT = bytes.fromhex("3003020101")
ES9 = "/gsma/rsp2/es9plus/"
OK = {"functionExecutionStatus": {"status": "Executed-Success"}}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def metadata_value(iccid: bytes = ICCID_CODED, ppr: PprIds = PprIds(0), owner: bytes | None = None) -> dict:
    value = {"iccid": iccid, "serviceProviderName": "Lab Operator", "profileName": "Lab 5G", "profileClass": 2}
    if ppr:
        value["profilePolicyRules"] = flags_to_bits(ppr)
    if owner:
        value["profileOwner"] = {"mccMnc": owner}
    return value


def make_bpp(metadata: dict) -> bytes:
    stored = codec.encode("StoreMetadataRequest", metadata)
    a1 = tlv.build(0xA1, b"".join(tlv.build(0x88, stored[i:i + 30] + bytes(8)) for i in range(0, len(stored), 30)))
    bf23 = tlv.build(0xBF23, bytes.fromhex("820101") + tlv.build(0x80, TID))
    a3 = tlv.build(0xA3, tlv.build(0x86, bytes(100)) + tlv.build(0x86, bytes(50)))
    return tlv.build(0xBF36, bf23 + tlv.build(0xA0, tlv.build(0x87, bytes(20))) + a1 + a3)


def pir(seq: int = 1, error: tuple[int, int] | None = None) -> bytes:
    final = ("successResult", {"aid": bytes.fromhex("A0000005591010FFFFFFFF8900001000"), "simaResponse": bytes.fromhex("3007A0053003800100")})
    if error:
        final = ("errorResult", {"bppCommandId": error[0], "errorReason": error[1]})
    return codec.encode("ProfileInstallationResult", {
        "profileInstallationResultData": {
            "transactionId": TID,
            "notificationMetadata": {"seqNumber": seq, "profileManagementOperation": flags_to_bits(NotificationEvent.install),
                                     "notificationAddress": FQDN, "iccid": ICCID_CODED},
            "smdpOid": "2.999.10", "finalResult": final},
        "euiccSignPIR": bytes(64)})


EUICC_INFO2 = {
    "profileVersion": bytes([2, 3, 1]), "svn": bytes([2, 2, 2]), "euiccFirmwareVer": bytes([1, 0, 0]),
    "extCardResource": b"", "uiccCapability": (b"\x40", 2), "rspCapability": (b"\x80", 1),
    "euiccCiPKIdListForVerification": [bytes(20)], "euiccCiPKIdListForSigning": [bytes(20)],
    "ppVersion": bytes([1, 0, 0]), "sasAcreditationNumber": "LAB",
}


class FakeEuicc:
    """Answers each ES10 request by its tag; ``overrides`` replaces the answer for a tag."""

    def __init__(self, **overrides) -> None:
        self.overrides = overrides
        self.pir = pir()
        self.rat: list = []
        self.pending: list[bytes] = []
        self.removed: list[int] = []

    def __call__(self, request: bytes):
        tag = (request[:2] if request[0] & 0x1F == 0x1F else request[:1]).hex().upper()
        if tag in self.overrides:
            answer = self.overrides[tag]
            return answer(request) if callable(answer) else answer
        if tag == "BF20":
            return codec.encode("EUICCInfo1", {"svn": bytes([2, 2, 2]), "euiccCiPKIdListForVerification": [bytes(20)],
                                              "euiccCiPKIdListForSigning": [bytes(20)]})
        if tag == "BF2E":
            return codec.encode("GetEuiccChallengeResponse", {"euiccChallenge": CHALLENGE})
        if tag == "BF38":
            request_value = codec.decode("AuthenticateServerRequest", request)
            signed = {"transactionId": request_value["serverSigned1"]["transactionId"], "serverAddress": FQDN,
                      "serverChallenge": bytes(16), "euiccInfo2": EUICC_INFO2, "ctxParams1": request_value["ctxParams1"]}
            return codec.encode("AuthenticateServerResponse", ("authenticateResponseOk", {
                "euiccSigned1": signed, "euiccSignature1": bytes(64), "euiccCertificate": CERT, "eumCertificate": CERT}))
        if tag == "BF21":
            value = codec.decode("PrepareDownloadRequest", request)
            signed2 = {"transactionId": value["smdpSigned2"]["transactionId"], "euiccOtpk": b"\x04" + bytes(64)}
            if "hashCc" in value:
                signed2["hashCc"] = value["hashCc"]
            return codec.encode("PrepareDownloadResponse", ("downloadResponseOk", {"euiccSigned2": signed2, "euiccSignature2": bytes(64)}))
        if tag in ("BF36", "A0", "A1", "A2", "A3", "86", "88"):  # bound profile package segments
            return b""
        if tag == "BF41":
            value = codec.decode("CancelSessionRequest", request)
            return codec.encode("CancelSessionResponse", ("cancelSessionResponseOk", {
                "euiccCancelSessionSigned": {"transactionId": value["transactionId"], "smdpOid": "2.999.10", "reason": value["reason"]},
                "euiccCancelSessionSignature": bytes(64)}))
        if tag == "BF30":
            self.removed.append(codec.decode("NotificationSentRequest", request)["seqNumber"])
            return bytes.fromhex("BF3003800100")
        if tag == "BF43":
            return codec.encode("GetRatResponse", {"rat": self.rat})
        if tag == "BF2B":
            return tlv.build(0xBF2B, tlv.build(0xA0, b"".join(self.pending)))
        raise AssertionError(f"unexpected request {request[:8].hex()}")


class Card:
    def __init__(self, euicc: FakeEuicc) -> None:
        self.euicc = euicc
        self.applet = Es10Applet(self._answer)

    def _answer(self, request: bytes):
        answer = self.euicc(request)
        # the last profile element segment (86 of 50 bytes) gets the PIR
        if request == tlv.build(0x86, bytes(50)):
            return self.euicc.pir
        return answer

    def requests(self, tag: str) -> list[bytes]:
        return [r for r in self.applet.requests if r[:2].hex().upper() == tag]

    def cancel_reasons(self) -> list[int]:
        return [codec.decode("CancelSessionRequest", r)["reason"] for r in self.requests("BF41")]


def initiate_answer(**changes) -> dict:
    signed1 = {"transactionId": TID, "euiccChallenge": CHALLENGE, "serverAddress": FQDN, "serverChallenge": bytes(16)}
    signed1.update(changes.pop("signed1", {}))
    answer = {"header": OK, "transactionId": TID.hex().upper(), "serverSigned1": b64(codec.encode("ServerSigned1", signed1)),
              "serverSignature1": b64(tlv.build(0x5F37, bytes(64))), "euiccCiPKIdToBeUsed": b64(tlv.build(0x04, bytes(20))),
              "serverCertificate": b64(changes.pop("certificate", CERT))}
    answer.update(changes)
    return answer


def auth_client_answer(cc_required: bool = False, metadata: dict | None = None) -> dict:
    return {"header": OK, "transactionId": TID.hex().upper(),
            "profileMetadata": b64(codec.encode("StoreMetadataRequest", metadata or metadata_value())),
            "smdpSigned2": b64(codec.encode("SmdpSigned2", {"transactionId": TID, "ccRequiredFlag": cc_required})),
            "smdpSignature2": b64(tlv.build(0x5F37, bytes(64))), "smdpCertificate": b64(CERT)}


def json_answer(body: dict, status: int = 200):
    return (status, json.dumps(body).encode(), "application/json")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("lpa-pki"), "lab", [FQDN, "smds.example.com", "other.example.com"])


@pytest.fixture(scope="module")
def server(pki):
    running = ScriptedHttpsServer(pki).start()
    yield running
    running.stop()


@pytest.fixture
def smdp(server):
    server.answers.clear()
    server.requests.clear()
    server.answers.update({
        ES9 + "initiateAuthentication": json_answer(initiate_answer()),
        ES9 + "authenticateClient": json_answer(auth_client_answer()),
        ES9 + "getBoundProfilePackage": json_answer({"header": OK, "transactionId": TID.hex().upper(),
                                                     "boundProfilePackage": b64(make_bpp(metadata_value()))}),
        ES9 + "handleNotification": (204, b"", ""),
        ES9 + "cancelSession": json_answer({"header": OK}),
    })
    return server


@pytest.fixture
def config(server, pki):
    overrides = {name: f"127.0.0.1:{server.port}" for name in (FQDN, "smds.example.com", "other.example.com")}
    return Es9Config(ca_file=pki.ca_file, connect_overrides=overrides, timeout=5)


def calls(server) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in server.requests]


def open_card(euicc: FakeEuicc | None = None) -> tuple[IsdrChannel, Card]:
    card = Card(euicc or FakeEuicc())
    return IsdrChannel(LocalTransport(card.applet)).open(), card


AC = f"LPA:1${FQDN}${MATCHING_ID}"


# --- Download ------------------------------------------------------------------------------------------


async def test_download_installs_and_delivers_the_pir(smdp, config):
    isdr, card = open_card()
    phases, segments = [], []
    async with Es9Client(FQDN, config) as es9:
        result = await lpa.download(isdr, es9, AC, on_progress=phases.append, on_segment=segments.append)
    assert result.iccid == ICCID
    assert result.transaction_id == TID.hex().upper()
    assert result.isdp_aid == "A0000005591010FFFFFFFF8900001000"
    assert result.pir_delivered and result.install.ok
    assert calls(smdp) == ["initiateAuthentication", "authenticateClient", "getBoundProfilePackage", "handleNotification"]
    assert json.loads(smdp.requests[-1].body) == {"pendingNotification": b64(card.euicc.pir)}
    assert card.euicc.removed == [1]
    assert phases == ["authenticating", "preparing", "fetching", "installing", "notifying"]
    assert segments[-1].done == segments[-1].total == 8
    # the eUICC got the matching ID and the TAC in ctxParams1
    context = codec.decode("AuthenticateServerRequest", card.requests("BF38")[0])["ctxParams1"][1]
    assert context["matchingId"] == MATCHING_ID and context["deviceInfo"]["tac"] == bytes.fromhex("35290611")
    assert card.requests("BF41") == []


async def test_activation_code_for_another_server_is_refused(smdp, config):
    isdr, card = open_card()
    async with Es9Client("other.example.com", config) as es9:
        with pytest.raises(BadInputError):
            await lpa.download(isdr, es9, AC)
    assert card.applet.requests == [] and smdp.requests == []


@pytest.mark.parametrize(
    "answer,error",
    [(initiate_answer(signed1={"serverAddress": "evil.example.com"}), ServerAddressMismatchError),
     (initiate_answer(transactionId="AA" * 16), TransactionMismatchError),
     (initiate_answer(signed1={"euiccChallenge": bytes(16)}), ServerResponseError)],
    ids=["server-address", "transaction-id", "euicc-challenge"],
)
async def test_server_signed1_is_checked_before_the_euicc_sees_it(smdp, config, answer, error):
    smdp.answers[ES9 + "initiateAuthentication"] = json_answer(answer)
    isdr, card = open_card()
    async with Es9Client(FQDN, config) as es9:
        with pytest.raises(error):
            await lpa.download(isdr, es9, AC)
    assert card.requests("BF38") == [] and card.requests("BF41") == []


async def test_refusal_after_authentication_cancels_on_card_and_server(smdp, config):
    failed = {"header": {"functionExecutionStatus": {"status": "Failed", "statusCodeData": {
        "subjectCode": "8.2.6", "reasonCode": "3.8", "message": f"unknown {MATCHING_ID}"}}}}
    smdp.answers[ES9 + "authenticateClient"] = json_answer(failed)
    isdr, card = open_card()
    async with Es9Client(FQDN, config) as es9:
        with pytest.raises(MatchingIdRefusedError) as raised:
            await lpa.download(isdr, es9, AC)
    assert MATCHING_ID not in str(raised.value)
    assert card.cancel_reasons() == [CancelSessionReason.undefinedReason]
    assert calls(smdp) == ["initiateAuthentication", "authenticateClient", "cancelSession"]
    cancel = json.loads(smdp.requests[-1].body)
    assert cancel["transactionId"] == TID.hex().upper()
    assert base64.b64decode(cancel["cancelSessionResponse"])[:2] == bytes.fromhex("BF41")


async def test_missing_confirmation_code_postpones(smdp, config):
    smdp.answers[ES9 + "authenticateClient"] = json_answer(auth_client_answer(cc_required=True))
    isdr, card = open_card()
    async with Es9Client(FQDN, config) as es9:
        with pytest.raises(lpa.ConfirmationCodeRequiredError):
            await lpa.download(isdr, es9, AC)
    assert card.cancel_reasons() == [CancelSessionReason.postponed]
    assert card.requests("BF21") == []
    assert calls(smdp)[-1] == "cancelSession"


async def test_an_activation_code_announcing_a_confirmation_code_postpones_without_one(smdp, config):
    """As in the engine, the activation code's flag asks for the code even if smdpSigned2 does not."""
    isdr, card = open_card()
    async with Es9Client(FQDN, config) as es9:
        with pytest.raises(lpa.ConfirmationCodeRequiredError):
            await lpa.download(isdr, es9, AC + "$$1")
    assert card.cancel_reasons() == [CancelSessionReason.postponed] and card.requests("BF21") == []


async def test_confirmation_code_goes_to_the_euicc_as_hash_cc_only(smdp, config):
    smdp.answers[ES9 + "authenticateClient"] = json_answer(auth_client_answer(cc_required=True))
    isdr, card = open_card()
    async with Es9Client(FQDN, config) as es9:
        await lpa.download(isdr, es9, AC, confirmation_code="1234")
    (prepare,) = card.requests("BF21")
    assert codec.decode("PrepareDownloadRequest", prepare)["hashCc"] == crypto.hash_confirmation_code("1234", TID)
    assert b"1234" not in b"".join(r.body for r in smdp.requests)


async def test_bpp_with_other_metadata_is_cancelled_as_metadata_mismatch(smdp, config):
    other = metadata_value(iccid=bytes.fromhex("98440000000000000031"))
    smdp.answers[ES9 + "getBoundProfilePackage"] = json_answer(
        {"header": OK, "transactionId": TID.hex().upper(), "boundProfilePackage": b64(make_bpp(other))})
    isdr, card = open_card()
    async with Es9Client(FQDN, config) as es9:
        with pytest.raises(lpa.MetadataMismatchError):
            await lpa.download(isdr, es9, AC)
    assert card.cancel_reasons() == [CancelSessionReason.metadataMismatch]
    assert card.requests("BF36") == []


async def test_card_failure_during_install_cancels_as_load_bpp_execution_error(smdp, config):
    euicc = FakeEuicc(A0=Sw(0x6A80))
    isdr, card = open_card(euicc)
    async with Es9Client(FQDN, config) as es9:
        with pytest.raises(StatusWrongParametersError):
            await lpa.download(isdr, es9, AC)
    assert card.cancel_reasons() == [CancelSessionReason.loadBppExecutionError]
    assert calls(smdp)[-1] == "cancelSession"


async def test_failed_installation_is_raised_after_its_pir_was_delivered(smdp, config):
    euicc = FakeEuicc()
    euicc.pir = pir(seq=4, error=(1, 9))
    isdr, card = open_card(euicc)
    async with Es9Client(FQDN, config) as es9:
        with pytest.raises(Es10ResultError) as raised:
            await lpa.download(isdr, es9, AC)
    assert raised.value.result_name == "installFailedDueToIccidAlreadyExistsOnEuicc"
    assert calls(smdp)[-1] == "handleNotification" and euicc.removed == [4]
    assert card.requests("BF41") == []  # the PIR ended the session: nothing to cancel


async def test_pir_that_cannot_be_delivered_stays_on_the_card(smdp, config):
    smdp.answers[ES9 + "handleNotification"] = json_answer({"header": OK}, status=503)
    isdr, card = open_card()
    async with Es9Client(FQDN, config) as es9:
        result = await lpa.download(isdr, es9, AC)
    assert result.iccid == ICCID and not result.pir_delivered
    assert card.euicc.removed == []


async def test_a_failing_cancellation_does_not_hide_the_original_error(smdp, config):
    smdp.answers[ES9 + "authenticateClient"] = json_answer(auth_client_answer(cc_required=True))
    euicc = FakeEuicc(BF41=bytes.fromhex("BF4103810105"))
    isdr, card = open_card(euicc)
    async with Es9Client(FQDN, config) as es9:
        with pytest.raises(lpa.ConfirmationCodeRequiredError):
            await lpa.download(isdr, es9, AC)
    assert "cancelSession" not in calls(smdp)


# --- Policy rules ----------------------------------------------------------------------------------------


def rat_rule(ppr: PprIds, operator: bytes, consent: bool) -> dict:
    return {"pprIds": flags_to_bits(ppr), "allowedOperators": [{"mccMnc": operator}],
            "pprFlags": flags_to_bits(PprFlags.consentRequired if consent else PprFlags(0))}


@pytest.mark.parametrize(
    "rat,accept,outcome",
    [([], False, CancelSessionReason.pprNotAllowed),
     ([rat_rule(PprIds.ppr1, bytes.fromhex("21F354"), False)], False, CancelSessionReason.pprNotAllowed),
     ([rat_rule(PprIds.ppr2, bytes.fromhex("62F210"), False)], False, CancelSessionReason.pprNotAllowed),
     ([rat_rule(PprIds.ppr1, bytes.fromhex("62F210"), True)], False, CancelSessionReason.pprNotAllowed),
     ([rat_rule(PprIds.ppr1, bytes.fromhex("62F210"), True)], True, None),
     ([rat_rule(PprIds.ppr1 | PprIds.ppr2, bytes.fromhex("EEEEEE"), False)], False, None)],
    ids=["empty-rat", "other-operator", "other-rule", "consent-needed", "consent-given", "wildcard"],
)
async def test_policy_rules_are_checked_against_the_rat(smdp, config, rat, accept, outcome):
    metadata = metadata_value(ppr=PprIds.ppr1, owner=bytes.fromhex("62F210"))
    smdp.answers[ES9 + "authenticateClient"] = json_answer(auth_client_answer(metadata=metadata))
    smdp.answers[ES9 + "getBoundProfilePackage"] = json_answer(
        {"header": OK, "transactionId": TID.hex().upper(), "boundProfilePackage": b64(make_bpp(metadata))})
    euicc = FakeEuicc()
    euicc.rat = rat
    isdr, card = open_card(euicc)
    async with Es9Client(FQDN, config) as es9:
        if outcome is None:
            assert (await lpa.download(isdr, es9, AC, accept_policy_rules=accept)).iccid == ICCID
            assert card.requests("BF41") == []
        else:
            with pytest.raises(lpa.PolicyRulesNotAllowedError):
                await lpa.download(isdr, es9, AC, accept_policy_rules=accept)
            assert card.cancel_reasons() == [outcome]


# --- SM-DP+ OID from the activation code ------------------------------------------------------------------


def dpauth_like_certificate(oid: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DPauth")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.RegisteredID(x509.ObjectIdentifier(oid))]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("oid,ok", [("2.999.10", True), ("2.999.11", False)])
async def test_smdp_oid_in_the_activation_code_must_match_the_certificate(smdp, config, oid, ok):
    smdp.answers[ES9 + "initiateAuthentication"] = json_answer(initiate_answer(certificate=dpauth_like_certificate(oid)))
    isdr, card = open_card()
    async with Es9Client(FQDN, config) as es9:
        if ok:
            await lpa.download(isdr, es9, f"{AC}$2.999.10")
        else:
            with pytest.raises(ServerAddressMismatchError):
                await lpa.download(isdr, es9, f"{AC}$2.999.10")
            assert card.requests("BF38") == []


# --- Notifications ------------------------------------------------------------------------------------------


def other_notification(seq: int, address: str) -> bytes:
    return codec.encode("OtherSignedNotification", {
        "tbsOtherNotification": {"seqNumber": seq, "profileManagementOperation": flags_to_bits(NotificationEvent.enable),
                                 "notificationAddress": address, "iccid": ICCID_CODED},
        "euiccNotificationSignature": bytes(64), "euiccCertificate": CERT, "eumCertificate": CERT})


async def test_process_notifications_delivers_each_to_its_address_and_keeps_failures(smdp, config):
    euicc = FakeEuicc()
    euicc.pending = [pir(seq=3), other_notification(5, "other.example.com"), other_notification(6, FQDN)]
    smdp.answers[ES9 + "handleNotification"] = lambda body: (
        (500, b"", "") if base64.b64decode(json.loads(body)["pendingNotification"]) == euicc.pending[1] else (204, b"", ""))
    isdr, card = open_card(euicc)
    outcomes = await lpa.process_notifications(isdr, lambda address: Es9Client(address, config))
    assert [(o.seq_number, o.event, o.address, o.delivered) for o in outcomes] == [
        (3, "install", FQDN, True), (5, "enable", "other.example.com", False), (6, "enable", FQDN, True)]
    assert outcomes[1].error_kind == "server.http"
    assert euicc.removed == [3, 6]
    hosts = [r.headers["host"] for r in smdp.requests]
    assert hosts == [FQDN, "other.example.com", FQDN]


async def test_process_notifications_for_chosen_sequence_numbers(smdp, config):
    euicc = FakeEuicc()
    euicc.pending = [pir(seq=3), other_notification(5, FQDN)]
    isdr, _ = open_card(euicc)
    outcomes = await lpa.process_notifications(isdr, lambda address: Es9Client(address, config), seq_numbers=[5])
    assert [o.seq_number for o in outcomes] == [5] and euicc.removed == [5]


# --- SM-DS ------------------------------------------------------------------------------------------------


async def test_discover_events_at_an_smds(smdp, config):
    signed1 = {"serverAddress": "smds.example.com"}
    smdp.answers["/gsma/rsp2/es11/initiateAuthentication"] = json_answer(initiate_answer(signed1=signed1))
    smdp.answers["/gsma/rsp2/es11/authenticateClient"] = json_answer(
        {"header": OK, "eventEntries": [{"eventId": "EVT-1", "rspServerAddress": FQDN}]})
    isdr, card = open_card()
    async with Es11Client("smds.example.com", config) as es11:
        events = await lpa.discover(isdr, es11)
    assert [(e.event_id, e.rsp_server_address) for e in events] == [("EVT-1", FQDN)]
    context = codec.decode("AuthenticateServerRequest", card.requests("BF38")[0])["ctxParams1"][1]
    assert "matchingId" not in context
    assert card.cancel_reasons() == [CancelSessionReason.undefinedReason], "the session an SM-DS leaves open is ended"


# --- Step data stays free of secrets in reprs ------------------------------------------------------------


def test_step_results_keep_signed_blobs_out_of_reprs():
    auth = lpa.AuthResult(transaction_id="AA", authenticate_server_response=MATCHING_ID.encode().hex())
    assert MATCHING_ID.encode().hex() not in repr(auth)
