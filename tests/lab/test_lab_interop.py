"""Third-party implementations against the lab: an LPA written here from the reference notes
alone (raw APDUs through pyscard, its own BER-TLV code, plain JSON over httpx; no esimflow
protocol code) downloads from the lab SM-DP+ (SGP.26 identities) into a virtual eUICC in a
vpcd reader. It varies what real LPAs vary (block size 120 like lpac, 63 like OpenEUICC, 255;
logical or basic channel; the CLA of GET RESPONSE; Le present or not), and checks on the
bytes and HTTP answers what another SM-DP+ client relies on: an 8-byte hostId, a
ReplaceSessionKeys in every package, handleNotification answered with 204."""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

import pytest
from smartcard.ATR import ATR
from smartcard.CardConnection import CardConnection
from smartcard.System import readers

from sgp22.apdu import ISDR_AID

from rsplab.euicc import VirtualEuicc
from rsplab.smdp.server import LabSmdp
from rsplab.smdp.status import ProfileStatus

from tests.lab.stack_kit import SGP26, SGP26_EID, bridged_card, new_iccid, stack_pcscd  # noqa: F401 - fixture
from tests.lab.test_lab_smdp_kit import LpaClient

pytestmark = pytest.mark.pcsc

SGP26_CI_PKID = bytes.fromhex("F54172BDF98A95D65CBEB88A38A1C11D800A85C3")
LPAC_TAC = bytes.fromhex("35290611")
MAX_SEGMENT = 1020


# --- BER-TLV, written from the notes ------------------------------------------------------------------


@dataclass
class Tlv:
    tag: int
    value: bytes
    raw: bytes
    header: bytes


def tlvs(data: bytes) -> list[Tlv]:
    found, pos = [], 0
    while pos < len(data):
        start = pos
        tag = data[pos]
        pos += 1
        if tag & 0x1F == 0x1F:
            while True:
                tag = (tag << 8) | data[pos]
                pos += 1
                if not data[pos - 1] & 0x80:
                    break
        length = data[pos]
        pos += 1
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        header_end = pos
        pos += length
        assert pos <= len(data), f"TLV {tag:X} runs past the end"
        found.append(Tlv(tag, data[header_end:pos], data[start:pos], data[start:header_end]))
    return found


def one(data: bytes, tag: int) -> Tlv:
    (item,) = tlvs(data)
    assert item.tag == tag, f"expected tag {tag:X}, got {item.tag:X}"
    return item


def child(parent: Tlv, tag: int) -> Tlv:
    return next(item for item in tlvs(parent.value) if item.tag == tag)


def tlv(tag: int, value: bytes) -> bytes:
    tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    if len(value) < 0x80:
        return tag_bytes + bytes([len(value)]) + value
    length = len(value).to_bytes((len(value).bit_length() + 7) // 8, "big")
    return tag_bytes + bytes([0x80 | len(length)]) + length + value


def swapped_bcd(iccid: str) -> bytes:
    digits = iccid + "F" * (len(iccid) % 2)
    return bytes.fromhex("".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2)))


def forged(notification: Tlv) -> bytes:
    """The notification with one bit of its eUICC signature flipped."""
    parts = [item.raw if item.tag != 0x5F37 else tlv(0x5F37, bytes([item.value[0] ^ 1]) + item.value[1:])
             for item in tlvs(notification.value)]
    return tlv(notification.tag, b"".join(parts))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


# --- the LPA ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LpaStyle:
    block_size: int
    logical_channel: bool
    terminal_capability: bool
    get_response_cla: str
    """'lpac': 0x80|channel; 'command': the CLA of the command answered 61xx (pySim); 'iso': the
    interindustry CLA of the channel (a reader driver fetching the rest itself)."""
    send_le: bool
    admin_protocol: str
    content_type: str


STYLES = {
    "lpac": LpaStyle(120, True, True, "lpac", True, "gsma/rsp/v2.2.2", "application/json"),
    "openeuicc": LpaStyle(63, True, True, "command", True, "gsma/rsp/v2.2.2", "application/json"),
    "pysim": LpaStyle(255, False, False, "command", True, "gsma/rsp/v2.5.0", "application/json"),
    "t0-driver": LpaStyle(120, True, False, "iso", False, "gsma/rsp/v2.2.0", "application/json;charset=UTF-8"),
}


@dataclass
class RawLpa:
    """A PC/SC LPA at the APDU level: T=0 connection, STORE DATA blocks, 61xx handling."""

    reader: str
    style: LpaStyle
    channel: int = 0
    chained: list[tuple[int, int]] = field(default_factory=list)
    """(bytes in the first answer, bytes in all) for each answer that needed GET RESPONSE."""

    def __post_init__(self) -> None:
        (reader,) = [r for r in readers() if str(r) == self.reader]
        self.connection = reader.createConnection()
        self.connection.connect(CardConnection.T0_protocol)

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        data, sw1, sw2 = self.connection.transmit(list(apdu))
        return bytes(data), sw1, sw2

    def exchange(self, apdu: bytes) -> bytes:
        data, sw1, sw2 = self.transmit(apdu)
        first = len(data)
        while sw1 == 0x61:
            cla = {"lpac": 0x80 | self.channel, "command": apdu[0], "iso": self.channel}[self.style.get_response_cla]
            more, sw1, sw2 = self.transmit(bytes([cla, 0xC0, 0x00, 0x00, sw2]))
            data += more
        if len(data) != first:
            self.chained.append((first, len(data)))
        assert (sw1, sw2) == (0x90, 0x00), f"{apdu[:4].hex()} answered {sw1:02X}{sw2:02X}"
        return data

    def open(self) -> "RawLpa":
        if self.style.terminal_capability:
            assert self.exchange(bytes.fromhex("80AA00000AA9088100820101830107")) == b""
        if self.style.logical_channel:
            (self.channel,) = self.exchange(bytes.fromhex("0070000001"))
        select = bytes([self.channel, 0xA4, 0x04, 0x00, len(ISDR_AID)]) + ISDR_AID
        self.exchange(select + (b"\x00" if self.style.send_le else b""))
        return self

    def close(self) -> None:
        if self.channel:
            self.exchange(bytes([0x00, 0x70, 0x80, self.channel, 0x00]))
        self.connection.disconnect()

    def es10(self, request: bytes) -> bytes:
        """One STORE DATA sequence; intermediate blocks must be answered 9000 without data."""
        size = self.style.block_size
        blocks = [request[i:i + size] for i in range(0, len(request), size)]
        for number, block in enumerate(blocks):
            last = number == len(blocks) - 1
            command = bytes([0x80 | self.channel, 0xE2, 0x91 if last else 0x11, number, len(block)]) + block
            answer = self.exchange(command + (b"\x00" if self.style.send_le else b""))
            if not last:
                assert answer == b""
        return answer

    def load_bpp(self, bpp: bytes) -> bytes:
        """LoadBoundProfilePackage in lpac's pieces; returns the ProfileInstallationResult."""
        package = one(bpp, 0xBF36)
        parts = tlvs(package.value)
        pieces = [package.header + parts[0].raw, parts[1].raw]
        for part in parts[2:]:
            if part.tag in (0xA1, 0xA3):
                pieces += [part.header] + [segment.raw for segment in tlvs(part.value)]
            else:
                pieces.append(part.raw)
        for piece in pieces:
            answer = self.es10(piece)
            if answer:
                return answer
        raise AssertionError("the eUICC sent no ProfileInstallationResult")


class Es9Json:
    """ES9+ as plain JSON over httpx (the HTTPS client of the SM-DP+ tests, CA pinned)."""

    def __init__(self, smdp: LabSmdp, style: LpaStyle) -> None:
        self.client = LpaClient(smdp)
        self.headers = {"X-Admin-Protocol": style.admin_protocol, "Content-Type": style.content_type}

    def post(self, function: str, body: dict):
        return self.client.post(f"/gsma/rsp2/es9plus/{function}", body, headers=self.headers)

    def call(self, function: str, body: dict) -> dict:
        response = self.post(function, body)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["x-admin-protocol"].startswith("gsma/rsp/v2.")
        answer = response.json()
        assert answer["header"]["functionExecutionStatus"]["status"] == "Executed-Success", answer
        return answer

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="module")
def smdp(tmp_path_factory):
    server = LabSmdp(SGP26, tmp_path_factory.mktemp("interop-smdp") / "smdp.sqlite3").start()
    yield server
    server.stop()


def test_pcsc_sees_a_t0_uicc(stack_pcscd):
    with bridged_card(VirtualEuicc(SGP26)) as reader:
        connection = next(r for r in readers() if str(r) == reader).createConnection()
        connection.connect(CardConnection.T0_protocol)
        try:
            atr = ATR(connection.getATR())
            assert atr.isT0Supported() and not atr.isT1Supported()
            assert connection.getProtocol() == CardConnection.T0_protocol
        finally:
            connection.disconnect()


@pytest.mark.parametrize("style_name", list(STYLES))
def test_a_third_party_lpa_downloads_and_notifies_with_raw_apdus_and_plain_json(smdp, stack_pcscd, style_name):
    style = STYLES[style_name]
    confirmation_code = "6062" if style_name == "openeuicc" else None
    iccid = new_iccid()
    matching_id = smdp.add_profile(iccid, confirmation_code=confirmation_code, size=5000).split("$")[2]
    es9 = Es9Json(smdp, style)
    with bridged_card(VirtualEuicc(SGP26)) as reader:
        card = RawLpa(reader, style).open()
        try:
            assert card.connection.getProtocol() == CardConnection.T0_protocol
            eid = child(one(card.es10(bytes.fromhex("BF3E035C015A")), 0xBF3E), 0x5A).value
            assert eid.hex() == SGP26_EID

            # initiateAuthentication
            info1 = card.es10(bytes.fromhex("BF2000"))
            challenge = child(one(card.es10(bytes.fromhex("BF2E00")), 0xBF2E), 0x80).value
            initiate = es9.call("initiateAuthentication", {
                "euiccChallenge": b64(challenge), "euiccInfo1": b64(info1), "smdpAddress": smdp.address})
            transaction_id = bytes.fromhex(initiate["transactionId"])
            server_signed1 = one(unb64(initiate["serverSigned1"]), 0x30)
            assert child(server_signed1, 0x80).value == transaction_id
            assert child(server_signed1, 0x81).value == challenge
            assert child(server_signed1, 0x83).value.decode() == smdp.address
            assert unb64(initiate["euiccCiPKIdToBeUsed"]) == tlv(0x04, SGP26_CI_PKID)

            # AuthenticateServer: about 1 KB back, so it arrives in 61xx / GET RESPONSE pieces
            context = tlv(0xA0, tlv(0x80, matching_id.encode()) + tlv(0xA1, tlv(0x80, LPAC_TAC) + tlv(0xA1, b"")))
            card.chained.clear()
            authenticate_server = card.es10(tlv(0xBF38, server_signed1.raw + unb64(initiate["serverSignature1"])
                                                + unb64(initiate["euiccCiPKIdToBeUsed"])
                                                + unb64(initiate["serverCertificate"]) + context))
            ((first_part, whole),) = card.chained
            assert first_part == 256 and whole == len(authenticate_server) > 256
            assert tlvs(one(authenticate_server, 0xBF38).value)[0].tag == 0xA0

            # authenticateClient
            authenticate = es9.call("authenticateClient", {
                "transactionId": initiate["transactionId"], "authenticateServerResponse": b64(authenticate_server)})
            smdp_signed2 = one(unb64(authenticate["smdpSigned2"]), 0x30)
            cc_required = child(smdp_signed2, 0x01).value == b"\xFF"
            assert cc_required == (confirmation_code is not None)
            assert child(one(unb64(authenticate["profileMetadata"]), 0xBF25), 0x5A).value == swapped_bcd(iccid)

            # PrepareDownload
            hash_cc = b""
            if cc_required:
                digest = hashlib.sha256(hashlib.sha256(confirmation_code.encode()).digest() + transaction_id).digest()
                hash_cc = tlv(0x04, digest)
            prepare = card.es10(tlv(0xBF21, smdp_signed2.raw + unb64(authenticate["smdpSignature2"]) + hash_cc
                                    + unb64(authenticate["smdpCertificate"])))
            assert tlvs(one(prepare, 0xBF21).value)[0].tag == 0xA0

            # getBoundProfilePackage: what the bytes must show
            package = es9.call("getBoundProfilePackage", {
                "transactionId": initiate["transactionId"], "prepareDownloadResponse": b64(prepare)})
            bpp = unb64(package["boundProfilePackage"])
            parts = tlvs(one(bpp, 0xBF36).value)
            assert [part.tag for part in parts] == [0xBF23, 0xA0, 0xA1, 0xA2, 0xA3]  # ReplaceSessionKeys present
            control_reference = child(parts[0], 0xA6)
            assert child(control_reference, 0x80).value == b"\x88" and child(control_reference, 0x81).value == b"\x10"
            assert len(child(control_reference, 0x84).value) == 8  # hostId
            assert [item.tag for item in tlvs(parts[3].value)] == [0x87]
            segments = tlvs(parts[4].value)
            assert len(segments) > 1 and {item.tag for item in segments} == {0x86}
            assert max(len(item.raw) for item in segments) <= MAX_SEGMENT

            # LoadBoundProfilePackage, then the installation result to the SM-DP+
            pir = card.load_bpp(bpp)
            result_data = child(one(pir, 0xBF37), 0xBF27)
            assert tlvs(child(result_data, 0xA2).value)[0].tag == 0xA0  # successResult
            seq_number = child(child(result_data, 0xBF2F), 0x80).value
            delivered = es9.post("handleNotification", {"pendingNotification": b64(pir)})
            assert (delivered.status_code, delivered.content) == (204, b"")
            assert card.es10(tlv(0xBF30, tlv(0x80, seq_number))) == bytes.fromhex("BF3003800100")
            assert smdp.status(iccid) == ProfileStatus.INSTALLED

            # enable: an OtherSignedNotification (two certificates: over 256 bytes again)
            enable = card.es10(tlv(0xBF31, tlv(0xA0, tlv(0x5A, swapped_bcd(iccid))) + tlv(0x81, b"\xFF")))
            assert enable == bytes.fromhex("BF3103800100")
            card.chained.clear()
            (pending,) = tlvs(child(one(card.es10(bytes.fromhex("BF2B00")), 0xBF2B), 0xA0).value)
            assert pending.tag == 0x30 and card.chained
            metadata = child(pending, 0xBF2F)
            assert child(metadata, 0x81).value == bytes.fromhex("0640")  # enable
            # a forged copy first, then the genuine one twice (an LPA that could not remove it retries):
            # each is answered 204, only the genuine one counts
            for notification, status in ((forged(pending), ProfileStatus.INSTALLED),
                                         (pending.raw, ProfileStatus.ENABLED), (pending.raw, ProfileStatus.ENABLED)):
                delivered = es9.post("handleNotification", {"pendingNotification": b64(notification)})
                assert (delivered.status_code, delivered.content) == (204, b"")
                assert smdp.status(iccid) == status
            assert card.es10(tlv(0xBF30, tlv(0x80, child(metadata, 0x80).value))) == bytes.fromhex("BF3003800100")
            assert child(one(card.es10(bytes.fromhex("BF2B00")), 0xBF2B), 0xA0).value == b""
            assert smdp.status(iccid) == ProfileStatus.ENABLED
        finally:
            card.close()
            es9.close()

