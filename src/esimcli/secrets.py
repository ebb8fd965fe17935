"""Keeping matching IDs, confirmation codes and keys out of everything the CLI prints.

Commands register the secrets they were given; every line written to stdout or stderr goes
through :class:`Redactor`, so a secret echoed back by any layer (an error message from a
server, a result field) still never reaches the terminal or a log collector, and whatever is
shaped like one is masked too (:mod:`sgp22.masking`). What a user asks to see in clear
(``--show-secrets``) is printed past that masking by :func:`echo_in_clear`.
"""
from __future__ import annotations

import re
import sys

import click

from sgp22.secret_text import activation_code_secrets
from sgp22.masking import MIN_MASKED_LENGTH, mask_secrets_in


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_MASKED_LENGTH:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        return mask_secrets_in(text, self._secrets)


_TOKEN_LIKE = re.compile(r"(?=.*[A-Za-z])(?=.*[0-9])[A-Za-z0-9_.~+/=-]{8,}")


def argument_secrets(argv: list[str]) -> list[str]:
    """Command-line arguments that may be secrets put where the CLI did not expect them: every
    part of anything with a '$' (an activation code), and tokens shaped like a matching ID or a
    key (letters and digits, 8 characters or more, no path separator first)."""
    found = []
    for argument in argv:
        value = argument.split("=", 1)[1] if argument.startswith("--") and "=" in argument else argument
        if "$" in value:
            found += activation_code_secrets(value)
        elif not value.startswith(("-", "/", ".")) and _TOKEN_LIKE.fullmatch(value):
            found.append(value)
    return [secret for secret in found if len(secret) >= MIN_MASKED_LENGTH]


def mask_arguments(message: str, argv: list[str]) -> str:
    """``message`` (click's usage errors quote what was typed) with possible secrets masked."""
    return mask_secrets_in(message, argument_secrets(argv))


show_secrets_option = click.option(
    "--show-secrets", is_flag=True,
    help="Print activation codes in clear (they are masked by default: output gets pasted and logged).")


def echo_in_clear(text: str, *, err: bool = False) -> None:
    """Print ``text`` past the invocation's masking: only what the user asked to see in clear
    (``--show-secrets``, ``--reveal-secrets``)."""
    stream = sys.stderr if err else sys.stdout
    click.echo(text, file=getattr(stream, "unmasked", stream))


def echo_activation_code(text: str, *, show_secrets: bool, err: bool = False) -> None:
    """Print ``text`` (holding activation codes) in clear with ``show_secrets``, else masked."""
    if show_secrets:
        echo_in_clear(text, err=err)
    else:
        click.echo(mask_secrets_in(text), err=err)
