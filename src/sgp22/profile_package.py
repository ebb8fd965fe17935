"""Unprotected profile packages (UPP): the SAIP profile elements an SM-DP+ binds into a BPP.

The lab SM-DP+ needs packages of a chosen ICCID and size, and the virtual eUICC needs to read
the ICCID back out of what it decrypted (to refuse an ICCID that does not match the metadata).
A package is the concatenation of DER ProfileElements: the ProfileHeader first, the PE-End
last. Files of generated content bring a package up to the requested size, so benchmarks can
install 10, 30 or 100 KB profiles that look like profiles to any SAIP reader.

Elements outside esimflow's subset (``upp.asn``) are kept as opaque raw bytes, so a real SAIP
package (USIM, PIN, AKA elements) still parses as long as it starts with a header and ends
with an end element.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from importlib import resources

import asn1tools

from sgp22 import codec
from sgp22.errors import BadInputError, MalformedDataError
from sgp22.identifiers import Iccid

SAIP_VERSION = (2, 3)
"""ProfileHeader major/minor version the lab writes (SAIP 2.3, as TS.48 test profiles)."""

EUICC_RESPONSE_OK = bytes.fromhex("3007A0053003800100")
"""EUICCResponse{peStatus{status ok}}: the simaResponse of a successful installation."""

DEFAULT_PROFILE_TYPE = "esimflow lab profile"
DEFAULT_SERVICES = ("usim", "milenage")

MAX_FILLER_FILES = 256
FILLER_FILE_CHUNK = 16384
"""Content bytes per generated file; a transparent EF holds at most 65535 bytes."""
_FILLER_FILE_ID_BASE = 0xAF00
_FILLER_DESCRIPTOR = b"\x41\x21"  # transparent EF, shareable
_PE_HEADER_ID = 1


class ProfilePackageError(MalformedDataError):
    """A profile package that is not header .. end of well-formed profile elements."""

    kind = "upp.malformed"


@functools.lru_cache(maxsize=1)
def _spec():
    source = resources.files("sgp22").joinpath("asn1/upp.asn").read_text(encoding="utf-8")
    return codec.compile_der_string(source)


@dataclass(frozen=True)
class ProfileElement:
    """One decoded element; ``kind`` is the SAIP alternative name, or ``unknown`` (raw kept)."""

    kind: str
    value: object = field(repr=False)
    der: bytes = field(repr=False)

    @property
    def tag(self) -> int:
        return self.der[0]


@dataclass(frozen=True)
class ParsedProfile:
    iccid: str
    major_version: int
    minor_version: int
    profile_type: str | None
    services: tuple[str, ...]
    elements: tuple[ProfileElement, ...] = field(repr=False)
    size: int = 0

    @property
    def header(self) -> dict:
        return self.elements[0].value


# --- ICCID in EF.ICCID coding -------------------------------------------------------------------


def encode_iccid(iccid: str) -> bytes:
    """19 or 20 digits -> 10 bytes of nibble-swapped BCD, F padded (``8949..`` -> ``98 94 ..``).

    The Luhn digit is not checked here: a package carries whatever ICCID its issuer gave it.
    """
    return Iccid(str(iccid)).to_bytes()


def decode_iccid(coded: bytes) -> str:
    """Inverse of :func:`encode_iccid`; refuses non-digit nibbles and F padding inside digits."""
    try:
        return Iccid.from_bytes(bytes(coded)).digits
    except MalformedDataError as error:
        raise ProfilePackageError(f"ICCID in the profile header: {error.message}") from None


# --- building ------------------------------------------------------------------------------------


def _encode(kind: str, value) -> bytes:
    return _spec().encode("ProfileElement", (kind, value))


def _header_pe(iccid: str, profile_type: str | None, services, version: tuple[int, int]) -> bytes:
    unknown = set(services) - set(_service_names())
    if unknown:
        raise BadInputError(f"unknown SAIP services: {', '.join(sorted(unknown))}")
    header = {
        "major-version": version[0],
        "minor-version": version[1],
        "iccid": encode_iccid(iccid),
        "eUICC-Mandatory-services": {name: None for name in services},
        "eUICC-Mandatory-GFSTEList": [],
    }
    if profile_type:
        header["profileType"] = profile_type
    return _encode("header", header)


def _end_pe(identification: int) -> bytes:
    return _encode("end", {"end-header": {"identification": identification}})


def _filler_pe(index: int, content: bytes, with_offset: bool = False, pieces: int = 1) -> bytes:
    """One generic file management element creating file ``AFxx`` under the MF with content.

    ``with_offset`` (an explicit fill offset 0) and ``pieces`` (content written in several
    consecutive fills) change the element's length without changing the file it creates.
    """
    commands = [
        ("filePath", b""),
        ("createFCP", {
            "fileDescriptor": _FILLER_DESCRIPTOR,
            "fileID": (_FILLER_FILE_ID_BASE + index).to_bytes(2, "big"),
            "efFileSize": _minimal_bytes(max(len(content), 1)),
        }),
    ]
    if with_offset:
        commands.append(("fillFileOffset", 0))
    cut = -(-len(content) // pieces) if content else 0
    commands.extend(("fillFileContent", content[i * cut:(i + 1) * cut]) for i in range(pieces))
    return _encode("genericFileManagement", {
        "gfm-header": {"identification": _PE_HEADER_ID + 1 + index},
        "fileManagementCMD": [commands],
    })


def _minimal_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _filler_content(iccid: str, index: int, length: int) -> bytes:
    """Deterministic, incompressible file content: the same ICCID always gives the same package."""
    return hashlib.shake_256(f"esimflow-upp/{iccid}/{index}".encode()).digest(length) if length else b""


def _fill_exactly(iccid: str, budget: int, files: int) -> list[bytes] | None:
    """``files`` filler elements whose DER lengths add up to exactly ``budget`` bytes, or None.

    The leading files carry equal chunks and the last one is sized to fit. When the last cannot
    meet the budget (a DER length-field step skips the value), the one before it gives up a few
    bytes.
    """
    empty_overhead = len(_filler_pe(files - 1, b"", False))
    chunk = max(0, min(FILLER_FILE_CHUNK, budget // files - empty_overhead - 4))
    leading = [_filler_pe(i, _filler_content(iccid, i, chunk), False) for i in range(files - 1)]
    for shrink in range(0, min(chunk, 255) + 1 if files > 1 else 1):
        if shrink:
            index = files - 2
            leading[index] = _filler_pe(index, _filler_content(iccid, index, chunk - shrink), False)
        rest = budget - sum(len(pe) for pe in leading)
        estimate = rest - empty_overhead
        for with_offset, pieces in ((False, 1), (False, 2), (True, 1), (True, 2), (False, 3)):
            for length in range(max(0, estimate - 16), min(65535, estimate + 1) + 1):
                last = _filler_pe(files - 1, _filler_content(iccid, files - 1, length), with_offset, pieces)
                if len(last) == rest:
                    return leading + [last]
    return None


def build_upp(
    iccid: str,
    *,
    size: int | None = None,
    profile_type: str | None = DEFAULT_PROFILE_TYPE,
    services=DEFAULT_SERVICES,
    version: tuple[int, int] = SAIP_VERSION,
) -> bytes:
    """A profile package for ``iccid``: header, generated files when ``size`` asks for them, end.

    With ``size`` the package is exactly that many bytes; sizes below the smallest package with
    one file cannot be met and raise :class:`BadInputError` naming the smallest size.
    """
    header = _header_pe(iccid, profile_type, services, version)
    bare_end = _end_pe(_PE_HEADER_ID + 1)
    if size is None or size == len(header) + len(bare_end):
        return header + bare_end
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BadInputError("profile package size must be a non-negative number of bytes")
    smallest = len(header) + len(_filler_pe(0, b"", False)) + len(_end_pe(_PE_HEADER_ID + 2))
    if size < smallest:
        raise BadInputError(f"a profile package with files is at least {smallest} bytes, {size} asked")
    full_file = len(_filler_pe(0, bytes(FILLER_FILE_CHUNK), False))
    fewest = max(1, -(-(size - len(header) - len(bare_end)) // full_file))
    if fewest > MAX_FILLER_FILES:
        raise BadInputError(f"a lab profile package holds at most {MAX_FILLER_FILES} files "
                            f"({MAX_FILLER_FILES * FILLER_FILE_CHUNK} bytes)")
    for files in (fewest, fewest + 1):
        end = _end_pe(_PE_HEADER_ID + 1 + files)
        fillers = _fill_exactly(iccid, size - len(header) - len(end), files)
        if fillers is not None:
            return header + b"".join(fillers) + end
    raise BadInputError(f"cannot build a profile package of exactly {size} bytes")


@functools.lru_cache(maxsize=1)
def _service_names() -> tuple[str, ...]:
    return tuple(member.name for member in _spec().types["ServicesList"].type.root_members)


# --- parsing -------------------------------------------------------------------------------------


def split_elements(data: bytes) -> list[ProfileElement]:
    """Cut a package into its elements, decoding those esimflow knows and keeping the rest raw."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ProfilePackageError("profile package is empty")
    data = bytes(data)
    elements = []
    offset = 0
    while offset < len(data):
        try:
            value, length = _spec().decode_with_length("ProfileElement", data[offset:])
        except (asn1tools.DecodeError, IndexError, ValueError) as exc:
            raise ProfilePackageError(
                f"profile element {len(elements) + 1} at offset {offset} does not decode: {exc}") from exc
        if length <= 0:
            raise ProfilePackageError(f"profile element {len(elements) + 1} at offset {offset} is empty")
        raw = data[offset:offset + length]
        kind, content = value if value[0] is not None else ("unknown", None)
        elements.append(ProfileElement(kind, content, raw))
        offset += length
    return elements


def parse_upp(data: bytes) -> ParsedProfile:
    """Read a package, checking it runs from one ProfileHeader to one PE-End."""
    elements = split_elements(data)
    if elements[0].kind != "header":
        raise ProfilePackageError(f"profile package starts with {elements[0].kind} (tag {elements[0].tag:02X}), "
                                  "not the ProfileHeader")
    headers = [i for i, pe in enumerate(elements) if pe.kind == "header"]
    if len(headers) > 1:
        raise ProfilePackageError(f"profile package has {len(headers)} ProfileHeaders")
    ends = [i for i, pe in enumerate(elements) if pe.kind == "end"]
    if not ends:
        raise ProfilePackageError("profile package has no PE-End")
    if ends[0] != len(elements) - 1:
        raise ProfilePackageError(f"{len(elements) - 1 - ends[0]} profile elements follow the PE-End")
    header = elements[0].value
    return ParsedProfile(
        iccid=decode_iccid(header["iccid"]),
        major_version=header["major-version"],
        minor_version=header["minor-version"],
        profile_type=header.get("profileType"),
        services=tuple(name for name in _service_names() if name in header["eUICC-Mandatory-services"]),
        elements=tuple(elements),
        size=len(data),
    )


# --- EUICCResponse (simaResponse) ----------------------------------------------------------------

PE_STATUS_CODES = {
    "ok": 0, "pe-not-supported": 1, "memory-failure": 2, "bad-values": 3, "not-enough-memory": 4,
    "invalid-request-format": 5, "invalid-parameter": 6, "runtime-not-supported": 7,
    "lib-not-supported": 8, "template-not-supported": 9, "feature-not-supported": 10,
    "pin-code-missing": 11, "unsupported-profile-version": 31,
}
PE_STATUS_NAMES = {code: name for name, code in PE_STATUS_CODES.items()}


def build_euicc_response(status: str = "ok", *, identification: int | None = None,
                         aborted: bool = False) -> bytes:
    """One EUICCResponse: the PE status of an installation (``identification`` names the failed PE)."""
    if status not in PE_STATUS_CODES:
        raise BadInputError(f"unknown PE status {status!r}")
    pe_status = {"status": PE_STATUS_CODES[status]}
    if identification is not None:
        pe_status["identification"] = identification
    value = {"peStatus": [pe_status]}
    if aborted:
        value["profileInstallationAborted"] = None
    return _spec().encode("EUICCResponse", value)


def parse_euicc_response(data: bytes) -> list[dict]:
    """The PE statuses of a simaResponse (one or more concatenated EUICCResponse values), status
    by name (unnamed codes, e.g. ISO 7816 status words, as their decimal string)."""
    statuses = []
    offset = 0
    data = bytes(data)
    if not data:
        raise ProfilePackageError("simaResponse is empty")
    while offset < len(data):
        try:
            value, length = _spec().decode_with_length("EUICCResponse", data[offset:])
        except (asn1tools.DecodeError, IndexError, ValueError) as exc:
            raise ProfilePackageError(f"simaResponse does not decode at offset {offset}: {exc}") from exc
        for pe_status in value["peStatus"]:
            code = pe_status["status"]
            statuses.append({**pe_status, "status": PE_STATUS_NAMES.get(code, str(code))})
        offset += length
    return statuses
