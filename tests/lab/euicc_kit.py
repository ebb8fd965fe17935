"""The SM-DP+ side of a download, reduced to what the virtual eUICC tests need.

Signs serverSigned1 and smdpSigned2 with the SGP.26 DPauth/DPpb keys and binds packages with
``rsplab.smdp.bpp``, so the card is exercised with real signatures and real SCP03t.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sgp22 import codec, crypto
from sgp22.apdu import IsdrChannel
from sgp22.profile_builder import build_upp
from sgp22.tlv import build, children, parse_one
from sgp22.identifiers import Iccid
from carddrivers.local import LocalTransport

from rsplab import pki
from rsplab.smdp.bpp import ProfileProtectionKeys, bound_profile_package, initialise_secure_channel, store_metadata_request

SGP26 = Path("/work/shared/reference/sgp26")
SMDP_ADDRESS = "testsmdpplus1.example.com"
DEVICE_INFO = {"tac": b"\x35\x29\x06\x11", "deviceCapabilities": {}}
HOST_ID = b"mahlzeit"


def iccid_for(number: int) -> str:
    return Iccid.with_check_digit(f"894400000000000{number:04d}").digits


@dataclass
class Download:
    """What one session produced, for tests that tamper with a step."""

    transaction_id: bytes
    auth_response: bytes = b""
    prepare_response: bytes = b""
    euicc_otpk: bytes = b""


class Smdp:
    def __init__(self, identities_dir: Path = SGP26, address: str = SMDP_ADDRESS) -> None:
        self.ids = pki.load(identities_dir)
        self.address = address

    # --- AuthenticateServer

    def server_signed1(self, transaction_id: bytes, challenge: bytes, address: str | None = None) -> bytes:
        return codec.encode("ServerSigned1", {
            "transactionId": transaction_id, "euiccChallenge": challenge,
            "serverAddress": address or self.address, "serverChallenge": os.urandom(16)})

    def authenticate_server_request(self, transaction_id: bytes, challenge: bytes, *, matching_id: str | None = "MATCH-1",
                                    server_cert: bytes | None = None, sign_key=None, ci_pkid: bytes | None = None,
                                    signed1: bytes | None = None) -> bytes:
        signed1 = signed1 or self.server_signed1(transaction_id, challenge)
        signature = crypto.sign_plain(sign_key or self.ids.dpauth.private_key, signed1)
        ctx = {"deviceInfo": DEVICE_INFO}
        if matching_id is not None:
            ctx["matchingId"] = matching_id
        ctx_raw = codec.encode("CtxParams1", ("ctxParamsForCommonAuthentication", ctx))
        body = (signed1 + build(0x5F37, signature) + build(0x04, ci_pkid or self.ids.ci_pkid)
                + (server_cert or self.ids.dpauth.der) + ctx_raw)
        return build(0xBF38, body)

    # --- PrepareDownload

    def prepare_download_request(self, auth_response: bytes, *, transaction_id: bytes, cc_required: bool = False,
                                 hash_cc: bytes | None = None, dppb_cert: bytes | None = None, sign_key=None) -> bytes:
        ok = children(parse_one(auth_response).value)[0]
        euicc_signature1 = children(ok.value)[1].raw
        signed2 = codec.encode("SmdpSigned2", {"transactionId": transaction_id, "ccRequiredFlag": cc_required})
        signature = crypto.sign_plain(sign_key or self.ids.dppb.private_key, signed2 + euicc_signature1)
        body = signed2 + build(0x5F37, signature)
        if hash_cc is not None:
            body += build(0x04, hash_cc)
        return build(0xBF21, body + (dppb_cert or self.ids.dppb.der))

    # --- BPP

    def bpp(self, prepare_response: bytes, *, transaction_id: bytes, iccid: str, size: int | None = None,
            metadata: bytes | None = None, package: bytes | None = None, eid: str | None = None,
            ppk: ProfileProtectionKeys | None = None, **metadata_fields) -> bytes:
        decoded = codec.decode("PrepareDownloadResponse", prepare_response)
        assert decoded[0] == "downloadResponseOk", decoded
        euicc_otpk = decoded[1]["euiccSigned2"]["euiccOtpk"]
        fields = {"service_provider_name": "Lab Telecom", "profile_name": f"Profile {iccid[-4:]}",
                  "profile_class": "operational", "notification_address": self.address}
        fields.update(metadata_fields)
        return bound_profile_package(
            transaction_id=transaction_id, host_id=HOST_ID, eid=eid or self.ids.eid, euicc_otpk=euicc_otpk,
            smdp_otsk=crypto.generate_ephemeral(self.ids.dppb.certificate), dppb_key=self.ids.dppb.private_key,
            smdp_oid=self.ids.smdp_oid,
            metadata=metadata or store_metadata_request(iccid=iccid, **fields),
            profile_package=package if package is not None else build_upp(iccid, size=size),
            ppk=ppk,
        )


def lpac_pieces(bpp: bytes) -> list[bytes]:
    """Cut a BF36 the way lpac sends it: each piece its own STORE DATA sequence."""
    outer = parse_one(bpp)
    items = children(outer.value)
    pieces = [outer.header + items[0].raw, items[1].raw]
    for item in items[2:]:
        if item.tag in (0xA1, 0xA3):
            pieces.append(item.header)
            pieces.extend(child.raw for child in children(item.value))
        else:
            pieces.append(item.raw)
    return pieces


class Lpa:
    """Drives a card through the protocol library's ISD-R channel (its own, or ``channel``: a
    session someone else opened, such as a worker's card pool)."""

    def __init__(self, card=None, *, block_size: int = 120, transport=None, channel: IsdrChannel | None = None) -> None:
        self.channel = channel or IsdrChannel(transport or LocalTransport(card), block_size=block_size).open()

    def es10(self, request: bytes) -> bytes:
        return self.channel.store_data(request)

    def challenge(self) -> bytes:
        return codec.decode("GetEuiccChallengeResponse", self.es10(bytes.fromhex("BF2E00")))["euiccChallenge"]

    def authenticate(self, smdp: Smdp, **options) -> Download:
        download = Download(os.urandom(16))
        download.auth_response = self.es10(smdp.authenticate_server_request(download.transaction_id, self.challenge(),
                                                                            **options))
        return download

    def prepare(self, smdp: Smdp, download: Download, **options) -> Download:
        download.prepare_response = self.es10(smdp.prepare_download_request(
            download.auth_response, transaction_id=download.transaction_id, **options))
        return download

    def load(self, bpp: bytes, *, pieces: bool = True) -> bytes:
        """Send the BPP (lpac pieces or one sequence); the answer to the last piece sent."""
        answer = b""
        for piece in (lpac_pieces(bpp) if pieces else [bpp]):
            answer = self.es10(piece)
            if answer:
                return answer
        return answer

    def install(self, smdp: Smdp, iccid: str, *, pieces: bool = True, size: int | None = None, **fields) -> bytes:
        download = self.prepare(smdp, self.authenticate(smdp))
        bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid, size=size,
                       **fields)
        return self.load(bpp, pieces=pieces)


def pir_result(pir: bytes) -> tuple[str, dict]:
    return codec.decode("ProfileInstallationResult", pir)["profileInstallationResultData"]["finalResult"]


def bpp_without_replace_keys(smdp: Smdp, prepare_response: bytes, *, transaction_id: bytes, iccid: str) -> bytes:
    """A BF36 with no A2: the profile segments stay under the session keys, counter continuing."""
    euicc_otpk = codec.decode("PrepareDownloadResponse", prepare_response)[1]["euiccSigned2"]["euiccOtpk"]
    otsk = crypto.generate_ephemeral(smdp.ids.dppb.certificate)
    init = initialise_secure_channel(transaction_id=transaction_id, host_id=HOST_ID, smdp_otpk=crypto.public_point(otsk),
                                     euicc_otpk=euicc_otpk, dppb_key=smdp.ids.dppb.private_key)
    session = crypto.BspSession.from_keys(crypto.derive_session_keys(crypto.ecka(otsk, euicc_otpk), HOST_ID, smdp.ids.eid))
    configure = session.wrap_encrypted(codec.encode("ConfigureISDPRequest", {}), tag=0x87)
    metadata = store_metadata_request(iccid=iccid, service_provider_name="Lab", profile_name="No A2",
                                      profile_class="operational", notification_address=smdp.address)
    segments = session.wrap_mac_only_segments(metadata, tag=0x88)
    profile = session.wrap_encrypted_segments(build_upp(iccid, size=3000), tag=0x86)
    return build(0xBF36, init + build(0xA0, configure) + build(0xA1, b"".join(segments)) + build(0xA3, b"".join(profile)))
