"""Unprotected profile packages (UPP): the SAIP profile elements an SM-DP+ binds into a BPP.

A package is the concatenation of DER ProfileElements (SAIP PEDefinitions): the ProfileHeader
first, the PE-End last. Real packages (the GSMA TS.48 test profiles) code the header's ICCID
as plain BCD (``89 00 01 ..``, a 19-digit ICCID padded with F) while EF.ICCID in the MF holds
the nibble-swapped EF.ICCID coding, the coding StoreMetadata uses too; an SM-DP+ swaps the
header value to build the metadata, and an eUICC accepts the package whose header matches the
metadata under that rule. The parser reads both and checks EF.ICCID against the header.

Every SAIP element type is recognised by its tag; those esimflow does not interpret (PINs,
keys, file system templates) are read as far as their PEHeader and kept byte for byte, so a
real package installs unchanged. The lab SM-DP+'s generated packages: ``sgp22.profile_builder``.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

import asn1tools

from sgp22 import asn1_der, codec, tlv
from sgp22.errors import BadInputError, MalformedDataError
from sgp22.es10_types import AccessRule
from sgp22.identifiers import Iccid

EUICC_RESPONSE_OK = bytes.fromhex("3007A0053003800100")
"""EUICCResponse{peStatus{status ok}}: the simaResponse of a successful installation."""

INTERPRETED_KINDS = frozenset({"header", "mf", "genericFileManagement", "application", "nonStandard", "end"})
"""The elements upp.asn defines in full; the others are read as far as their PEHeader."""


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
def spec() -> Any:
    """upp.asn compiled for DER (an asn1tools specification)."""
    return asn1_der.compile_der_string(_source())


@_built_once
def type_descriptors() -> dict[str, dict[str, Any]]:
    """asn1tools' parse tree of upp.asn by type name (for readable output)."""
    descriptors: dict[str, dict[str, Any]] = asn1tools.parse_string(_source())["EsimflowProfilePackage"]["types"]
    return descriptors


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
    value: Any = field(repr=False)
    """The decoded element (asn1tools' dicts, lists and tuples), None for an unknown tag."""
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
    def header(self) -> dict[str, Any]:
        header: dict[str, Any] = self.elements[0].value
        return header


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


# --- the ARA-M and its access rules (GlobalPlatform SEAC) ------------------------------------------------

ARA_M_AID = bytes.fromhex("A00000015141434C00")
"""The ARA-M application of GlobalPlatform SE Access Control; its package AID drops the last byte."""
STORE_DATA = bytes.fromhex("80E29000")
"""STORE DATA, last block, BER-TLV data: how processData hands the ARA-M its rules."""
STORE_REF_AR_DO = 0xF0
"""SEAC Command-Store-REF-AR-DO: the rules (REF-AR-DO, 'E2') to add."""


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
        store = tlv.parse_one(command[5:5 + command[4]], expected_tag=STORE_REF_AR_DO, what="Store-REF-AR-DO")
        return [AccessRule.from_asn1(codec.decode("RefArDo", item.raw)) for item in tlv.children(store.value)]
    except (MalformedDataError, BadInputError) as error:
        raise ProfilePackageError(f"{where}: an access rule does not decode ({error.message})") from None


@functools.lru_cache(maxsize=1)
def service_names() -> tuple[str, ...]:
    return tuple(member.name for member in spec().types["ServicesList"].type.root_members)


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
    elements: list[ProfileElement] = []
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
                alternative, value = spec().decode("ProfileElement", raw)
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


def file_content(commands: list[tuple[str, Any]]) -> bytes:
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
        services=tuple(name for name in service_names() if name in header["eUICC-Mandatory-services"]),
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
    value: dict[str, Any] = {"peStatus": [pe_status]}
    if aborted:
        value["profileInstallationAborted"] = None
    return bytes(spec().encode("EUICCResponse", value))


def parse_euicc_response(data: bytes) -> list[dict[str, Any]]:
    """The PE statuses of a simaResponse (one or more concatenated EUICCResponse values), status
    by name (unnamed codes, e.g. ISO 7816 status words, as their decimal string)."""
    statuses = []
    offset = 0
    data = bytes(data)
    if not data:
        raise ProfilePackageError("simaResponse is empty")
    while offset < len(data):
        try:
            value, length = spec().decode_with_length("EUICCResponse", data[offset:])
        except (asn1tools.DecodeError, IndexError, ValueError) as exc:
            raise ProfilePackageError(f"simaResponse does not decode at offset {offset}: {exc}") from exc
        for pe_status in value["peStatus"]:
            code = pe_status["status"]
            statuses.append({**pe_status, "status": PE_STATUS_NAMES.get(code, str(code))})
        offset += length
    return statuses
