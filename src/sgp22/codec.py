"""DER encoding and decoding of every SGP.22 structure, through asn1tools.

The module in ``asn1/rsp.asn`` is compiled once, on first use. Callers only ever see
``sgp22.errors`` exceptions: bytes that do not decode raise ``MalformedDataError`` (they come
from a card or a server), values that do not encode raise ``BadInputError`` (they come from our
own caller). Messages name the type and show at most a short prefix of the bytes, because the
payload may carry a matching ID.

Two asn1tools 0.169 DER defects are corrected for this specification only (the classes are
swapped while it compiles; the rest of asn1tools is left untouched):
- OBJECT IDENTIFIERs whose second arc is 40 or more decode wrongly (2.999.10, the SGP.26 SM-DP+
  OID, comes back as "26.39.10");
- a SEQUENCE OF whose content holds an element with an unexpected tag loops forever (a card or
  server could hang the process with a handful of bytes).
"""
from __future__ import annotations

import functools
import re
import threading
from pathlib import Path
from collections.abc import Callable
from typing import Any

import asn1tools

from sgp22 import tlv
from sgp22.asn1_der import compile_der_string
from sgp22.errors import BadInputError, MalformedDataError

SPEC_PATH = Path(__file__).parent / "asn1" / "rsp.asn"

_PREFIX_BYTES = 8
_spec_lock = threading.Lock()
_spec: asn1tools.compiler.Specification | None = None


# --- The compiled specification ---------------------------------------------------------------


def specification() -> asn1tools.compiler.Specification:
    """The compiled rsp.asn (compiled on first call, then shared)."""
    global _spec
    if _spec is None:
        with _spec_lock:
            if _spec is None:
                _spec = _compile()
    return _spec


def _compile() -> asn1tools.compiler.Specification:
    compiled = compile_der_string(SPEC_PATH.read_text())
    probe = {"dpOid": "2.999.10"}
    if compiled.decode("DpProprietaryData", compiled.encode("DpProprietaryData", probe)) != probe:
        raise RuntimeError("asn1tools internals changed: the OBJECT IDENTIFIER fix is not in effect")
    return compiled


def type_names() -> list[str]:
    return sorted(specification().types)


@functools.cache
def type_descriptors() -> dict[str, dict[str, Any]]:
    """asn1tools' parse tree of rsp.asn by type name: named bits and numbers for readable output."""
    descriptors: dict[str, dict[str, Any]] = asn1tools.parse_files(str(SPEC_PATH))["RSPDefinitions"]["types"]
    return descriptors


def _require_type(type_name: str) -> None:
    if type_name not in specification().types:
        raise BadInputError(f"unknown SGP.22 type {_short(type_name)}", kind="asn1.unknown_type")


# --- encode / decode -------------------------------------------------------------------------


def encode(type_name: str, value: Any) -> bytes:
    _require_type(type_name)
    try:
        encoded: bytes = specification().encode(type_name, value, check_constraints=True)
    except Exception as error:  # asn1tools raises many unrelated classes for bad values
        raise BadInputError(
            f"cannot encode {type_name}: {_reason(error)}", kind="asn1.encode"
        ) from None
    return encoded


def decode(type_name: str, data: bytes, *, check_constraints: bool = True) -> Any:
    """Decode exactly one DER value of ``type_name``; trailing bytes are an error.

    Unknown fields of a SEQUENCE are skipped (extensibility), but a CHOICE alternative this
    module does not know is an error: no caller can act on it.
    """
    _require_type(type_name)
    data = _as_bytes(type_name, data)
    _check_outer_tlv(type_name, data)
    outcome = _attempt(type_name, data, check_constraints)
    if isinstance(outcome, _Failure):
        raise MalformedDataError(
            f"{type_name}: cannot decode {_describe(data)}: {outcome.reason}", kind=outcome.kind
        )
    return outcome


class _Failure:
    """Why one candidate type did not fit; ``offset`` says how far asn1tools got."""

    def __init__(self, reason: str, kind: str, offset: int) -> None:
        self.reason, self.kind, self.offset = reason, kind, offset


_OFFSET = re.compile(r"\(At offset: (\d+)\)")


def _attempt(type_name: str, data: bytes, check_constraints: bool = True) -> Any:
    try:  # _check_outer_tlv has run: the value spans exactly the data
        value = specification().decode(type_name, data, check_constraints=check_constraints)
    except Exception as error:  # asn1tools and its helpers raise IndexError, ValueError, ...
        if isinstance(error, asn1tools.ConstraintsError):  # the structure parsed completely
            return _Failure(_reason(error), "asn1.constraint", len(data))
        found = _OFFSET.search(str(error))
        return _Failure(_reason(error), "asn1.decode", int(found.group(1)) if found else 0)
    try:
        return _normalised(value)
    except _UnknownAlternative:
        return _Failure("unknown CHOICE alternative", "asn1.unknown_alternative", len(data))


def _as_bytes(type_name: str, data: Any) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BadInputError(f"{type_name}: expected bytes, got {type(data).__name__}", kind="asn1.decode_input")
    if not data:
        raise MalformedDataError(f"{type_name}: no data", kind="asn1.empty")
    return bytes(data)


def _check_outer_tlv(what: str, data: bytes) -> None:
    """The outer TLV must span the data exactly: shorter data was cut off, longer has garbage."""
    try:
        length, header = tlv.read_length(data, len(_outer_tag(data)), what=f"{what}: {_describe(data)}")
    except tlv.TruncatedError as exc:
        raise MalformedDataError(exc.message, kind="asn1.truncated") from None
    except MalformedDataError as exc:
        raise MalformedDataError(exc.message, kind="asn1.bad_length") from None
    if header + length > len(data):
        raise MalformedDataError(
            f"{what}: {_describe(data)} is truncated ({header + length - len(data)} byte(s) missing)",
            kind="asn1.truncated",
        )
    if header + length < len(data):
        raise MalformedDataError(
            f"{what}: {len(data) - header - length} unexpected byte(s) after the value in {_describe(data)}",
            kind="asn1.trailing_data",
        )


class _UnknownAlternative(Exception):
    pass


def _normalised(value: Any) -> Any:
    """The decoded value with ANY contents as ``bytes`` (asn1tools gives ``bytearray``), after
    checking that no CHOICE came back as an alternative this module does not know."""
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, tuple) and len(value) == 2:
        if value == (None, None):
            raise _UnknownAlternative
        if isinstance(value[0], str):
            return (value[0], _normalised(value[1]))
    return value


# --- Which type is this? -------------------------------------------------------------------------

# Outer tag -> candidate types, requests first. SEQUENCE ('30') is ambiguous by nature: a pending
# notification is the one a user most often holds, the signed parts come next.
_CANDIDATES: dict[bytes, tuple[str, ...]] = {
    bytes.fromhex(tag): names
    for tag, names in {
        "BF20": ("GetEuiccInfo1Request", "EUICCInfo1"),
        "BF21": ("PrepareDownloadRequest", "PrepareDownloadResponse"),
        "BF22": ("GetEuiccInfo2Request", "EUICCInfo2"),
        "BF23": ("InitialiseSecureChannelRequest",),
        "BF24": ("ConfigureISDPRequest",),
        "BF25": ("StoreMetadataRequest",),
        "BF26": ("ReplaceSessionKeysRequest",),
        "BF27": ("ProfileInstallationResultData",),
        "BF28": ("ListNotificationRequest", "ListNotificationResponse"),
        "BF29": ("SetNicknameRequest", "SetNicknameResponse"),
        "BF2A": ("UpdateMetadataRequest",),
        "BF2B": ("RetrieveNotificationsListRequest", "RetrieveNotificationsListResponse"),
        "BF2D": ("ProfileInfoListRequest", "ProfileInfoListResponse"),
        "BF2E": ("GetEuiccChallengeRequest", "GetEuiccChallengeResponse"),
        "BF2F": ("NotificationMetadata",),
        "BF30": ("NotificationSentRequest", "NotificationSentResponse"),
        "BF31": ("EnableProfileRequest", "EnableProfileResponse"),
        "BF32": ("DisableProfileRequest", "DisableProfileResponse"),
        "BF33": ("DeleteProfileRequest", "DeleteProfileResponse"),
        "BF34": ("EuiccMemoryResetRequest", "EuiccMemoryResetResponse"),
        "BF35": ("LoadCRLRequest", "LoadCRLResponse"),
        "BF36": ("BoundProfilePackage",),
        "BF37": ("ProfileInstallationResult",),
        "BF38": ("AuthenticateServerRequest", "AuthenticateServerResponse"),
        "BF39": ("InitiateAuthenticationRequest", "InitiateAuthenticationResponse"),
        "BF3A": ("GetBoundProfilePackageRequest", "GetBoundProfilePackageResponse"),
        "BF3B": ("AuthenticateClientRequest", "AuthenticateClientResponseEs9"),
        "BF3C": ("EuiccConfiguredAddressesRequest", "EuiccConfiguredAddressesResponse"),
        "BF3D": ("HandleNotification",),
        "BF3E": ("GetEuiccDataRequest", "GetEuiccDataResponse"),
        "BF3F": ("SetDefaultDpAddressRequest", "SetDefaultDpAddressResponse"),
        "BF40": ("AuthenticateClientResponseEs11",),
        "BF41": (
            "CancelSessionRequest",
            "CancelSessionResponse",
            "CancelSessionRequestEs9",
            "CancelSessionResponseEs9",
        ),
        "BF42": ("LpaeActivationRequest", "LpaeActivationResponse"),
        "BF43": ("GetRatRequest", "GetRatResponse"),
        "A2": ("RemoteProfileProvisioningRequest", "RemoteProfileProvisioningResponse"),
        "E0": ("ISDRProprietaryApplicationTemplate",),
        "E3": ("ProfileInfo",),
        "30": (
            "OtherSignedNotification",
            "ServerSigned1",
            "EuiccSigned1",
            "EUICCSigned2",
            "SmdpSigned2",
            "EuiccCancelSessionSigned",
        ),
    }.items()
}


def _is_fqdn_like(text: str) -> bool:
    return bool(text) and text.isprintable() and " " not in text


# Requests whose bytes can also read as the response sharing their tag; these checks settle it.
# NotificationSentRequest/Response stay ambiguous (both one [0] INTEGER): the request wins.
_PLAUSIBLE: dict[str, Callable[[Any], bool]] = {
    "SetDefaultDpAddressRequest": lambda value: _is_fqdn_like(value["defaultDpAddress"]),
    "LoadCRLRequest": lambda value: value["crl"][:1] == b"\x30",
}


def identify(data: bytes) -> str:
    """Type name of a DER message, from its outer tag.

    Where one tag serves several types (request and response share it), the candidate whose
    re-encoding reproduces the bytes wins; when none does (a newer card sends fields this module
    skips), the one that understood the most wins. Ties go to the earlier candidate, requests
    first.
    """
    return _identify(data)[0]


def decode_any(data: bytes) -> tuple[str, Any]:
    return _identify(data)


def _identify(data: bytes) -> tuple[str, Any]:
    data = _as_bytes("message", data)
    candidates = _CANDIDATES.get(_outer_tag(data))
    if candidates is None:
        raise MalformedDataError(f"no SGP.22 type starts with {_describe(data)}", kind="asn1.unknown_tag")
    _check_outer_tlv(" or ".join(candidates), data)
    decoded: list[tuple[str, Any]] = []
    furthest: _Failure | None = None
    for name in candidates:
        outcome = _attempt(name, data)
        if not isinstance(outcome, _Failure):
            decoded.append((name, outcome))
        elif furthest is None or outcome.offset > furthest.offset:
            furthest = outcome
    if not decoded:
        assert furthest is not None
        raise MalformedDataError(
            f"{' or '.join(candidates)}: cannot decode {_describe(data)}: {furthest.reason}", kind=furthest.kind
        )
    if len(decoded) == 1:
        return decoded[0]
    return max(decoded, key=lambda candidate: _fit(data, *candidate))  # ties: the first listed


def _fit(data: bytes, name: str, value: Any) -> tuple[bool, int]:
    """How well a decoded candidate explains ``data``: exact re-encoding first, then how many
    bytes it understood; implausible requests score nothing."""
    plausible = _PLAUSIBLE.get(name)
    if plausible is not None and not plausible(value):
        return (False, 0)
    try:
        reencoded = specification().encode(name, value)
    except Exception:  # a decoded value that does not re-encode understood nothing useful
        return (False, 0)
    return (reencoded == data, len(reencoded))


def _outer_tag(data: bytes) -> bytes:
    if not data:
        return b""
    if data[0] & 0x1F != 0x1F:
        return data[:1]
    end = 1
    while end < len(data) and data[end] & 0x80:
        end += 1
    return data[: end + 1]


# --- Messages without secrets ---------------------------------------------------------------------

_QUOTED = re.compile(r"'([^']{13,})'|\"([^\"]{13,})\"|b'[^']{13,}'")


def _describe(data: bytes) -> str:
    prefix = data[:_PREFIX_BYTES].hex().upper()
    return f"{len(data)} byte(s) {prefix}{'…' if len(data) > _PREFIX_BYTES else ''}"


def _short(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else f"{shown[:37]}…"


_GOT_VALUE = re.compile(r"(but got )(.+?)(\.?)$", re.DOTALL)


def _reason(error: Exception) -> str:
    """asn1tools' explanation with the offending value (possibly a secret) cut out."""
    text = str(error) or type(error).__name__
    text = _GOT_VALUE.sub(
        lambda match: match.group(0) if len(match.group(2)) <= 6 else f"{match.group(1)}<{len(match.group(2))} chars>{match.group(3)}",
        text,
    )
    text = _QUOTED.sub(lambda match: f"<{len(match.group(0)) - 2} chars>", text)
    return text if len(text) <= 200 else f"{text[:197]}…"
