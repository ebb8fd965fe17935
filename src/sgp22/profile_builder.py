"""Generated profile packages: the lab SM-DP+'s own UPPs of a chosen ICCID and size (header, MF
with EF.ICCID, files of generated content, the ARA-M with its access rules, end) that any SAIP
reader reads, ``sgp22.profile_package`` among them.

Apart from the package reader because only the lab writes packages; a real SM-DP+'s packages
come from the operator and are only read.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from sgp22 import codec, tlv
from sgp22.errors import BadInputError
from sgp22.es10_types import AccessRule
from sgp22.profile_package import (
    ARA_M_AID,
    STORE_DATA,
    STORE_REF_AR_DO,
    encode_header_iccid,
    encode_iccid,
    service_names,
    spec,
)

SAIP_VERSION = (2, 3)
"""ProfileHeader major/minor version the lab writes (SAIP 2.3, as TS.48 test profiles)."""

DEFAULT_PROFILE_TYPE = "esimflow lab profile"
DEFAULT_SERVICES = ("usim", "milenage")
MF_TEMPLATE_OID = "2.23.143.1.2.1"
"""The SAIP template of the MF (with EF.ICCID, EF.DIR, EF.ARR)."""

MAX_FILLER_FILES = 256
FILLER_FILE_CHUNK = 16384
"""Content bytes per generated file; a transparent EF holds at most 65535 bytes."""
_FILLER_FILE_ID_BASE = 0xAF00
_FILLER_DESCRIPTOR = b"\x41\x21"  # transparent EF, shareable
_MF_ID = 1
"""PEHeader identification of the generated MF; the generated files follow it."""



def _encode(kind: str, value: dict[str, Any]) -> bytes:
    return bytes(spec().encode("ProfileElement", (kind, value)))


def _header_pe(iccid: str, profile_type: str | None, services: Iterable[str], version: tuple[int, int]) -> bytes:
    unknown = set(services) - set(service_names())
    if unknown:
        raise BadInputError(f"unknown SAIP services: {', '.join(sorted(unknown))}")
    header: dict[str, Any] = {
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
    commands: list[tuple[str, Any]] = [
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
    services: Iterable[str] = DEFAULT_SERVICES,
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


def _ara_m_pe(rules: Sequence[AccessRule], identification: int) -> bytes:
    """An application element instantiating the ARA-M, one Store-REF-AR-DO command per rule."""
    commands = []
    for rule in rules:
        data = tlv.build(STORE_REF_AR_DO, codec.encode("RefArDo", rule.to_asn1()))
        commands.append(STORE_DATA + bytes([len(data)]) + data)
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
