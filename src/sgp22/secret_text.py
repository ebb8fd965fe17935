"""What in a piece of text may be a secret, and how it is shown instead: the mask of a secret
(``AB12…(16)``), a message with known secrets masked, the fields of an activation code that may
be secrets, and an address shown in clear only while it looks like a host name.

Pure string work with nothing that raises the library's errors, so the errors themselves
(``sgp22.errors``, through ``sgp22.masking``) can mask every message with it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

AC_PREFIX = "LPA:"
AC_FORMAT = "1"
DELIMITER = "$"
"""An activation code's field separator (SGP.22 section 4.1)."""
OID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")


def mask_secret(secret: str) -> str:
    """``AB12…(16)``: enough to tell two secrets apart, not enough to use one."""
    if not secret:
        return ""
    return f"{secret[:4]}…({len(secret)})" if len(secret) > 8 else f"…({len(secret)})"


_PLAIN_ADDRESS = re.compile(
    r"((?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]{1,63}\.?|localhost|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{0,6})?",
)


def shown_address(address: str) -> str:
    """How an error names a refused (or unreachable) address: in clear only while it has the
    shape of a host name (dotted labels, an optional numeric port), so a matching ID put in the
    address field or its port (fields swapped, a pasted activation code) never comes back in a
    message."""
    scheme_free = address.split("://", 1)[-1]
    if len(address) <= 80 and _PLAIN_ADDRESS.fullmatch(scheme_free):
        return repr(address)
    return mask_secret(address)


def activation_code_secrets(text: str) -> list[str]:
    """Every part of an activation code string that may be a secret, found before parsing, so
    whatever a parser or a later layer says about a malformed code can be masked: each
    ``$``-separated field except the format, a valid-looking address, an OID and the flag."""
    if not isinstance(text, str):
        return []
    text = text.strip()
    fields = text.split(DELIMITER)
    secrets = []
    for position, value in enumerate(fields):
        if not value or (position == 0 and value.upper() in (AC_FORMAT, AC_PREFIX + AC_FORMAT)):
            continue
        if position == 1 and shown_address(value) != mask_secret(value):
            continue
        if position == 3 and OID.fullmatch(value):
            continue
        if position == 4 and value == "1":
            continue
        secrets.append(value)
    if len(fields) > 1 or secrets:
        secrets.append(text)
    return secrets


def scrub(message: str, secrets: Iterable[str | None]) -> str:
    """``message`` with every one of ``secrets`` (longest first) replaced by its mask."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, mask_secret(secret))
    return message


def name_char(char: str) -> str:
    """A character as a message names it: itself when printable, else its code point (``U+00A0``)."""
    if char.isascii() and char.isprintable() and not char.isspace():
        return repr(char)
    return f"U+{ord(char):04X}"
