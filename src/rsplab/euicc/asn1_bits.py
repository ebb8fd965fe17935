"""Named-bit BIT STRINGs (PprIds, NotificationEvent, reset options) as sets of names.

asn1tools hands BIT STRINGs over as ``(bytes, bit_count)``; DER wants named-bit lists without
trailing zero bits, which is what :func:`to_bits` produces.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence


def to_names(value: tuple[bytes, int] | None, order: Sequence[str]) -> list[str]:
    if value is None:
        return []
    data, count = value
    names = []
    for index, name in enumerate(order):
        if index < count and index // 8 < len(data) and data[index // 8] & (0x80 >> (index % 8)):
            names.append(name)
    return names


def to_bits(names: Iterable[str], order: Sequence[str]) -> tuple[bytes, int]:
    indexes = [order.index(name) for name in names]
    if not indexes:
        return b"", 0
    count = max(indexes) + 1
    data = bytearray((count + 7) // 8)
    for index in indexes:
        data[index // 8] |= 0x80 >> (index % 8)
    return bytes(data), count
