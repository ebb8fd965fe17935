"""The identifiers a card reports and a user types: EIDs and ICCIDs (activation codes:
``sgp22.activation_code``).

Each parser refuses a defective value with an error whose ``kind`` names the defect
(``input.eid.check_digits``, ``input.activation_code.oid``, ...), so a user learns what to fix and
a program can branch on it. A matching ID is a bearer secret (whoever holds it can download the
profile), so it never appears whole in a repr, a str or an error message (``sgp22.secret_text``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sgp22.errors import BadInputError, MalformedDataError
from sgp22.secret_text import name_char


# --- EID (SGP.29: EIN + ESIN + two ISO 7064 MOD 97-10 check digits) ------------------------------

EID_DIGITS = 32


@dataclass(frozen=True)
class Eid:
    digits: str

    def __post_init__(self) -> None:
        digits = _require_text(self.digits)
        if not digits:
            raise BadInputError("the EID is empty", kind="input.eid.empty")
        if not _is_ascii_decimal(digits):
            raise BadInputError(
                f"an EID has decimal digits only, found {_first_bad_char(digits, _is_ascii_decimal)}",
                kind="input.eid.characters",
            )
        if len(digits) != EID_DIGITS:
            raise BadInputError(f"an EID has {EID_DIGITS} digits, got {len(digits)}", kind="input.eid.length")
        if int(digits) % 97 != 1:
            raise BadInputError(
                f"EID {digits} fails its check digits (expected {self.check_digits_for(digits[:30])})",
                kind="input.eid.check_digits",
            )

    @staticmethod
    def check_digits_for(first_30_digits: str) -> str:
        """The two check digits that make ``first_30_digits`` a valid EID."""
        if len(first_30_digits) != EID_DIGITS - 2 or not _is_ascii_decimal(first_30_digits):
            raise BadInputError("an EID body is 30 decimal digits", kind="input.eid.length")
        return f"{98 - int(first_30_digits + '00') % 97:02d}"

    @classmethod
    def with_check_digits(cls, first_30_digits: str) -> Eid:
        return cls(first_30_digits + cls.check_digits_for(first_30_digits))

    @classmethod
    def parse(cls, text: str) -> Eid:
        return cls(_strip(text))

    @classmethod
    def from_bytes(cls, data: bytes) -> Eid:
        """The 16-byte plain BCD EID of GetEuiccDataResponse (tag '5A'), check digits judged."""
        if len(data) != EID_DIGITS // 2:
            raise MalformedDataError(f"an EID is {EID_DIGITS // 2} bytes, the card sent {len(data)}", kind="data.eid")
        digits = bytes(data).hex()
        if not digits.isdecimal():
            raise MalformedDataError(f"the card's EID {digits.upper()} is not BCD", kind="data.eid")
        try:
            return cls.parse(digits)
        except BadInputError as error:
            raise MalformedDataError(f"the card's {error.message}", kind="data.eid") from None

    def to_bytes(self) -> bytes:
        return bytes.fromhex(self.digits)

    def __str__(self) -> str:
        return self.digits


# --- ICCID (ITU-T E.118: up to 19 digits + Luhn check digit) -------------------------------------

ICCID_BYTES = 10


def luhn_digit(payload: str) -> str:
    """The Luhn check digit to append to ``payload`` (decimal digits)."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        value = int(char)
        if position % 2 == 0:  # doubled: the rightmost payload digit sits next to the check digit
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


@dataclass(frozen=True)
class Iccid:
    """19 or 20 digits. Built from user input (:meth:`parse`) the last one is a valid Luhn digit;
    built from a card (:meth:`from_bytes`) it is whatever the card holds."""

    digits: str

    def __post_init__(self) -> None:
        digits = _require_text(self.digits)
        if not digits:
            raise BadInputError("the ICCID is empty", kind="input.iccid.empty")
        if not _is_ascii_decimal(digits):
            raise BadInputError(
                f"an ICCID has decimal digits only, found {_first_bad_char(digits, _is_ascii_decimal)}",
                kind="input.iccid.characters",
            )
        if len(digits) not in (19, 20):
            raise BadInputError(f"an ICCID has 19 or 20 digits, got {len(digits)}", kind="input.iccid.length")

    @classmethod
    def with_check_digit(cls, payload: str) -> Iccid:
        if not _is_ascii_decimal(payload) or len(payload) not in (18, 19):
            raise BadInputError("an ICCID body is 18 or 19 decimal digits", kind="input.iccid.length")
        return cls(payload + luhn_digit(payload))

    @classmethod
    def parse(cls, text: str) -> Iccid:
        """One trailing F (as EF.ICCID prints) is accepted after 19 digits."""
        digits = _strip(text)
        if len(digits) == 20 and digits[-1] in "fF":
            digits = digits[:-1]
        iccid = cls(digits)
        if luhn_digit(digits[:-1]) != digits[-1]:
            raise BadInputError(
                f"ICCID {digits} fails its Luhn check digit (expected {luhn_digit(digits[:-1])})",
                kind="input.iccid.check_digit",
            )
        return iccid

    @classmethod
    def from_bytes(cls, data: bytes) -> Iccid:
        """EF.ICCID coding (tag '5A', 10 bytes, nibble-swapped BCD, F padded), as a card sends it.

        The Luhn digit is not enforced: this is what the card holds, whatever its quality."""
        if len(data) != ICCID_BYTES:
            raise MalformedDataError(f"an ICCID is {ICCID_BYTES} bytes, the card sent {len(data)}", kind="data.iccid")
        nibbles = "".join(f"{byte & 0x0F:X}{byte >> 4:X}" for byte in data)
        digits = nibbles.rstrip("F")
        if not _is_ascii_decimal(digits) or len(digits) < 19:
            raise MalformedDataError(f"the card's ICCID {bytes(data).hex().upper()} is not padded BCD", kind="data.iccid")
        return cls(digits)

    def to_bytes(self) -> bytes:
        padded = self.digits.ljust(2 * ICCID_BYTES, "F")
        return bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))

    @classmethod
    def from_plain_bcd(cls, data: bytes) -> Iccid:
        """The SAIP ProfileHeader coding: the digits as they read (``89 00 01 ..``), a 19-digit
        ICCID padded with a final F. The Luhn digit is not enforced (see :meth:`from_bytes`)."""
        if len(data) != ICCID_BYTES:
            raise MalformedDataError(f"an ICCID is {ICCID_BYTES} bytes, got {len(data)}", kind="data.iccid")
        nibbles = bytes(data).hex().upper()
        digits = nibbles[:-1] if nibbles.endswith("F") else nibbles
        if not _is_ascii_decimal(digits):
            raise MalformedDataError(f"ICCID {nibbles} is not plain BCD (digits, one final F at most)",
                                     kind="data.iccid")
        return cls(digits)

    def to_plain_bcd(self) -> bytes:
        return bytes.fromhex(self.digits.ljust(2 * ICCID_BYTES, "F"))

    def __str__(self) -> str:
        return self.digits




# --- helpers -------------------------------------------------------------------------------------


def _require_text(value: object) -> str:
    if not isinstance(value, str):
        raise BadInputError(f"expected text, got {type(value).__name__}", kind="input.type")
    return value


def _strip(text: str) -> str:
    return _require_text(text).strip()


def _is_ascii_decimal(text: str) -> bool:
    return text.isascii() and text.isdecimal()


def _first_bad_char(text: str, good: Callable[[str], bool]) -> str:
    position, char = next((i, c) for i, c in enumerate(text, start=1) if not good(c))
    return f"{name_char(char)} at position {position}"
