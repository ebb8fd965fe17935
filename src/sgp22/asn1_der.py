"""asn1tools' DER compiler with the two corrections this project relies on (asn1tools is pinned
to 0.169.0, whose internals these replace; tests/protocol/test_protocol_asn1tools_pin.py fails
on another version):

- OBJECT IDENTIFIERs whose second arc is 40 or more (the SGP.26 SM-DP+ OID 2.999.10) decode
  wrongly; the content octets are coded here (X.690 section 8.19);
- a SEQUENCE OF / SET OF element that claims to run past its list makes the decoder loop;
  here it is a decode error.
"""
from __future__ import annotations

import threading
from typing import Any

import asn1tools
import asn1tools.codecs.ber as _ber
import asn1tools.codecs.der as _der

_compile_lock = threading.Lock()


# --- OBJECT IDENTIFIER content octets (X.690 section 8.19) ---------------------------------


def encode_oid_content(dotted: str) -> bytes:
    """Content octets of an OBJECT IDENTIFIER given as a dotted string."""
    try:
        arcs = [int(part) for part in dotted.split(".")]
    except (AttributeError, ValueError):
        raise ValueError(f"object identifier must be dotted decimal, got {str(dotted)[:40]!r}") from None
    if len(arcs) < 2 or any(arc < 0 for arc in arcs):
        raise ValueError(f"object identifier needs at least two non-negative arcs: {str(dotted)[:40]!r}")
    if arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise ValueError(f"object identifier {str(dotted)[:40]!r} has an impossible first or second arc")
    content = bytearray()
    for subidentifier in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        content += _base128(subidentifier)
    return bytes(content)


def decode_oid_content(content: bytes) -> str:
    """Dotted string of OBJECT IDENTIFIER content octets; the first subidentifier carries two arcs
    (0 and 1 take values below 40 and 80, everything above 80 belongs to arc 2)."""
    if not content:
        raise ValueError("empty object identifier")
    subidentifiers: list[int] = []
    value = 0
    fresh = True
    for byte in content:
        if fresh and byte == 0x80:
            raise ValueError("object identifier subidentifier with a leading 0x80 byte")
        value = (value << 7) | (byte & 0x7F)
        fresh = not byte & 0x80
        if fresh:
            subidentifiers.append(value)
            value = 0
    if not fresh:
        raise ValueError("object identifier ends inside a subidentifier")
    first = subidentifiers[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + subidentifiers[1:])


def _base128(value: int) -> bytes:
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))


class _ObjectIdentifier(_der.ObjectIdentifier):  # type: ignore[misc]  # asn1tools has no types
    def encode_content(self, data: str, values: Any = None) -> bytes:
        return encode_oid_content(data)

    def decode_content(self, data: bytes, offset: int, length: int) -> tuple[str, int]:
        end_offset = offset + length
        if end_offset > len(data):
            raise ValueError("object identifier runs past the end of the data")
        return decode_oid_content(bytes(data[offset:end_offset])), end_offset


def _decode_elements(array_type: Any, data: bytes, offset: int, length: int) -> tuple[list[Any], int]:
    decoded = []
    end_offset = offset + length
    while offset < end_offset:
        element, next_offset = array_type.element_type.decode(data, offset)
        _ber.check_decode_error(array_type.element_type, element, data, offset)
        if next_offset <= offset or next_offset > end_offset:
            raise _ber.DecodeError(f"{array_type.name}: element overruns its list", offset=offset)
        decoded.append(element)
        offset = next_offset
    return decoded, end_offset


# asn1tools' own __init__ calls super() through the module-level name we swap, hence the
# direct ArrayType.__init__ calls.
class _SequenceOf(_der.SequenceOf):  # type: ignore[misc]
    def __init__(self, name: str, element_type: Any) -> None:
        _der.ArrayType.__init__(self, name, "SEQUENCE OF", _ber.Tag.SEQUENCE, element_type)

    decode_content = _decode_elements


class _SetOf(_der.SetOf):  # type: ignore[misc]
    def __init__(self, name: str, element_type: Any) -> None:
        _der.ArrayType.__init__(self, name, "SET OF", _ber.Tag.SET, element_type)

    decode_content = _decode_elements


_CORRECTED_TYPES = {"ObjectIdentifier": _ObjectIdentifier, "SequenceOf": _SequenceOf, "SetOf": _SetOf}


def compile_der_string(source: str) -> asn1tools.compiler.Specification:
    """asn1tools DER compile with the two corrections of this module; for any other ASN.1
    module the project compiles (the profile package subset), so it cannot hang either."""
    # The DER compiler looks the classes up in its module namespace while it builds the types,
    # so swapping them for the duration of the compile affects only this specification.
    with _compile_lock:
        originals = {name: getattr(_der, name) for name in _CORRECTED_TYPES}
        for name, corrected in _CORRECTED_TYPES.items():
            setattr(_der, name, corrected)
        try:
            return asn1tools.compile_string(source, "der")
        finally:
            for name, original in originals.items():
                setattr(_der, name, original)
