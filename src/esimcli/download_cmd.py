"""Verbs that talk to an SM-DP+: ``download``, ``metadata``, ``available``, ``cancel-session``.

An activation code carries a matching ID, and a confirmation code is a password: both are
registered with the invocation's redactor before anything runs. Either can come from stdin or
the environment so neither has to sit on a command line (visible in ``ps`` and shell history).
"""
from __future__ import annotations

import dataclasses
import re
import sys

import click

from esimflow import contract
from esimflow.openharmony import DownloadableProfileSpec, downloadable_profile_from_json
from sgp22.errors import EsimError
from sgp22.activation_code import check_smdp_address
from sgp22.secret_text import activation_code_secrets

from esimcli import params
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure, bad_input
from esimcli.operation_cmd import Call, operation_command, stdin_is_terminal
from esimcli.questions import CONFIRMATION_CODE_ENV

ACTIVATION_CODE_ENV = "ESIMFLOW_ACTIVATION_CODE"

_port = click.option("--port", "port_index", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Port of a multi-port eUICC.")
_force_disable = click.option(
    "--force-disable", is_flag=True,
    help="Disable the enabled profile without asking when switching (forceDisableProfile).")
_activation_code = click.argument("activation_code", required=False, envvar=ACTIVATION_CODE_ENV)
_confirmation_code = click.option(
    "--confirmation-code", envvar=CONFIRMATION_CODE_ENV, show_envvar=True, metavar="CODE",
    help="Confirmation code, if the operator gave one. Prefer the environment variable or the "
         "prompt: on a terminal the CLI asks (without echo) when the SM-DP+ wants one.")
_smdp = click.option("--smdp", "smdp_address", metavar="HOST[:PORT]",
                     help="SM-DP+ to use instead of the activation code's or the eUICC's default.")


def _read_activation_code(call: Call, text: str | None) -> str | None:
    """``-`` reads it from stdin (a QR scanner, a password manager)."""
    if text == "-":
        text = sys.stdin.readline()
    if not text or not text.strip():
        return None
    for secret in activation_code_secrets(text):  # before parsing: a refusal must not echo a field
        call.redactor.add(secret)
    code = params.activation_code(text)
    call.redactor.add(code.matching_id)
    return text.strip()


def _read_smdp_address(call: Call, address: str | None) -> str | None:
    """Checked here, so a pasted activation code or a matching ID typed into ``--smdp`` is a
    usage error that masks it, never a value carried into the workflow and quoted back."""
    if address is None:
        return None
    try:
        return check_smdp_address(address.strip())
    except EsimError as error:
        for secret in (address, address.strip(), *address.split("$")):
            call.redactor.add(secret)
        raise CliFailure(ExitCode.USAGE, error.kind, f"--smdp: {error.message}") from None


def _take_confirmation_code(call: Call, code: str | None) -> str | None:
    call.redactor.add(code)
    return code or None


_profile_json = click.option(
    "--profile-json", "profile_json", type=click.File("r"), metavar="FILE|-",
    help="An OpenHarmony DownloadableProfile as JSON (activationCode, confirmationCode, carrierName, "
         "accessRules), e.g. one of `available --json`'s data.downloadable_profiles; instead of "
         "ACTIVATION_CODE.")


def _profile_source(call: Call, activation_code: str | None, confirmation_code: str | None,
                    profile_json) -> DownloadableProfileSpec:
    """One source for the profile: the plain activation code (argument, stdin, environment) or
    a DownloadableProfile document, never both, so no code is silently preferred over another."""
    if profile_json is None:
        return DownloadableProfileSpec(_read_activation_code(call, activation_code),
                                       _take_confirmation_code(call, confirmation_code))
    text = profile_json.read()
    call.redactor.add(text.strip())
    try:
        spec = downloadable_profile_from_json(text)
    except EsimError as error:  # its messages name keys, never values
        raise bad_input(error.message) from None
    if activation_code is not None and spec.activation_code is not None:
        raise bad_input("give the activation code either as ACTIVATION_CODE or in --profile-json, not both")
    if confirmation_code and spec.confirmation_code:
        raise bad_input("give the confirmation code either with --confirmation-code or in --profile-json, not both")
    return dataclasses.replace(
        spec,
        activation_code=_read_activation_code(call, spec.activation_code or activation_code),
        confirmation_code=_take_confirmation_code(call, spec.confirmation_code or confirmation_code),
    )




@operation_command("download", watch=True, timeout=900.0)
@_activation_code
@_confirmation_code
@_profile_json
@_smdp
@click.option("--switch", "switch_after_download", is_flag=True,
              help="Enable the profile once installed (switchAfterDownload).")
@_force_disable
@click.option("--ppr-allowed", is_flag=True,
              help="The user already accepted the profile's policy rules (isPprAllowed).")
@click.option("--review", is_flag=True,
              help="Show the profile metadata and ask before installing (on a terminal).")
@click.option("--consent-timeout", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Seconds the download waits for a confirmation code or consent before it "
                   "cancels the session.")
@_port
def download(call: Call, activation_code: str | None, confirmation_code: str | None, profile_json,
             smdp_address: str | None, switch_after_download: bool, force_disable: bool, ppr_allowed: bool,
             review: bool, consent_timeout: float, port_index: int) -> contract.DownloadProfileInput:
    """Download a profile (OpenHarmony downloadProfile).

    ACTIVATION_CODE is LPA:1$<SM-DP+>$<matching ID>[...]; "-" reads it from stdin; without one
    the eUICC's default SM-DP+ is asked."""
    profile = _profile_source(call, activation_code, confirmation_code, profile_json)
    return contract.DownloadProfileInput(
        eid=call.require_eid(),
        activation_code=profile.activation_code,
        confirmation_code=profile.confirmation_code,
        carrier_name=profile.carrier_name,
        access_rules=list(profile.access_rules),
        smdp_address=_read_smdp_address(call, smdp_address),
        port_index=port_index,
        switch_after_download=switch_after_download,
        force_disable_profile=force_disable,
        is_ppr_allowed=ppr_allowed,
        require_user_consent=review,
        consent_timeout_seconds=consent_timeout,
        ask_again_if_code_refused=stdin_is_terminal(),  # a terminal can be asked for another code
    )


@operation_command("metadata", watch=True, timeout=300.0)
@_activation_code
@_confirmation_code
@_profile_json
@_force_disable
@_port
def metadata(call: Call, activation_code: str | None, confirmation_code: str | None, profile_json,
             force_disable: bool, port_index: int) -> contract.GetDownloadableProfileMetadataInput:
    """Preview what a download would install, without installing it
    (OpenHarmony getDownloadableProfileMetadata)."""
    profile = _profile_source(call, activation_code, confirmation_code, profile_json)
    return contract.GetDownloadableProfileMetadataInput(
        eid=call.require_eid(),
        activation_code=profile.activation_code,
        confirmation_code=profile.confirmation_code,
        carrier_name=profile.carrier_name,
        access_rules=list(profile.access_rules),
        port_index=port_index,
        force_disable_profile=force_disable,
    )


@operation_command("available", watch=True, timeout=300.0)
@_force_disable
@_port
def available(call: Call, force_disable: bool, port_index: int) -> contract.GetDownloadableProfilesInput:
    """Profiles waiting for this eUICC at its default SM-DP+ and the SM-DS
    (OpenHarmony getDownloadableProfiles)."""
    return contract.GetDownloadableProfilesInput(eid=call.require_eid(), port_index=port_index,
                                            force_disable_profile=force_disable)


_REASONS = {re.sub(r"(?<!^)(?=[A-Z])", "-", reason.name).lower(): reason for reason in contract.CancelReason}
"""``--reason`` values: SGP.22's names in kebab case (``endUserRejection`` -> ``end-user-rejection``)."""


@operation_command("cancel-session", timeout=120.0)
@click.argument("transaction_id")
@click.option("--reason", type=click.Choice(list(_REASONS)), default="end-user-rejection", show_default=True,
              help="SGP.22 CancelSessionReason.")
@_smdp
def cancel_session(call: Call, transaction_id: str, reason: str, smdp_address: str | None) -> contract.CancelSessionInput:
    """Cancel the RSP session TRANSACTION_ID (hex) on the card and at the SM-DP+
    (OpenHarmony cancelSession)."""
    try:
        bytes.fromhex(transaction_id)
    except ValueError:
        raise bad_input("the transaction ID is hex (as `download` progress and results show it)") from None
    return contract.CancelSessionInput(eid=call.require_eid(), transaction_id=transaction_id,
                                  reason=int(_REASONS[reason]), smdp_address=_read_smdp_address(call, smdp_address))
