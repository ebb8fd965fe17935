"""A field LPA against ``esimflow lab up``, the way the lab is met outside this project: a
process started from the command line, one virtual eUICC in a vpcd reader through pcscd, the
SM-DP+ and the SM-DS on their own addresses, profiles added with ``esimflow lab smdp``.

The LPA shares no code with esimflow's client: raw APDUs through pyscard over T=0 only, STORE
DATA cut at 120 bytes in short APDUs (no Le: T=0 fetches answers with GET RESPONSE), its own
BER-TLV from the reference notes (``test_lab_interop``), JSON over httpx. It keeps the habits
of common field LPAs: it never reads a handleNotification body (the status alone), it cancels
every failed download with endUserRejection on the card and at the SM-DP+, and it discovers
through the ``/gsma/rsp2/es9plus/`` paths of the SM-DS address.
"""
from __future__ import annotations

import hashlib
import json
import ssl
import subprocess
from dataclasses import dataclass, field

import httpx
import pytest
from smartcard.CardConnection import CardConnection

from tests.lab.stack_kit import new_iccid
from tests.lab.test_lab_interop import LpaStyle, RawLpa, b64, child, one, swapped_bcd, tlv, tlvs, unb64
from tests.lab.test_lab_up import ESIMFLOW, interrupt, read_json_document, start

pytestmark = [pytest.mark.pcsc, pytest.mark.slow]

FIELD_STYLE = LpaStyle(block_size=120, logical_channel=True, terminal_capability=True, get_response_cla="lpac",
                       send_le=False, admin_protocol="gsma/rsp/v2.2.2", content_type="application/json")
SHORT_APDU = 5 + 255
END_USER_REJECTION = 0
DEVICE_INFO = tlv(0xA1, tlv(0x80, bytes.fromhex("35290611")) + tlv(0xA1, b""))
OPERATIONS = {bytes.fromhex("0780"): "install", bytes.fromhex("0640"): "enable", bytes.fromhex("0520"): "disable",
              bytes.fromhex("0410"): "delete"}


class Refused(Exception):
    """An ES9+/ES11 function answered Failed."""

    def __init__(self, function: str, codes: tuple[str, str]) -> None:
        super().__init__(f"{function} failed with {codes[0]}/{codes[1]}")
        self.codes = codes


@dataclass
class T0Card(RawLpa):
    """The card side: every APDU recorded, so the test can say they were all short."""

    sent: list[bytes] = field(default_factory=list)

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        self.sent.append(apdu)
        return super().transmit(apdu)


class Servers:
    """HTTPS to the lab's servers by the addresses it printed, trusting only its CA file."""

    def __init__(self, summary: dict) -> None:
        self.http = httpx.Client(verify=ssl.create_default_context(cafile=summary["smdp"]["ca_file"]),
                                 trust_env=False, timeout=30)
        self.connect = {summary["smdp"]["address"]: summary["smdp"]["connect"],
                        summary["smds"]["address"]: summary["smds"]["connect"]}

    def post(self, address: str, function: str, body: dict) -> httpx.Response:
        host = address.rsplit(":", 1)[0]
        return self.http.post(f"https://{self.connect[address]}/gsma/rsp2/es9plus/{function}", json=body,
                              headers={"X-Admin-Protocol": FIELD_STYLE.admin_protocol, "Host": address,
                                       "User-Agent": "gsma-rsp-lpad"},
                              extensions={"sni_hostname": host})

    def call(self, address: str, function: str, body: dict) -> dict:
        answer = self.post(address, function, body).json()
        status = answer["header"]["functionExecutionStatus"]
        if status["status"] != "Executed-Success":
            data = status.get("statusCodeData", {})
            raise Refused(function, (data.get("subjectCode"), data.get("reasonCode")))
        return answer

    def close(self) -> None:
        self.http.close()


@dataclass
class FieldLpa:
    card: T0Card
    servers: Servers
    delivered: list[tuple[str, int]] = field(default_factory=list)
    cancellations: list[int] = field(default_factory=list)

    def authenticate(self, address: str, matching_id: str | None, address_field: str) -> tuple[dict, bytes]:
        """Common mutual authentication: (the server's authenticateClient answer, transaction ID)."""
        info1 = self.card.es10(bytes.fromhex("BF2000"))
        challenge = child(one(self.card.es10(bytes.fromhex("BF2E00")), 0xBF2E), 0x80).value
        initiate = self.servers.call(address, "initiateAuthentication", {
            "euiccChallenge": b64(challenge), "euiccInfo1": b64(info1), address_field: address})
        signed1 = one(unb64(initiate["serverSigned1"]), 0x30)
        assert child(signed1, 0x83).value.decode() == address, "serverSigned1 names the server asked"
        context = tlv(0x80, matching_id.encode()) if matching_id is not None else b""
        response = self.card.es10(tlv(0xBF38, signed1.raw + unb64(initiate["serverSignature1"])
                                      + unb64(initiate["euiccCiPKIdToBeUsed"]) + unb64(initiate["serverCertificate"])
                                      + tlv(0xA0, context + DEVICE_INFO)))
        transaction_id = bytes.fromhex(initiate["transactionId"])
        try:
            answer = self.servers.call(address, "authenticateClient", {
                "transactionId": initiate["transactionId"], "authenticateServerResponse": b64(response)})
        except Refused:
            self.cancel(address, transaction_id, END_USER_REJECTION)
            raise
        return answer, transaction_id

    def discover(self, smds_address: str) -> list[dict]:
        answer, _ = self.authenticate(smds_address, None, "smdsAddress")
        return answer["eventEntries"]

    def download(self, smdp_address: str, matching_id: str, confirmation_code: str | None = None) -> bytes:
        """Install one profile; any failure after authentication is cancelled with endUserRejection."""
        authenticated, transaction_id = self.authenticate(smdp_address, matching_id, "smdpAddress")
        try:
            signed2 = one(unb64(authenticated["smdpSigned2"]), 0x30)
            hash_cc = b""
            if child(signed2, 0x01).value == b"\xFF":
                code = hashlib.sha256(hashlib.sha256((confirmation_code or "").encode()).digest()
                                      + transaction_id).digest()
                hash_cc = tlv(0x04, code)
            prepared = self.card.es10(tlv(0xBF21, signed2.raw + unb64(authenticated["smdpSignature2"]) + hash_cc
                                          + unb64(authenticated["smdpCertificate"])))
            package = self.servers.call(smdp_address, "getBoundProfilePackage", {
                "transactionId": transaction_id.hex().upper(), "prepareDownloadResponse": b64(prepared)})
        except Refused:
            self.cancel(smdp_address, transaction_id, END_USER_REJECTION)
            raise
        result = self.card.load_bpp(unb64(package["boundProfilePackage"]))
        final = child(child(one(result, 0xBF37), 0xBF27), 0xA2)
        assert tlvs(final.value)[0].tag == 0xA0, "successResult"
        return result

    def cancel(self, address: str, transaction_id: bytes, reason: int) -> tuple[str, str] | None:
        """CancelSession on the card, then at the server; the server's refusal is returned (it
        may have ended the session itself), never raised."""
        response = self.card.es10(tlv(0xBF41, tlv(0x80, transaction_id) + tlv(0x81, bytes([reason]))))
        assert tlvs(one(response, 0xBF41).value)[0].tag == 0xA0, "the eUICC signed the cancellation"
        self.cancellations.append(reason)
        try:
            self.servers.call(address, "cancelSession", {
                "transactionId": transaction_id.hex().upper(), "cancelSessionResponse": b64(response)})
        except Refused as refused:
            return refused.codes
        return None

    def profile_command(self, tag: int, iccid: str, refresh: bool = True) -> int:
        identifier = tlv(0x5A, swapped_bcd(iccid))
        body = identifier if tag == 0xBF33 else tlv(0xA0, identifier) + tlv(0x81, b"\xFF" if refresh else b"\x00")
        return child(one(self.card.es10(tlv(tag, body)), tag), 0x80).value[0]

    def set_nickname(self, iccid: str, nickname: str) -> int:
        answer = self.card.es10(tlv(0xBF29, tlv(0x5A, swapped_bcd(iccid)) + tlv(0x90, nickname.encode())))
        return child(one(answer, 0xBF29), 0x80).value[0]

    def profiles(self) -> dict[bytes, dict[int, bytes]]:
        listed = child(one(self.card.es10(bytes.fromhex("BF2D00")), 0xBF2D), 0xA0)
        return {child(info, 0x5A).value: {item.tag: item.value for item in tlvs(info.value)}
                for info in tlvs(listed.value)}

    def deliver_notifications(self) -> None:
        """Every pending notification to its address; removed from the card once answered 204."""
        pending = tlvs(child(one(self.card.es10(bytes.fromhex("BF2B00")), 0xBF2B), 0xA0).value)
        for notification in pending:
            metadata = child(notification, 0xBF2F) if notification.tag == 0x30 else \
                child(child(notification, 0xBF27), 0xBF2F)
            seq = child(metadata, 0x80).value
            address = child(metadata, 0x0C).value.decode()
            response = self.servers.post(address, "handleNotification", {"pendingNotification": b64(notification.raw)})
            assert response.status_code == 204  # the body is never read: field LPAs look at the status only
            assert self.card.es10(tlv(0xBF30, tlv(0x80, seq))) == bytes.fromhex("BF3003800100")
            self.delivered.append((OPERATIONS[child(metadata, 0x81).value], int.from_bytes(seq, "big")))


def lab_cli(*args: str) -> dict | list:
    in_clear = ["--show-secrets"] if args[0] in ("add-profile", "reissue") else []  # the activation codes
    result = subprocess.run([ESIMFLOW, "lab", "smdp", *args, "--json", *in_clear], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """``esimflow lab up`` with one eUICC in a vpcd reader; (summary, inventory file)."""
    from rsplab import pcscd

    pcscd.ensure_pcscd()
    root = tmp_path_factory.mktemp("field-lab")
    process = start([ESIMFLOW, "lab", "up", "--state", str(root / "lab"), "--vpcd", "1", "--profiles", "1",
                     "--smdp-port", "0", "--smds-port", "0", "--reader-wait", "240", "--json"], root)
    try:
        summary = read_json_document(process)
        yield summary, str(root / "lab" / "smdp.sqlite3")
    finally:
        code, stderr = interrupt(process)
        assert code == 0, stderr


@pytest.fixture
def lpa(lab):
    summary, _ = lab
    card = T0Card(summary["euiccs"][0]["reader"], FIELD_STYLE)
    servers = Servers(summary)
    assert card.connection.getProtocol() == CardConnection.T0_protocol
    field_lpa = FieldLpa(card.open(), servers)
    yield field_lpa
    card.close()
    servers.close()
    assert all(len(apdu) <= SHORT_APDU for apdu in card.sent), "short APDUs only"
    blocks = [apdu for apdu in card.sent if apdu[1] == 0xE2]
    assert blocks and all(apdu[4] <= FIELD_STYLE.block_size and len(apdu) == 5 + apdu[4] for apdu in blocks)
    assert any(apdu[2] == 0x11 for apdu in blocks), "requests over 120 bytes went in several blocks"


def status(db: str, iccid: str) -> str:
    return next(p["status"] for p in lab_cli("list", "--db", db) if p["iccid"] == iccid)


def test_discovery_download_and_the_whole_life_of_a_profile(lab, lpa):
    summary, db = lab
    eid = summary["euiccs"][0]["eid"]
    smdp, smds = summary["smdp"]["address"], summary["smds"]["address"]
    iccid = new_iccid()
    added = lab_cli("add-profile", "--db", db, "--iccid", iccid, "--eid", eid, "--single-use", "--name", "Field event")

    # discovery: the eUICC's root SM-DS is the lab SM-DS, on an address of its own; ES11 on its
    # es9plus paths; the event names the SM-DP+
    addresses = one(lpa.card.es10(bytes.fromhex("BF3C00")), 0xBF3C)
    assert child(addresses, 0x81).value.decode() == smds != smdp
    (event,) = lpa.discover(child(addresses, 0x81).value.decode())
    assert event == {"eventId": added["activationCode"].split("$")[2], "rspServerAddress": smdp}

    lpa.download(event["rspServerAddress"], event["eventId"])
    lpa.deliver_notifications()
    assert status(db, iccid) == "INSTALLED"
    assert swapped_bcd(iccid) in lpa.profiles()

    assert lpa.set_nickname(iccid, "field phone") == 0
    assert lpa.profiles()[swapped_bcd(iccid)][0x90] == b"field phone"
    assert lpa.set_nickname(iccid, "") == 0
    assert 0x90 not in lpa.profiles()[swapped_bcd(iccid)], "an empty nickname clears it"

    for tag, expected in ((0xBF31, "ENABLED"), (0xBF32, "DISABLED"), (0xBF33, "DELETED")):
        assert lpa.profile_command(tag, iccid) == 0
        lpa.deliver_notifications()
        assert status(db, iccid) == expected
    assert swapped_bcd(iccid) not in lpa.profiles()
    assert [operation for operation, _ in lpa.delivered] == ["install", "enable", "disable", "delete"]
    history = lab_cli("history", "--db", db, iccid)
    assert [c["to"] for c in history if c["from"] != c["to"]] == [
        "AVAILABLE", "DOWNLOADED", "INSTALLED", "ENABLED", "DISABLED", "DELETED"]
    assert not any(change["error"] for change in history)
    assert lpa.cancellations == []


def test_a_mistyped_confirmation_code_then_the_right_one(lab, lpa):
    summary, db = lab
    smdp = summary["smdp"]["address"]
    iccid = new_iccid()
    added = lab_cli("add-profile", "--db", db, "--iccid", iccid, "--confirmation-code", "4711")
    matching_id = added["activationCode"].split("$")[2]

    with pytest.raises(Refused) as refused:
        lpa.download(smdp, matching_id, confirmation_code="1234")
    assert refused.value.codes == ("8.2.7", "3.8")
    assert lpa.cancellations == [END_USER_REJECTION]
    assert status(db, iccid) == "AVAILABLE", "endUserRejection after a refused code leaves the order usable"
    why = lab_cli("history", "--db", db, iccid)[-1]
    assert why["event"] == "cancel_session" and "after a refused confirmation code" in why["reason"]

    lpa.download(smdp, matching_id, confirmation_code="4711")
    lpa.deliver_notifications()
    assert status(db, iccid) == "INSTALLED"
    assert lpa.profile_command(0xBF33, iccid) == 0
    lpa.deliver_notifications()


def test_an_order_the_user_rejects_ends(lab, lpa):
    summary, db = lab
    smdp = summary["smdp"]["address"]
    iccid = new_iccid()
    matching_id = lab_cli("add-profile", "--db", db, "--iccid", iccid)["activationCode"].split("$")[2]
    _, transaction_id = lpa.authenticate(smdp, matching_id, "smdpAddress")
    lpa.cancel(smdp, transaction_id, END_USER_REJECTION)
    assert status(db, iccid) == "CANCELED"
    with pytest.raises(Refused) as refused:
        lpa.authenticate(smdp, matching_id, "smdpAddress")
    assert refused.value.codes == ("8.2.6", "3.8")
    assert lpa.cancellations == [END_USER_REJECTION, END_USER_REJECTION]
