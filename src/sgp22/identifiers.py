"""The identifiers a user types or a card reports: activation codes, EIDs and ICCIDs.

Each parser refuses a defective value with an error whose ``kind`` names the defect
(``input.eid.check_digits``, ``input.activation_code.oid``, ...), so a user learns what to fix and
a program can branch on it. A matching ID is a bearer secret (whoever holds it can download the
profile), so it never appears whole in a repr, a str or an error message: see :func:`mask_secret`.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sgp22.errors import ActivationCodeInvalidError, BadInputError, MalformedDataError, SmdpAddressInvalidError
from sgp22.masking import mask_secrets_in, secrets_in
from sgp22.secret_text import (
    AC_FORMAT,
    AC_PREFIX,
    DELIMITER,
    OID,
    activation_code_secrets,
    mask_secret,
    scrub,
    shown_address,
)


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


# --- Activation code (SGP.22 section 4.1) -------------------------------------------------------

MAX_AC_LENGTH = 512          # SGP.22 bounds each field; this only stops absurd input early
MAX_MATCHING_ID_LENGTH = 255

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _invalid(message: str, defect: str) -> ActivationCodeInvalidError:
    return ActivationCodeInvalidError(message, kind=f"input.activation_code.{defect}")


def _bad_address(message: str, defect: str) -> SmdpAddressInvalidError:
    return SmdpAddressInvalidError(message, kind=f"input.smdp_address.{defect}")


def check_smdp_address(address: str) -> str:
    """``address`` if it is a fully qualified host name, ``localhost``, an IPv4 address or a
    bracketed IPv6 address, with an optional ``:port`` (lab servers listen on high ports);
    otherwise a SmdpAddressInvalidError that does not repeat a value that could be a secret.

    A single-label name other than ``localhost`` is refused: SGP.22 addresses are FQDNs, and a
    bare token there is far more likely a matching ID in the wrong field."""
    if not isinstance(address, str):
        raise _bad_address(f"an SM-DP+ address is text, got {type(address).__name__}", "invalid")
    if not address:
        raise _bad_address("the SM-DP+ address is empty", "missing")
    shown = shown_address(address)
    if DELIMITER in address:
        raise _bad_address(f"SM-DP+ address {mask_secret(address)} contains '$': give the host name, "
                           "not an activation code", "invalid")
    if "://" in address:
        raise _bad_address(f"SM-DP+ address {shown} is a URL: give the host name only", "invalid")
    host, port = address, None
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise _bad_address(f"SM-DP+ address {shown} opens '[' without closing it", "invalid")
        host, rest = address[: end + 1], address[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise _bad_address(f"SM-DP+ address {shown} has text after ']'", "invalid")
            port = rest[1:]
        if not re.fullmatch(r"\[[0-9A-Fa-f:.]+\]", host) or host.count(":") < 2:
            raise _bad_address(f"SM-DP+ address {shown} is not an IPv6 literal", "invalid")
    elif ":" in address:
        host, port = address.rsplit(":", 1)
    # A length check before int(): Python refuses to convert 4,300+ digits (ValueError).
    if port is not None and not (port.isascii() and port.isdecimal() and len(port) <= 5 and 0 < int(port) < 65536):
        port_shown = repr(port) if len(port) <= 6 and port.isascii() and port.isprintable() else f"of {len(port)} characters"
        raise _bad_address(f"SM-DP+ address {shown} has an invalid port {port_shown}", "port")
    if not host.startswith("["):
        if len(host) > 253:
            raise _bad_address(f"SM-DP+ host name has {len(host)} characters, at most 253 are allowed", "invalid")
        labels = host.split(".")
        for number, label in enumerate(labels, start=1):
            if not _LABEL.fullmatch(label):
                raise _bad_address(
                    f"SM-DP+ address {shown}: host name label {number} {_label_defect(label)}", "invalid"
                )
        if len(labels) == 1 and host.lower() != "localhost":
            raise _bad_address(
                f"SM-DP+ address {shown} is a single name, not a fully qualified host name "
                "(is a matching ID in the address field?)",
                "invalid",
            )
    return address


def _label_defect(label: str) -> str:
    if not label:
        return "is empty"
    if len(label) > 63:
        return f"has {len(label)} characters (at most 63)"
    if label.startswith("-") or label.endswith("-"):
        return "starts or ends with '-'"
    bad = next(char for char in label if not (char.isascii() and (char.isalnum() or char == "-")))
    return f"contains {_name_char(bad)} (letters, digits and '-' only)"


def check_oid(text: str) -> str:
    """``text`` if it is a dotted OBJECT IDENTIFIER that DER can carry."""
    from sgp22.codec import encode_oid_content  # deferred: compiling the ASN.1 is not needed here

    shown = repr(text[:60]) if re.fullmatch(r"[0-9.]*", text) else mask_secret(text)  # a misplaced token?
    if not OID.fullmatch(text):
        raise _invalid(f"SM-DP+ OID {shown} is not a dotted number such as 2.999.10", "oid")
    try:
        encode_oid_content(text)
    except ValueError:
        raise _invalid(
            f"SM-DP+ OID {shown} is not possible: the first arc is 0, 1 or 2, and after 0 or 1 the second is below 40",
            "oid",
        ) from None
    return text


@dataclass(frozen=True, repr=False)
class ActivationCode:
    """``LPA:1$<SM-DP+ address>$<matching ID>[$<SM-DP+ OID>[$1]]``; empty matching ID and OID
    are allowed (the SM-DP+ then picks the profile by EID)."""

    smdp_address: str
    matching_id: str = ""
    smdp_oid: str = ""
    confirmation_code_required: bool = False

    def __post_init__(self) -> None:
        check_smdp_address(self.smdp_address)
        _check_matching_id(self.matching_id)
        if self.smdp_oid:
            check_oid(self.smdp_oid)

    @classmethod
    def parse(cls, text: str) -> ActivationCode:
        try:
            return cls._parse(text)
        except (ActivationCodeInvalidError, SmdpAddressInvalidError) as error:
            # Defence in depth: whatever field a secret sits in, no message repeats it.
            raise type(error)(scrub(error.message, activation_code_secrets(text)), kind=error.kind) from None

    @classmethod
    def _parse(cls, text: str) -> ActivationCode:
        if not isinstance(text, str):
            raise _invalid(f"an activation code is text, got {type(text).__name__}", "type")
        text = text.strip()
        if not text:
            raise _invalid("the activation code is empty", "empty")
        if len(text) > MAX_AC_LENGTH:
            raise _invalid(f"the activation code has {len(text)} characters, at most {MAX_AC_LENGTH} are allowed", "too_long")
        bad = next((char for char in text if not (char.isascii() and char.isprintable()) or char.isspace()), None)
        if bad is not None:
            raise _invalid(
                f"the activation code contains {_name_char(bad)} at position {text.index(bad) + 1}; "
                "only printable ASCII without spaces is allowed",
                "characters",
            )
        body = text[len(AC_PREFIX) :] if text[: len(AC_PREFIX)].upper() == AC_PREFIX else text
        fields = body.split(DELIMITER)
        if fields[0] != AC_FORMAT:
            shown = repr(fields[0]) if len(fields[0]) <= 3 else mask_secret(fields[0])  # may be a bare token
            raise _invalid(
                f"activation code format {shown} is not supported (expected '{AC_FORMAT}', as in LPA:1$...)",
                "format_version",
            )
        if len(fields) < 3:
            raise _invalid(
                "the activation code needs at least LPA:1$<SM-DP+ address>$<matching ID> "
                f"(found {len(fields)} field(s))",
                "too_few_fields",
            )
        if len(fields) > 5:
            raise _invalid(f"the activation code has {len(fields)} '$'-separated fields, at most 5 are allowed", "too_many_fields")
        address, matching_id = fields[1], fields[2]
        oid = fields[3] if len(fields) > 3 else ""
        if len(fields) == 5 and fields[4] != "1":
            raise _invalid(
                f"the confirmation code flag must be '1' or absent, got {mask_secret(fields[4])} "
                "(the confirmation code itself never goes into the activation code)",
                "cc_flag",
            )
        return cls(
            smdp_address=address,
            matching_id=matching_id,
            smdp_oid=oid,
            confirmation_code_required=len(fields) == 5,
        )

    def to_text(self) -> str:
        """The full activation code, matching ID in clear: for QR codes and the lab, never logs."""
        return self._text(self.matching_id)

    def to_json_dict(self, reveal: bool = False) -> dict[str, Any]:
        return {
            "format": AC_FORMAT,
            "smdp_address": self.smdp_address,
            "matching_id": self.matching_id if reveal else mask_secret(self.matching_id),
            "smdp_oid": self.smdp_oid or None,
            "confirmation_code_required": self.confirmation_code_required,
        }

    def _text(self, matching_id: str) -> str:
        fields = [AC_FORMAT, self.smdp_address, matching_id]
        if self.smdp_oid or self.confirmation_code_required:
            fields.append(self.smdp_oid)
        if self.confirmation_code_required:
            fields.append("1")
        return AC_PREFIX + DELIMITER.join(fields)

    def __str__(self) -> str:
        return self._text(mask_secret(self.matching_id))

    def __repr__(self) -> str:
        return (
            f"ActivationCode(smdp_address={self.smdp_address!r}, matching_id={mask_secret(self.matching_id)!r}, "
            f"smdp_oid={self.smdp_oid!r}, confirmation_code_required={self.confirmation_code_required})"
        )


def _check_matching_id(matching_id: str) -> None:
    if len(matching_id) > MAX_MATCHING_ID_LENGTH:
        raise _invalid(
            f"the matching ID has {len(matching_id)} characters, at most {MAX_MATCHING_ID_LENGTH} are allowed",
            "matching_id",
        )
    bad = next((char for char in matching_id if char == DELIMITER or not (char.isascii() and char.isprintable()) or char.isspace()), None)
    if bad is not None:
        raise _invalid(f"the matching ID {mask_secret(matching_id)} contains {_name_char(bad)}", "matching_id")


def check_no_secret(value: str, what: str) -> str:
    """``value``, unless it holds an activation code or a matching ID: ``what`` (a workflow id,
    an operation id) is kept in plain text where the engine's encryption does not reach."""
    if secrets_in(value):
        raise BadInputError(f"the {what} {mask_secrets_in(value)} looks like it holds an activation code or a "
                            f"matching ID, which would be stored in plain text: choose another {what}",
                            kind="input.secret_in_identifier")
    return value


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
    return f"{_name_char(char)} at position {position}"


def _name_char(char: str) -> str:
    if char.isascii() and char.isprintable() and not char.isspace():
        return repr(char)
    return f"U+{ord(char):04X}"
