"""Keeping matching IDs, confirmation codes and keys out of everything the CLI prints.

Commands register the secrets they were given; every line written to stdout or stderr goes
through :class:`Redactor`, so a secret echoed back by any layer (an error message from a
server, a result field) still never reaches the terminal or a log collector.
"""
from __future__ import annotations

from sgp22.identifiers import mask_secret

# Shorter values are too likely to collide with ordinary text (a nickname, a count), and a
# secret that short offers no protection worth the false positives.
_MIN_REDACTED_LENGTH = 4


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= _MIN_REDACTED_LENGTH:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        # Longest first, so a secret containing another is masked as a whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, mask_secret(secret))
        return text
