"""BER-TLV framing for the places where SGP.22 needs raw bytes rather than decoded values.

Signed structures (serverSigned1, smdpSigned2, ...) must reach the eUICC byte for byte as the
server produced them, and a bound profile package must be cut at TLV boundaries without
decoding its encrypted segments; both only need tag/length framing, which is what this module
does. Everything else goes through `sgp22.codec`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sgp22.errors import MalformedDataError


@dataclass(frozen=True)
class Tlv:
    tag: int
    header: bytes  # tag and length octets exactly as received
    value: bytes

    @property
    def raw(self) -> bytes:
        return self.header + self.value

    @property
    def constructed(self) -> bool:
        first = self.header[0]
        return bool(first & 0x20)


class TruncatedError(MalformedDataError):
    """The data ends inside a TLV's tag, length or value (more bytes would have made it whole)."""


def _tag_name(tag: int) -> str:
    return f"{tag:02X}" if tag < 0x100 else f"{tag:04X}" if tag < 0x10000 else f"{tag:06X}"


def read_tag(data: bytes, offset: int = 0) -> tuple[int, int]:
    """The BER tag at ``offset`` (up to 4 bytes): (tag, offset just after it)."""
    start, end = offset, len(data)
    if offset >= end:
        raise TruncatedError("TLV expected but the data ended")
    first = data[offset]
    tag = first
    offset += 1
    if first & 0x1F == 0x1F:
        while True:
            if offset >= end:
                raise TruncatedError("TLV tag truncated")
            byte = data[offset]
            tag = (tag << 8) | byte
            offset += 1
            if not byte & 0x80:
                break
            if offset - start > 4:
                raise MalformedDataError("TLV tag longer than 4 bytes")
    return tag, offset


def read_length(data: bytes, offset: int, *, what: str = "TLV", minimal: bool = False) -> tuple[int, int]:
    """The DER length at ``offset``: (length, offset of the value). The one length reader of
    sgp22: refuses the indefinite form and length fields over 4 bytes, and with ``minimal`` also
    a longer form than the length needs (BSP segments, SGP.22 2.5.4)."""
    end = len(data)
    if offset >= end:
        raise TruncatedError(f"{what}: length missing")
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    if first == 0x80:
        raise MalformedDataError(f"{what}: indefinite length is not DER")
    count = first & 0x7F
    if count > 4:
        raise MalformedDataError(f"{what}: length field of {count} bytes")
    if offset + 1 + count > end:
        raise TruncatedError(f"{what}: length truncated")
    length = int.from_bytes(data[offset + 1 : offset + 1 + count], "big")
    if minimal and len(encode_length(length)) != 1 + count:
        raise MalformedDataError(f"{what}: length {length} is not DER-minimal")
    return length, offset + 1 + count


def read_tlv(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Read one TLV starting at ``offset``; returns it and the offset just after it."""
    start = offset
    tag, offset = read_tag(data, offset)
    length, offset = read_length(data, offset, what=f"TLV {_tag_name(tag)}")
    if offset + length > len(data):
        raise TruncatedError(
            f"TLV {_tag_name(tag)}: {length} value bytes announced, {len(data) - offset} present"
        )
    return Tlv(tag, bytes(data[start:offset]), bytes(data[offset : offset + length])), offset + length


def parse_one(data: bytes, *, expected_tag: int | None = None, what: str = "data") -> Tlv:
    """Exactly one TLV, nothing after it (optionally with a given tag)."""
    tlv, end = read_tlv(data)
    if end != len(data):
        raise MalformedDataError(f"{what}: {len(data) - end} bytes after the {_tag_name(tlv.tag)} TLV")
    if expected_tag is not None and tlv.tag != expected_tag:
        raise MalformedDataError(f"{what}: tag {_tag_name(tlv.tag)} where {_tag_name(expected_tag)} was expected")
    return tlv


def children(value: bytes) -> list[Tlv]:
    items = []
    offset = 0
    while offset < len(value):
        tlv, offset = read_tlv(value, offset)
        items.append(tlv)
    return items


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def encode_tag(tag: int) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def build(tag: int, value: bytes) -> bytes:
    return encode_tag(tag) + encode_length(len(value)) + value


def tag_name(tag: int) -> str:
    return _tag_name(tag)
