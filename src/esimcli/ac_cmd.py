"""``esimflow ac``: check an activation code before handing it to a download."""
from __future__ import annotations

import json
import sys

import click

from esimcli.exit_codes import ExitCode
from sgp22.errors import EsimError
from sgp22.activation_code import ActivationCode


@click.group()
def ac() -> None:
    """Activation codes (LPA:1$<SM-DP+ address>$<matching ID>[$<OID>[$1]])."""


@ac.command("parse")
@click.argument("code", metavar="CODE|-")
def parse(code: str) -> None:
    """Print the parts of an activation code as JSON, the matching ID masked; - reads stdin.

    Exit codes: 0 valid; 2 malformed (one line on stderr names the defect and its kind)."""
    text = sys.stdin.read() if code == "-" else code
    try:
        parsed = ActivationCode.parse(text)
    except EsimError as error:
        click.echo(f"error: {error.message} [{error.kind}]", err=True)
        sys.exit(ExitCode.USAGE)
    click.echo(json.dumps(parsed.to_json_dict(), indent=2, ensure_ascii=False))
