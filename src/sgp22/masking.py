"""Masking secrets in free text, whatever field they were put in.

The parsers mask what they know is a secret (the matching ID of an activation code, a
confirmation code), but a user can type a matching ID anywhere: as a nickname, a namespace, a
migration id, a reader name, a reason. Every text a user can read (CLI output, log lines, error
messages, the console's pages, decoded payloads) therefore goes through :func:`mask_secrets_in`,
which masks, besides the secrets the caller knows:

- every activation code (a word starting ``LPA:`` or holding two ``$``): each field that is not a plain address, an OID
  or the confirmation code flag, see :func:`~sgp22.identifiers.activation_code_secrets`;
- every word shaped like an SGP.22 matching ID: upper-case letters, digits, ``-`` and ``_``
  (SGP.22 4.1 allows ``0-9``, ``A-Z`` and ``-``), 8 characters or more, with letters *and*
  digits. Hexadecimal (APDUs, transaction IDs), decimal identifiers (EIDs, ICCIDs), timestamps
  and constant names (``RESULT_SGP_22_OTHER``) have that alphabet too and are left alone. Other
  upper-case names with digits (``NIST-P256``) are masked as well: a false alarm costs a
  readable word, a miss costs a profile.

A value that would be stored in plain text outside the engine's encryption (a Temporal workflow
id, an update id, a search attribute) is refused instead: :func:`check_no_secret`.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from sgp22.errors import BadInputError
from sgp22.secret_text import MIN_MASKED_LENGTH, looks_like_matching_id, mask_secret, mask_secrets_in, secrets_in


def check_no_secret(value: str, what: str) -> str:
    """``value``, unless it holds an activation code or a matching ID: ``what`` (a workflow id,
    an operation id) is kept in plain text where the engine's encryption does not reach."""
    if secrets_in(value):
        raise BadInputError(f"the {what} {mask_secrets_in(value)} looks like it holds an activation code or a "
                            f"matching ID, which would be stored in plain text: choose another {what}",
                            kind="input.secret_in_identifier")
    return value


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


__all__ = ["MIN_MASKED_LENGTH", "MaskingLogFilter", "check_no_secret", "looks_like_matching_id", "mask_logs", "mask_secret",
           "mask_secrets_in", "secrets_in"]
