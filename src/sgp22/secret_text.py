"""Finding and masking secrets in text: the part of :mod:`sgp22.masking` every other module can
use, :mod:`sgp22.errors` included (it masks every error message), so it imports nothing of the
library. A matching ID is a bearer secret (whoever holds it can download the profile).
"""
from __future__ import annotations

import re
from collections.abc import Iterable

AC_PREFIX = "LPA:"
AC_FORMAT = "1"
DELIMITER = "$"
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


# --- anything shaped like a secret (see sgp22.masking) ------------------------------------------

_SHAPE = re.compile(r"(?<![0-9A-Za-z_])[0-9A-Z_]+(?:-[0-9A-Z_]+)*(?![0-9A-Za-z_])")
_WORD = r"[^\s\"'<>,;()\[\]{}$]*"
_ACTIVATION_CODE_WORD = re.compile(rf"(?i)LPA:{_WORD}(?:\${_WORD})+|{_WORD}\${_WORD}(?:\${_WORD})+")
_HEX = re.compile(r"[0-9A-F]+")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2})?")
_MIN_SHAPED_LENGTH = 8
MIN_MASKED_LENGTH = 4
"""Shorter known secrets are left alone: they would mask ordinary words and numbers (a count, a
nickname), and a secret that short offers no protection worth the false alarms."""


def looks_like_matching_id(word: str) -> bool:
    """Whether ``word`` has the shape of an SGP.22 matching ID (see the module docstring)."""
    return (_MIN_SHAPED_LENGTH <= len(word) <= 255 and _SHAPE.fullmatch(word) is not None
            and any(char.isalpha() for char in word) and any(char.isdigit() for char in word)
            and not _HEX.fullmatch(word) and not _TIMESTAMP.fullmatch(word) and not _is_constant_name(word))


def _is_constant_name(word: str) -> bool:
    """``RESULT_SGP_22_OTHER``: words and numbers joined by ``_`` (result code names), not the
    letters and digits mixed in each group that a matching ID has."""
    return "_" in word and "-" not in word and all(part.isalpha() or part.isdigit() for part in word.split("_"))


def secrets_in(text: str) -> list[str]:
    """The parts of ``text`` that may be secrets: activation code fields and matching-ID-shaped
    words."""
    found = []
    for word in _ACTIVATION_CODE_WORD.findall(text):  # its fields, so the address stays readable
        found += [secret for secret in activation_code_secrets(word) if secret != word and len(secret) >= MIN_MASKED_LENGTH]
    found += [word for word in _SHAPE.findall(text) if looks_like_matching_id(word)]
    return found


def mask_secrets_in(text: str, known: Iterable[str | None] = ()) -> str:
    """``text`` with the ``known`` secrets and everything that may be one masked."""
    if not isinstance(text, str):
        return text
    known_secrets = [secret for secret in known if secret and len(secret) >= MIN_MASKED_LENGTH]
    return scrub(text, [*known_secrets, *secrets_in(text)])


def name_char(char: str) -> str:
    """A character as a message names it: itself when printable, else its code point (``U+00A0``)."""
    if char.isascii() and char.isprintable() and not char.isspace():
        return repr(char)
    return f"U+{ord(char):04X}"
