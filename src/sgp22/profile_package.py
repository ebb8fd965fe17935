"""Unprotected profile packages (UPP): the SAIP profile elements an SM-DP+ binds into a BPP.

A package is the concatenation of DER ProfileElements (SAIP PEDefinitions): the ProfileHeader
first, the PE-End last. Real packages (the GSMA TS.48 test profiles) code the header's ICCID
as plain BCD (``89 00 01 ..``, a 19-digit ICCID padded with F) while EF.ICCID in the MF holds
the nibble-swapped EF.ICCID coding, the coding StoreMetadata uses too; an SM-DP+ swaps the
header value to build the metadata, and an eUICC accepts the package whose header matches the
metadata under that rule. The parser reads both and checks EF.ICCID against the header.

Every SAIP element type is recognised by its tag; those esimflow does not interpret (PINs,
keys, file system templates) are read as far as their PEHeader and kept byte for byte, so a
real package installs unchanged. The lab SM-DP+ also generates packages of a chosen ICCID and
size (header, MF with EF.ICCID, files of generated content, end) that any SAIP reader reads.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TypeVar

import asn1tools

from sgp22 import codec, tlv
from sgp22.errors import BadInputError, MalformedDataError
from sgp22.es10_types import AccessRule
from sgp22.identifiers import Iccid

SAIP_VERSION = (2, 3)
"""ProfileHeader major/minor version the lab writes (SAIP 2.3, as TS.48 test profiles)."""

EUICC_RESPONSE_OK = bytes.fromhex("3007A0053003800100")
"""EUICCResponse{peStatus{status ok}}: the simaResponse of a successful installation."""

DEFAULT_PROFILE_TYPE = "esimflow lab profile"
DEFAULT_SERVICES = ("usim", "milenage")
MF_TEMPLATE_OID = "2.23.143.1.2.1"
"""The SAIP template of the MF (with EF.ICCID, EF.DIR, EF.ARR)."""

MAX_FILLER_FILES = 256
FILLER_FILE_CHUNK = 16384
"""Content bytes per generated file; a transparent EF holds at most 65535 bytes."""
_FILLER_FILE_ID_BASE = 0xAF00
_FILLER_DESCRIPTOR = b"\x41\x21"  # transparent EF, shareable
INTERPRETED_KINDS = frozenset({"header", "mf", "genericFileManagement", "application", "nonStandard", "end"})
"""The elements upp.asn defines in full; the others are read as far as their PEHeader."""
_MF_ID = 1
"""PEHeader identification of the generated MF; the generated files follow it."""


class ProfilePackageError(MalformedDataError):
    """A profile package that is not header .. end of well-formed profile elements."""

    kind = "upp.malformed"


class IccidMismatchError(ProfilePackageError):
    """EF.ICCID in the MF holds another ICCID than the profile header."""

    kind = "upp.iccid_mismatch"


@functools.lru_cache(maxsize=1)
def _source() -> str:
    return resources.files("sgp22").joinpath("asn1/upp.asn").read_text(encoding="utf-8")


_building = threading.RLock()
T = TypeVar("T")


def _built_once(build: Callable[[], T]) -> Callable[[], T]:
    """Cache a costly build (the ASN.1 compile or parse tree: a second or more) so that threads
    asking for it together build it once: ``lru_cache`` lets each of them build its own, and a
    card host's first installs arrive together (16 card threads: 12 compiles)."""
    built: list[T] = []

    @functools.wraps(build)
    def get() -> T:
        if not built:
            with _building:
                if not built:
                    built.append(build())
        return built[0]

    return get


@_built_once
def _spec():
    return codec.compile_der_string(_source())


@_built_once
def type_descriptors() -> dict[str, dict]:
    """asn1tools' parse tree of upp.asn by type name (for readable output)."""
    return asn1tools.parse_string(_source())["EsimflowProfilePackage"]["types"]


@functools.lru_cache(maxsize=1)
def _kinds_by_tag() -> dict[int, str]:
    """SAIP element name by DER tag (context class, constructed): header A0 .. opt-iot BF21."""
    kinds = {}
    for member in type_descriptors()["ProfileElement"]["members"]:
        if member:
            number = member["tag"]["number"]
            kinds[0xA0 | number if number < 31 else 0xBF00 | number] = member["name"]
    return kinds


@dataclass(frozen=True)
class ProfileElement:
    """One element: ``kind`` is the SAIP alternative name (``unknown`` for a tag the SAIP module
    does not define); ``value`` is what the project's module decodes; ``der`` is the element as
    received."""

    kind: str
    value: object = field(repr=False)
    der: bytes = field(repr=False)

    @property
    def tag(self) -> int:
        return tlv.read_tlv(self.der)[0].tag

    @property
    def identification(self) -> int | None:
        """The PEHeader identification number (the header, the rfu and unknown elements have none)."""
        first = next(iter(self.value.values()), None) if isinstance(self.value, dict) else None
        return first.get("identification") if isinstance(first, dict) else None


@dataclass(frozen=True)
class ParsedProfile:
    iccid: str
    """The header's ICCID (19 or 20 digits)."""
    major_version: int
    minor_version: int
    profile_type: str | None
    services: tuple[str, ...]
    elements: tuple[ProfileElement, ...] = field(repr=False)
    size: int = 0
    ef_iccid: str | None = None
    """The ICCID EF.ICCID of the MF is filled with, when the package fills it."""

    @property
    def header(self) -> dict:
        return self.elements[0].value


# --- the two ICCID codings -------------------------------------------------------------------------


def encode_iccid(iccid: str) -> bytes:
    """19 or 20 digits -> EF.ICCID coding (StoreMetadata '5A', EF.ICCID): nibble-swapped BCD,
    F padded (``8949..`` -> ``98 94 ..``). The Luhn digit is not checked here."""
    return Iccid(str(iccid)).to_bytes()


def decode_iccid(coded: bytes) -> str:
    """Inverse of :func:`encode_iccid`; refuses non-digit nibbles and F padding inside digits."""
    try:
        return Iccid.from_bytes(bytes(coded)).digits
    except MalformedDataError as error:
        raise ProfilePackageError(f"ICCID in EF.ICCID coding: {error.message}") from None


def encode_header_iccid(iccid: str) -> bytes:
    """19 or 20 digits -> the ProfileHeader coding: plain BCD, a 19-digit ICCID F padded."""
    return Iccid(str(iccid)).to_plain_bcd()


def decode_header_iccid(coded: bytes) -> str:
    """Inverse of :func:`encode_header_iccid`."""
    try:
        return Iccid.from_plain_bcd(bytes(coded)).digits
    except MalformedDataError as error:
        raise ProfilePackageError(f"ICCID of the profile header: {error.message}") from None


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
        "iccid": encode_header_iccid(iccid),
        "eUICC-Mandatory-services": {name: None for name in services},
        "eUICC-Mandatory-GFSTEList": [MF_TEMPLATE_OID],  # the template the generated MF uses
    }
    if profile_type:
        header["profileType"] = profile_type
    return _encode("header", header)


def _mf_pe(iccid: str) -> bytes:
    """The MF from its SAIP template, EF.ICCID filled with the ICCID in EF.ICCID coding."""
    return _encode("mf", {
        "mf-header": {"mandated": None, "identification": _MF_ID},
        "templateID": MF_TEMPLATE_OID,
        "mf": [],
        "ef-iccid": [("fillFileContent", encode_iccid(iccid))],
        "ef-dir": [],
        "ef-arr": [],
    })


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
        "gfm-header": {"identification": _MF_ID + 1 + index},
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
    access_rules: Sequence[AccessRule] = (),
) -> bytes:
    """A profile package for ``iccid``: header, MF, generated files when ``size`` asks for them,
    the ARA-M with ``access_rules`` when there are any, end.

    With ``size`` the package is exactly that many bytes; sizes below the smallest package with
    one file cannot be met and raise :class:`BadInputError` naming the smallest size.
    """
    head = _header_pe(iccid, profile_type, services, version) + _mf_pe(iccid)

    def tail(files: int) -> bytes:
        """The ARA-M (if any) and the end, numbered after ``files`` generated files."""
        after_files = _MF_ID + 1 + files
        if not access_rules:
            return _end_pe(after_files)
        return _ara_m_pe(access_rules, after_files) + _end_pe(after_files + 1)

    if size is None or size == len(head) + len(tail(0)):
        return head + tail(0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BadInputError("profile package size must be a non-negative number of bytes")
    smallest = len(head) + len(_filler_pe(0, b"", False)) + len(tail(1))
    if size < smallest:
        raise BadInputError(f"a profile package with files is at least {smallest} bytes, {size} asked")
    full_file = len(_filler_pe(0, bytes(FILLER_FILE_CHUNK), False))
    fewest = max(1, -(-(size - len(head) - len(tail(0))) // full_file))
    if fewest > MAX_FILLER_FILES:
        raise BadInputError(f"a lab profile package holds at most {MAX_FILLER_FILES} files "
                            f"({MAX_FILLER_FILES * FILLER_FILE_CHUNK} bytes)")
    for files in (fewest, fewest + 1):
        end = tail(files)
        fillers = _fill_exactly(iccid, size - len(head) - len(end), files)
        if fillers is not None:
            return head + b"".join(fillers) + end
    raise BadInputError(f"cannot build a profile package of exactly {size} bytes")


# --- the ARA-M and its access rules (GlobalPlatform SEAC) ------------------------------------------------

ARA_M_AID = bytes.fromhex("A00000015141434C00")
"""The ARA-M application of GlobalPlatform SE Access Control; its package AID drops the last byte."""
_STORE_DATA = bytes.fromhex("80E29000")
"""STORE DATA, last block, BER-TLV data: how processData hands the ARA-M its rules."""
_STORE_REF_AR_DO = 0xF0
"""SEAC Command-Store-REF-AR-DO: the rules (REF-AR-DO, 'E2') to add."""


def _ara_m_pe(rules: Sequence[AccessRule], identification: int) -> bytes:
    """An application element instantiating the ARA-M, one Store-REF-AR-DO command per rule."""
    commands = []
    for rule in rules:
        data = tlv.build(_STORE_REF_AR_DO, codec.encode("RefArDo", rule.to_asn1()))
        commands.append(_STORE_DATA + bytes([len(data)]) + data)
    return _encode("application", {
        "app-Header": {"identification": identification},
        "instanceList": [{
            "applicationLoadPackageAID": ARA_M_AID[:-1],
            "classAID": ARA_M_AID,
            "instanceAID": ARA_M_AID,
            "applicationPrivileges": bytes(3),
            "applicationSpecificParametersC9": b"",
            "processData": commands,
        }],
    })


def access_rules_of(package: ParsedProfile) -> list[AccessRule]:
    """The rules the package's ARA-M instance is given (its Store-REF-AR-DO commands), in order."""
    rules = []
    for element in package.elements:
        if element.kind != "application":
            continue
        for instance in element.value.get("instanceList") or []:
            if instance["instanceAID"] != ARA_M_AID:
                continue
            for command in instance.get("processData") or []:
                rules.extend(_stored_rules(command, element.identification))
    return rules


def _stored_rules(command: bytes, identification: int | None) -> list[AccessRule]:
    where = f"the ARA-M of element {identification}"
    if len(command) < 5 or command[1] != 0xE2 or len(command) < 5 + command[4]:
        raise ProfilePackageError(f"{where} is given a command that is not STORE DATA")
    try:
        store = tlv.parse_one(command[5:5 + command[4]], expected_tag=_STORE_REF_AR_DO, what="Store-REF-AR-DO")
        return [AccessRule.from_asn1(codec.decode("RefArDo", item.raw)) for item in tlv.children(store.value)]
    except (MalformedDataError, BadInputError) as error:
        raise ProfilePackageError(f"{where}: an access rule does not decode ({error.message})") from None


@functools.lru_cache(maxsize=1)
def _service_names() -> tuple[str, ...]:
    return tuple(member.name for member in _spec().types["ServicesList"].type.root_members)


# --- parsing -------------------------------------------------------------------------------------


def _where(number: int, offset: int, kind: str | None) -> str:
    return f"profile element {number} ({kind}) at offset {offset}" if kind else \
        f"profile element {number} at offset {offset}"


def split_elements(data: bytes) -> list[ProfileElement]:
    """Cut a package into its elements, decoding what the project's module defines and keeping
    every element's bytes as received. A defect is one line naming the element and its offset."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ProfilePackageError("profile package is empty")
    data = bytes(data)
    elements = []
    offset = 0
    while offset < len(data):
        number = len(elements) + 1
        try:
            framed, after = tlv.read_tlv(data, offset)
        except MalformedDataError as error:
            kind = _kinds_by_tag().get(_leading_tag(data, offset))
            raise ProfilePackageError(f"{_where(number, offset, kind)} is cut short: {error.message}") from None
        raw = data[offset:after]
        kind = _kinds_by_tag().get(framed.tag)
        if kind is None:
            elements.append(ProfileElement("unknown", None, raw))
        else:
            try:
                alternative, value = _spec().decode("ProfileElement", raw)
            except (asn1tools.DecodeError, IndexError, ValueError) as exc:
                raise ProfilePackageError(f"{_where(number, offset, kind)} does not decode: {_first_line(exc)}") from None
            elements.append(ProfileElement(alternative, value, raw))
        offset = after
    return elements


def _leading_tag(data: bytes, offset: int) -> int:
    first = data[offset]
    if first & 0x1F == 0x1F and offset + 1 < len(data):
        return (first << 8) | data[offset + 1]
    return first


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


def file_content(commands: list) -> bytes:
    """The bytes a SAIP ``File`` writes: each fillFileContent at the current position, each
    fillFileOffset skipping ahead (unwritten bytes read as FF, the erased state)."""
    content = bytearray()
    position = 0
    for choice, value in commands:
        if choice == "fillFileOffset":
            position += value
        elif choice == "fillFileContent":
            if len(content) < position:
                content += b"\xff" * (position - len(content))
            content[position:position + len(value)] = value
            position += len(value)
    return bytes(content)


def _ef_iccid(elements: list[ProfileElement]) -> str | None:
    for element in elements:
        if element.kind == "mf":
            content = file_content(element.value["ef-iccid"])
            if not content:
                return None
            try:
                return Iccid.from_bytes(content[:10]).digits
            except (MalformedDataError, BadInputError):
                raise ProfilePackageError(f"EF.ICCID holds {content[:10].hex().upper()}, not an ICCID "
                                          "in EF.ICCID coding") from None
    return None


def parse_upp(data: bytes) -> ParsedProfile:
    """Read a package, checking it runs from one ProfileHeader to one PE-End and that EF.ICCID,
    when the package fills it, holds the header's ICCID."""
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
    iccid = decode_header_iccid(header["iccid"])
    ef_iccid = _ef_iccid(elements)
    if ef_iccid is not None and ef_iccid != iccid:
        raise IccidMismatchError(f"EF.ICCID holds ICCID {ef_iccid}, the profile header {iccid}")
    return ParsedProfile(
        iccid=iccid,
        major_version=header["major-version"],
        minor_version=header["minor-version"],
        profile_type=header.get("profileType"),
        services=tuple(name for name in _service_names() if name in header["eUICC-Mandatory-services"]),
        elements=tuple(elements),
        size=len(data),
        ef_iccid=ef_iccid,
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
