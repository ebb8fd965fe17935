"""What every ES10 call shares: sending one DER request to the ISD-R, decoding the answer with
the expected type, and turning a result code other than ok into the taxonomy's error."""
from __future__ import annotations

from enum import IntEnum
from typing import Any, Protocol

from sgp22 import codec
from sgp22.errors import Es10ResultError
from sgp22.es10_enums import enum_value, value_name
from sgp22.taxonomy import es10_error


class Es10Channel(Protocol):
    """An open ISD-R session (`sgp22.apdu.IsdrChannel`, or anything answering the same way)."""

    def store_data(self, request: bytes) -> bytes: ...


def exchange(isdr: Es10Channel, request: bytes, response_type: str) -> tuple[bytes, Any]:
    """Send one request; return the raw answer and its decoded value."""
    raw = isdr.store_data(request)
    return raw, codec.decode(response_type, raw)


def call(isdr: Es10Channel, request_type: str, request_value: Any, response_type: str) -> Any:
    return exchange(isdr, codec.encode(request_type, request_value), response_type)[1]


def result_error(function: str, result: IntEnum | int, **details: Any) -> Es10ResultError:
    """The taxonomy's error for an ES10 result other than ok."""
    return es10_error(function, value_name(result), int(result), **details)


def check_result(function: str, enum_class: type[IntEnum], code: int) -> None:
    """Raise unless ``code`` is the enumeration's ``ok``."""
    result = enum_value(enum_class, code)
    if result != 0:
        raise result_error(function, result)
