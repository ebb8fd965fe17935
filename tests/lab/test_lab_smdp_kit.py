"""Test support for the lab SM-DP+ tests: a software eUICC that signs what a card would sign,
and an HTTPS client that talks ES9+/ES11 the way third-party LPAs do (no esimflow client
quirks). Kept here rather than in conftest so each test module says what it uses."""
from __future__ import annotations

import base64
import hashlib
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sgp22 import certs, codec, crypto, tlv
from sgp22.profile_package import encode_iccid
from sgp22.identifiers import Iccid

from rsplab import pki

SGP26 = Path("/work/shared/reference/sgp26")
LPA_HEADERS = {"X-Admin-Protocol": "gsma/rsp/v2.2.2", "Content-Type": "application/json",
               "User-Agent": "gsma-rsp-lpad"}
DEVICE_INFO = {"tac": b"\x35\x29\x06\x11", "deviceCapabilities": {}}
PPR_FORBIDDEN_NONE = None


def iccid_for(number: int) -> str:
    return Iccid.with_check_digit(f"894900000000{number:07d}").digits


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


@dataclass
class SoftEuicc:
    """The card side of a download, with real keys: signs euiccSigned1/2, PIRs, notifications."""

    euicc_certificate: bytes
    eum_certificate: bytes
    key: object = field(repr=False)
    ci_pkids: tuple[bytes, ...]
    test_profiles: bool = True
    forbidden_pprs: tuple[bytes, int] | None = None
    svn: bytes = b"\x02\x02\x02"
    seq: int = 0

    @classmethod
    def from_dir(cls, identities_dir, eid: str | None = None, **options) -> "SoftEuicc":
        ids = pki.load(identities_dir)
        identity = ids.euicc if eid is None else ids.euicc_identity(eid)
        return cls(identity.der, ids.eum.der, identity.private_key, (ids.ci_pkid,), **options)

    @property
    def eid(self) -> str:
        return certs.eid_of(certs.load_certificate(self.euicc_certificate))

    def info1(self, *, for_signing=None, for_verification=None, svn=None) -> bytes:
        return codec.encode("EUICCInfo1", {
            "svn": svn or self.svn,
            "euiccCiPKIdListForVerification": list(for_verification if for_verification is not None else self.ci_pkids),
            "euiccCiPKIdListForSigning": list(for_signing if for_signing is not None else self.ci_pkids),
        })

    def info2(self) -> dict:
        value = {
            "profileVersion": b"\x02\x03\x00", "svn": self.svn, "euiccFirmwareVer": b"\x01\x00\x00",
            "extCardResource": bytes.fromhex("810100820400010000830400010000"),
            "uiccCapability": (b"\x7f\x00\x00", 17),
            "rspCapability": (b"\xd0", 4) if self.test_profiles else (b"\xc0", 2),
            "euiccCiPKIdListForVerification": list(self.ci_pkids),
            "euiccCiPKIdListForSigning": list(self.ci_pkids),
            "ppVersion": b"\x00\x00\x01", "sasAcreditationNumber": "LAB-SAS",
        }
        if self.forbidden_pprs is not None:
            value["forbiddenProfilePolicyRules"] = self.forbidden_pprs
        return value

    def authenticate_server_response(self, initiate: dict, *, matching_id: str | None = None,
                                     server_challenge: bytes | None = None, transaction_id: bytes | None = None,
                                     corrupt_signature: bool = False) -> bytes:
        signed1 = codec.decode("ServerSigned1", unb64(initiate["serverSigned1"]))
        context = {"deviceInfo": DEVICE_INFO}
        if matching_id is not None:
            context["matchingId"] = matching_id
        euicc_signed1 = codec.encode("EuiccSigned1", {
            "transactionId": transaction_id or signed1["transactionId"],
            "serverAddress": signed1["serverAddress"],
            "serverChallenge": server_challenge or signed1["serverChallenge"],
            "euiccInfo2": self.info2(),
            "ctxParams1": ("ctxParamsForCommonAuthentication", context),
        })
        signature = crypto.sign_plain(self.key, euicc_signed1)
        if corrupt_signature:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        ok = euicc_signed1 + tlv.build(0x5F37, signature) + self.euicc_certificate + self.eum_certificate
        return tlv.build(0xBF38, tlv.build(0xA0, ok))

    def prepare_download_response(self, authenticate: dict, *, confirmation_code: str | None = None,
                                  hash_cc: bytes | None = None, transaction_id: bytes | None = None,
                                  otsk=None, corrupt_signature: bool = False):
        """(BF21, otSK.EUICC); the hashCc comes from ``confirmation_code`` unless given."""
        smdp_signed2 = codec.decode("SmdpSigned2", unb64(authenticate["smdpSigned2"]))
        dppb = certs.load_certificate(unb64(authenticate["smdpCertificate"]))
        otsk = otsk or crypto.generate_ephemeral(dppb)
        tid = bytes.fromhex(authenticate["transactionId"])
        signed2 = {"transactionId": transaction_id or smdp_signed2["transactionId"],
                   "euiccOtpk": crypto.public_point(otsk)}
        if hash_cc is None and confirmation_code is not None:
            hash_cc = crypto.hash_confirmation_code(confirmation_code, tid)
        if hash_cc is not None:
            signed2["hashCc"] = hash_cc
        raw_signed2 = codec.encode("EUICCSigned2", signed2)
        signature = crypto.sign_plain(self.key, raw_signed2 + unb64(authenticate["smdpSignature2"]))
        if corrupt_signature:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        return tlv.build(0xBF21, tlv.build(0xA0, raw_signed2 + tlv.build(0x5F37, signature))), otsk

    def installation_result(self, transaction_id: bytes, iccid: str, smdp_oid: str, address: str, *,
                            success: bool = True, corrupt_signature: bool = False) -> bytes:
        self.seq += 1
        result = (("successResult", {"aid": bytes.fromhex("A0000005591010FFFFFFFF8900001000"),
                                     "simaResponse": bytes.fromhex("3007A0053003800100")}) if success
                  else ("errorResult", {"bppCommandId": 5, "errorReason": 10}))
        data = codec.encode("ProfileInstallationResultData", {
            "transactionId": transaction_id,
            "notificationMetadata": {"seqNumber": self.seq, "profileManagementOperation": (b"\x80", 1),
                                     "notificationAddress": address, "iccid": encode_iccid(iccid)},
            "smdpOid": smdp_oid,
            "finalResult": result,
        })
        signature = crypto.sign_plain(self.key, data)
        if corrupt_signature:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        return tlv.build(0xBF37, data + tlv.build(0x5F37, signature))

    def notification(self, operation: str, iccid: str, address: str) -> bytes:
        self.seq += 1
        bit = {"enable": (b"\x40", 2), "disable": (b"\x20", 3), "delete": (b"\x10", 4)}[operation]
        metadata = codec.encode("NotificationMetadata", {
            "seqNumber": self.seq, "profileManagementOperation": bit, "notificationAddress": address,
            "iccid": encode_iccid(iccid)})
        signature = crypto.sign_plain(self.key, metadata)
        return tlv.build(0x30, metadata + tlv.build(0x5F37, signature) + self.euicc_certificate + self.eum_certificate)

    def cancel_session_response(self, transaction_id: bytes, reason: int, smdp_oid: str, *,
                                corrupt_signature: bool = False) -> bytes:
        signed = codec.encode("EuiccCancelSessionSigned", {"transactionId": transaction_id, "smdpOid": smdp_oid,
                                                           "reason": reason})
        signature = crypto.sign_plain(self.key, signed)
        if corrupt_signature:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        return tlv.build(0xBF41, tlv.build(0xA0, signed + tlv.build(0x5F37, signature)))


class LpaClient:
    """ES9+/ES11 over HTTPS the way a third-party LPA sends them (httpx, CA pinned to the lab CA)."""

    def __init__(self, smdp) -> None:
        context = ssl.create_default_context(cafile=str(smdp.ca_file))
        self.smdp = smdp
        self.http = httpx.Client(verify=context, trust_env=False, timeout=30)

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, body, *, headers=None, raw: bytes | None = None, smds: bool = False) -> httpx.Response:
        """POST to the SM-DP+, or with ``smds`` to the lab SM-DS (its own port and address)."""
        port, address = (self.smdp.smds_port, self.smdp.smds_address) if smds else (self.smdp.port, self.smdp.address)
        url = f"https://127.0.0.1:{port}{path}"
        content = raw if raw is not None else httpx.Request("POST", url, json=body).content
        return self.http.post(url, content=content, headers={**LPA_HEADERS, "Host": address, **(headers or {})},
                              extensions={"sni_hostname": self.smdp.fqdn})

    def es9(self, function: str, body: dict) -> dict:
        response = self.post(f"/gsma/rsp2/es9plus/{function}", body)
        assert response.status_code == 200, response.text
        assert response.headers["x-admin-protocol"].startswith("gsma/rsp/v2.")
        assert response.headers["content-type"].startswith("application/json")
        return response.json()

    def es11(self, function: str, body: dict, *, path_group: str = "es11") -> dict:
        """ES11 at the SM-DS, under ``/gsma/rsp2/es11/`` or (as field LPAs post it) ``es9plus``."""
        response = self.post(f"/gsma/rsp2/{path_group}/{function}", body, smds=True)
        assert response.status_code == 200, response.text
        return response.json()

    def admin(self, method: str, path: str, body=None, *, token: str | None = None, port: int | None = None,
              raw: bytes | None = None) -> httpx.Response:
        """The admin API on its own port with the server's bearer token (or the ones given)."""
        url = f"https://127.0.0.1:{port or self.smdp.admin_port}/lab/admin{path}"
        headers = {"Host": self.smdp.address, "Authorization": f"Bearer {token or self.smdp.admin_token}"}
        if raw is not None:
            return self.http.request(method, url, content=raw, headers=headers,
                                     extensions={"sni_hostname": self.smdp.fqdn})
        return self.http.request(method, url, json=body, headers=headers, extensions={"sni_hostname": self.smdp.fqdn})


def status_of(answer: dict) -> str:
    return answer["header"]["functionExecutionStatus"]["status"]


def codes(answer: dict) -> tuple[str, str]:
    status = answer["header"]["functionExecutionStatus"]
    assert status["status"] == "Failed", answer
    return status["statusCodeData"]["subjectCode"], status["statusCodeData"]["reasonCode"]


@dataclass
class Download:
    """One download driven step by step, keeping what each step returned."""

    lpa: LpaClient
    euicc: SoftEuicc
    initiate: dict | None = None
    authenticate: dict | None = None
    bpp: dict | None = None
    otsk: object = None

    @property
    def transaction_id(self) -> bytes:
        return bytes.fromhex(self.initiate["transactionId"])

    def initiate_authentication(self, **info1) -> dict:
        self.initiate = self.lpa.es9("initiateAuthentication", {
            "euiccChallenge": b64(os.urandom(16)), "euiccInfo1": b64(self.euicc.info1(**info1)),
            "smdpAddress": self.lpa.smdp.address})
        return self.initiate

    def authenticate_client(self, matching_id: str | None = None, **options) -> dict:
        if self.initiate is None:
            assert status_of(self.initiate_authentication()) == "Executed-Success"
        self.authenticate = self.lpa.es9("authenticateClient", {
            "transactionId": self.initiate["transactionId"],
            "authenticateServerResponse": b64(self.euicc.authenticate_server_response(
                self.initiate, matching_id=matching_id, **options))})
        return self.authenticate

    def get_bound_profile_package(self, **options) -> dict:
        response, self.otsk = self.euicc.prepare_download_response(self.authenticate, **options)
        self.bpp = self.lpa.es9("getBoundProfilePackage", {
            "transactionId": self.initiate["transactionId"], "prepareDownloadResponse": b64(response)})
        return self.bpp

    def notify(self, pending: bytes) -> httpx.Response:
        return self.lpa.post("/gsma/rsp2/es9plus/handleNotification", {"pendingNotification": b64(pending)})

    def install(self, iccid: str, *, success: bool = True) -> httpx.Response:
        return self.notify(self.euicc.installation_result(self.transaction_id, iccid, self.lpa.smdp.smdp_oid,
                                                          self.lpa.smdp.address, success=success))

    def cancel(self, reason: int, **options) -> dict:
        return self.lpa.es9("cancelSession", {
            "transactionId": self.initiate["transactionId"],
            "cancelSessionResponse": b64(self.euicc.cancel_session_response(
                self.transaction_id, reason, options.pop("smdp_oid", self.lpa.smdp.smdp_oid), **options))})


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
