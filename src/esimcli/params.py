"""Checking what the user typed before anything is sent: a malformed EID, ICCID or activation
code is a usage error (exit code 2) with a message that names the problem and never repeats a
matching ID back."""
from __future__ import annotations

import click

from sgp22.errors import EsimError
from sgp22.activation_code import ActivationCode
from sgp22.identifiers import Eid, Iccid

from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure


def eid_param(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(Eid.parse(value.strip()))
    except EsimError as error:
        raise click.BadParameter(error.message, ctx=ctx, param=param) from None


def iccid_param(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(Iccid.parse(value.strip()))
    except EsimError as error:
        raise click.BadParameter(error.message, ctx=ctx, param=param) from None


def activation_code(text: str) -> ActivationCode:
    """Parsed, so its matching ID can be registered as a secret before anything is printed."""
    try:
        return ActivationCode.parse(text.strip())
    except EsimError as error:  # the parser's messages never quote the matching ID
        raise CliFailure(ExitCode.USAGE, error.kind, error.message) from None
