"""Activation codes (SGP.22 section 4.1) and the SM-DP+ addresses and OIDs inside them: parsed
and checked field by field, each defect its own ``kind`` (``input.activation_code.oid``, ...).
The matching ID is a bearer secret, so it never appears whole in a repr, a str or a message.
Apart from the card's identifiers (``sgp22.identifiers``: EID, ICCID) because a user types these,
with their own grammar.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sgp22.errors import ActivationCodeInvalidError, SmdpAddressInvalidError
from sgp22.secret_text import (
    AC_FORMAT,
    AC_PREFIX,
    DELIMITER,
    OID,
    activation_code_secrets,
    mask_secret,
    name_char,
    scrub,
    shown_address,
)


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
    return f"contains {name_char(bad)} (letters, digits and '-' only)"


def check_oid(text: str) -> str:
    """``text`` if it is a dotted OBJECT IDENTIFIER that DER can carry."""
    from sgp22.asn1_der import encode_oid_content  # deferred: asn1tools is not needed otherwise

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
                f"the activation code contains {name_char(bad)} at position {text.index(bad) + 1}; "
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
        raise _invalid(f"the matching ID {mask_secret(matching_id)} contains {name_char(bad)}", "matching_id")
