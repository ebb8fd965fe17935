"""ES10b profile download: challenge, AuthenticateServer, PrepareDownload,
LoadBoundProfilePackage and CancelSession.

Requests that carry server-signed data are assembled from the raw TLVs the SM-DP+ sent: the
eUICC verifies signatures over those exact bytes, which a decode/re-encode round trip may alter.
"""
from __future__ import annotations

from typing import Any

from collections.abc import Callable
from dataclasses import dataclass

from sgp22 import codec, tlv
from sgp22.errors import Es10ResultError, MalformedDataError
from sgp22.es10_base import Es10Channel, call, exchange, result_error
from sgp22.es10_enums import AuthenticateErrorCode, CancelSessionError, CancelSessionReason, DownloadErrorCode, enum_value
from sgp22.es10_session_types import (
    AuthenticateServerRequest,
    AuthenticateServerResult,
    PrepareDownloadRequest,
    PrepareDownloadResult,
    ProfileInstallationResult,
)
from sgp22.es10_types import ProfileMetadata

TAG_SEQUENCE = 0x30
TAG_OCTET_STRING = 0x04
TAG_SIGNATURE = 0x5F37


def get_euicc_challenge(isdr: Es10Channel) -> bytes:
    challenge: bytes = call(isdr, "GetEuiccChallengeRequest", {}, "GetEuiccChallengeResponse")["euiccChallenge"]
    return challenge


def _server_part(data: bytes, tag: int, what: str) -> bytes:
    """A TLV received from the SM-DP+, checked for shape before it goes to the card."""
    return tlv.parse_one(data, expected_tag=tag, what=what).raw


def encode_authenticate_server(request: AuthenticateServerRequest) -> bytes:
    server = request.server
    context: dict[str, Any] = {"deviceInfo": request.device_info.to_asn1()}
    if request.matching_id is not None:
        context["matchingId"] = request.matching_id
    body = (
        _server_part(server.server_signed1, TAG_SEQUENCE, "serverSigned1")
        + _server_part(server.server_signature1, TAG_SIGNATURE, "serverSignature1")
        + _server_part(server.euicc_ci_pkid_to_be_used, TAG_OCTET_STRING, "euiccCiPKIdToBeUsed")
        + _server_part(server.server_certificate, TAG_SEQUENCE, "serverCertificate")
        + codec.encode("CtxParams1", ("ctxParamsForCommonAuthentication", context))
    )
    return tlv.build(0xBF38, body)


def authenticate_server(isdr: Es10Channel, request: AuthenticateServerRequest) -> AuthenticateServerResult:
    raw, (alternative, value) = exchange(isdr, encode_authenticate_server(request), "AuthenticateServerResponse")
    if alternative == "authenticateResponseError":
        raise result_error("authenticateServer", enum_value(AuthenticateErrorCode, value["authenticateErrorCode"]))
    signed = value["euiccSigned1"]
    return AuthenticateServerResult(raw=raw, transaction_id=signed["transactionId"], server_address=signed["serverAddress"])


def encode_prepare_download(request: PrepareDownloadRequest) -> bytes:
    hash_cc = b""
    if request.hash_cc is not None:
        if len(request.hash_cc) != 32:
            raise MalformedDataError(f"hashCc of {len(request.hash_cc)} bytes (32 expected)")
        hash_cc = tlv.build(TAG_OCTET_STRING, request.hash_cc)
    body = (
        _server_part(request.smdp_signed2, TAG_SEQUENCE, "smdpSigned2")
        + _server_part(request.smdp_signature2, TAG_SIGNATURE, "smdpSignature2")
        + hash_cc
        + _server_part(request.smdp_certificate, TAG_SEQUENCE, "smdpCertificate")
    )
    return tlv.build(0xBF21, body)


def prepare_download(isdr: Es10Channel, request: PrepareDownloadRequest) -> PrepareDownloadResult:
    raw, (alternative, value) = exchange(isdr, encode_prepare_download(request), "PrepareDownloadResponse")
    if alternative == "downloadResponseError":
        raise result_error("prepareDownload", enum_value(DownloadErrorCode, value["downloadErrorCode"]))
    signed = value["euiccSigned2"]
    return PrepareDownloadResult(
        raw=raw, transaction_id=signed["transactionId"], euicc_otpk=signed["euiccOtpk"], hash_cc=signed.get("hashCc")
    )


def cancel_session(isdr: Es10Channel, transaction_id: bytes, reason: CancelSessionReason) -> bytes:
    """End the eUICC's RSP session; returns the signed answer for ES9+ cancelSession."""
    request = {"transactionId": transaction_id, "reason": int(reason)}
    raw, (alternative, value) = exchange(isdr, codec.encode("CancelSessionRequest", request), "CancelSessionResponse")
    if alternative == "cancelSessionResponseError":
        raise result_error("cancelSession", enum_value(CancelSessionError, value))
    return raw


# --- Bound profile package -----------------------------------------------------------------------


@dataclass(frozen=True)
class BppSegment:
    name: str
    data: bytes


@dataclass(frozen=True)
class SegmentProgress:
    """Reported after each segment the eUICC accepted (for progress displays and heartbeats)."""

    done: int
    total: int
    name: str


def _expect(item: tlv.Tlv, tag: int, inner_tag: int | None) -> list[tlv.Tlv]:
    if item.tag != tag:
        raise MalformedDataError(f"bound profile package: {tlv.tag_name(item.tag)} where {tlv.tag_name(tag)} belongs")
    if inner_tag is None:
        return []
    inner = tlv.children(item.value)
    for child in inner:
        if child.tag != inner_tag:
            raise MalformedDataError(
                f"bound profile package: {tlv.tag_name(child.tag)} inside {tlv.tag_name(tag)} "
                f"(only {tlv.tag_name(inner_tag)} allowed)"
            )
    return inner


def bpp_segments(bpp: bytes) -> list[BppSegment]:
    """Cut a BoundProfilePackage (BF36) into the pieces the eUICC takes one STORE DATA sequence
    each: BF36 header with BF23, A0, A1 header, each 88, A2 (if present), A3 header, each 86."""
    outer = tlv.parse_one(bpp, expected_tag=0xBF36, what="bound profile package")
    parts = tlv.children(outer.value)
    if len(parts) not in (4, 5):
        raise MalformedDataError(f"bound profile package has {len(parts)} parts (4 or 5 expected)")
    secure_channel, configure_isdp, metadata, *rest = parts
    replace_keys, profile_elements = rest if len(rest) == 2 else (None, rest[0])
    _expect(secure_channel, 0xBF23, None)
    _expect(configure_isdp, 0xA0, 0x87)
    metadata_segments = _expect(metadata, 0xA1, 0x88)
    element_segments = _expect(profile_elements, 0xA3, 0x86)
    if not element_segments:
        raise MalformedDataError("bound profile package carries no profile element (86) segment")
    segments = [
        BppSegment("initialiseSecureChannel", outer.header + secure_channel.raw),
        BppSegment("configureISDP", configure_isdp.raw),
        BppSegment("storeMetadata header", metadata.header),
        *(BppSegment("storeMetadata", item.raw) for item in metadata_segments),
    ]
    if replace_keys is not None:
        _expect(replace_keys, 0xA2, 0x87)
        segments.append(BppSegment("replaceSessionKeys", replace_keys.raw))
    segments.append(BppSegment("profileElements header", profile_elements.header))
    segments.extend(BppSegment("profileElement", item.raw) for item in element_segments)
    return segments


MAC_LENGTH = 8


def bpp_profile_metadata(bpp: bytes) -> ProfileMetadata:
    """The StoreMetadata the BPP will install, read from its MAC-only (88) segments; the LPA
    compares it with the metadata authenticateClient announced."""
    outer = tlv.parse_one(bpp, expected_tag=0xBF36, what="bound profile package")
    parts = tlv.children(outer.value)
    if len(parts) < 3:
        raise MalformedDataError("bound profile package has no StoreMetadata part")
    segments = _expect(parts[2], 0xA1, 0x88)
    if any(len(item.value) <= MAC_LENGTH for item in segments):
        raise MalformedDataError("bound profile package: a StoreMetadata segment is too short for its MAC")
    raw = b"".join(item.value[:-MAC_LENGTH] for item in segments)
    return ProfileMetadata.from_asn1(raw, codec.decode("StoreMetadataRequest", raw))


def decode_installation_result(raw: bytes) -> ProfileInstallationResult:
    return ProfileInstallationResult.from_asn1(raw, codec.decode("ProfileInstallationResult", raw))


def load_bound_profile_package(
    isdr: Es10Channel, bpp: bytes, on_segment: Callable[[SegmentProgress], None] | None = None
) -> ProfileInstallationResult:
    """Send every segment; the eUICC answers with the PIR after the last one, or earlier when
    it gives up. A PIR reporting an error is returned, not raised: it is a signed notification
    that still has to reach the SM-DP+ (``result.error`` says what failed)."""
    segments = bpp_segments(bpp)
    for number, segment in enumerate(segments, start=1):
        answer = isdr.store_data(segment.data)
        if on_segment is not None:
            on_segment(SegmentProgress(number, len(segments), segment.name))
        if answer:
            return decode_installation_result(answer)
    raise MalformedDataError(
        "the eUICC took the whole bound profile package but returned no ProfileInstallationResult",
        kind="es10.lbpp.no_result",
    )


def installation_error(result: ProfileInstallationResult) -> Es10ResultError | None:
    """The taxonomy's error for a PIR that reports a failure (None for success)."""
    if result.error is None:
        return None
    return result_error("loadBoundProfilePackage", result.error.reason, bpp_command_id=result.error.command_name)
