"""Masking secrets in free text, whatever field they were put in.

The parsers mask what they know is a secret (the matching ID of an activation code, a
confirmation code), but a user can type a matching ID anywhere: as a nickname, a namespace, a
migration id, a reader name, a reason. Every text a user can read (CLI output, log lines, error
messages, the console's pages, decoded payloads) therefore goes through :func:`mask_secrets_in`,
which masks, besides the secrets the caller knows:

- every activation code (a word starting ``LPA:`` or holding two ``$``): each field that is not a plain address, an OID
  or the confirmation code flag, see :func:`~sgp22.secret_text.activation_code_secrets`;
- every word shaped like an SGP.22 matching ID: upper-case letters, digits, ``-`` and ``_``
  (SGP.22 4.1 allows ``0-9``, ``A-Z`` and ``-``), 8 characters or more, with letters *and*
  digits. Hexadecimal (APDUs, transaction IDs), decimal identifiers (EIDs, ICCIDs), timestamps
  and constant names (``RESULT_SGP_22_OTHER``) have that alphabet too and are left alone. Other
  upper-case names with digits (``NIST-P256``) are masked as well: a false alarm costs a
  readable word, a miss costs a profile.

A value that would be stored in plain text outside the engine's encryption (a Temporal workflow
id, an update id, a search attribute) is refused instead: :func:`sgp22.identifiers.check_no_secret`.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from sgp22.secret_text import activation_code_secrets, mask_secret, scrub

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


class MaskingLogFilter(logging.Filter):
    """Masks possible secrets in every record a handler writes (message, arguments and the
    traceback's text): a value a user put in the wrong field reaches the logs masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets_in(record.exc_text)
        return True


def mask_logs(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Put a :class:`MaskingLogFilter` on ``handlers`` (default: the root logger's)."""
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if not any(isinstance(existing, MaskingLogFilter) for existing in handler.filters):
            handler.addFilter(MaskingLogFilter())


__all__ = ["MIN_MASKED_LENGTH", "MaskingLogFilter", "looks_like_matching_id", "mask_logs", "mask_secret",
           "mask_secrets_in", "secrets_in"]
