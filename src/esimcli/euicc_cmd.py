"""Verbs on the eUICC as a whole: ``reset``, ``reserve-for-factory-restore``, ``notifications``,
``osu status|start`` and ``smdp get|set`` (the default SM-DP+ address)."""
from __future__ import annotations

import sys

import click

from esimflow import contract

from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure, bad_input
from esimcli.operation_cmd import Call, operation_command


@operation_command("reset", watch=True, timeout=300.0)
@click.option("--delete-operational-profiles", "delete_operational", is_flag=True,
              help="Delete every operational profile (DELETE_OPERATIONAL_PROFILES).")
@click.option("--delete-test-profiles", "delete_test", is_flag=True,
              help="Delete field-loaded test profiles (DELETE_FIELD_LOADED_TEST_PROFILES).")
@click.option("--reset-default-smdp", is_flag=True,
              help="Clear the default SM-DP+ address (RESET_DEFAULT_SMDP_ADDRESS).")
@click.option("--yes", is_flag=True, help="Do not ask before deleting profiles.")
def reset(call: Call, delete_operational: bool, delete_test: bool, reset_default_smdp: bool,
          yes: bool) -> contract.ResetMemoryInput:
    """Reset the eUICC memory (OpenHarmony resetMemory). Name at least one part to reset."""
    options = contract.ResetOption(0)
    if delete_operational:
        options |= contract.ResetOption.DELETE_OPERATIONAL_PROFILES
    if delete_test:
        options |= contract.ResetOption.DELETE_FIELD_LOADED_TEST_PROFILES
    if reset_default_smdp:
        options |= contract.ResetOption.RESET_DEFAULT_SMDP_ADDRESS
    if not options:
        raise bad_input("name what to reset: --delete-operational-profiles, --delete-test-profiles "
                        "and/or --reset-default-smdp")
    eid = call.require_eid()
    if (delete_operational or delete_test) and not yes:
        if not sys.stdin.isatty():
            raise bad_input("reset deletes profiles: confirm with --yes")
        if not click.confirm(f"Delete the profiles on eUICC {eid}? This cannot be undone", err=True):
            raise CliFailure(ExitCode.USAGE, "cli.declined", "reset not confirmed: nothing was changed")
    return contract.ResetMemoryInput(eid=eid, options=int(options))


@operation_command("reserve-for-factory-restore", watch=True, timeout=300.0)
def reserve_for_factory_restore(call: Call) -> contract.ReserveProfilesForFactoryRestoreInput:
    """Keep the operational profiles through a device factory reset
    (OpenHarmony reserveProfilesForFactoryRestore)."""
    return contract.ReserveProfilesForFactoryRestoreInput(eid=call.require_eid())


@operation_command("notifications", watch=True, timeout=300.0)
@click.option("--seq", "sequence_numbers", type=click.IntRange(min=0), multiple=True,
              help="Only this notification sequence number (repeatable).")
def notifications(call: Call, sequence_numbers: tuple[int, ...]) -> contract.ProcessNotificationsInput:
    """Deliver the pending notifications to their SM-DP+ and remove them from the card."""
    return contract.ProcessNotificationsInput(eid=call.require_eid(), sequence_numbers=list(sequence_numbers) or None)


@click.group()
def osu() -> None:
    """eUICC operating system update (OpenHarmony getOsuStatus / startOsu)."""


@operation_command("status", timeout=60.0)
def osu_status(call: Call) -> contract.OsUpdateInput:
    """Report the OS update status (OpenHarmony getOsuStatus)."""
    return contract.OsUpdateInput(eid=call.require_eid(), start=False)


@operation_command("start", watch=True, timeout=900.0)
def osu_start(call: Call) -> contract.OsUpdateInput:
    """Update the eUICC OS unless it is the latest (OpenHarmony startOsu)."""
    return contract.OsUpdateInput(eid=call.require_eid(), start=True)


osu.add_command(osu_status)
osu.add_command(osu_start)


@click.group()
def smdp() -> None:
    """The eUICC's default SM-DP+ address (OpenHarmony get/setDefaultSmdpAddress)."""


@operation_command("get", timeout=60.0)
def smdp_get(call: Call) -> contract.GetDefaultSmdpAddressInput:
    """Read the default SM-DP+ (and root SM-DS) address."""
    return contract.GetDefaultSmdpAddressInput(eid=call.require_eid())


@operation_command("set")
@click.argument("smdp_address", metavar="ADDRESS", required=False)
@click.option("--clear", is_flag=True, help="Remove the default SM-DP+ address.")
def smdp_set(call: Call, smdp_address: str | None, clear: bool) -> contract.SetDefaultSmdpAddressInput:
    """Set the default SM-DP+ address (a host name, optionally :port)."""
    if clear == bool(smdp_address):
        raise bad_input("give an ADDRESS or --clear")
    if smdp_address and ("/" in smdp_address or " " in smdp_address or "$" in smdp_address):
        raise bad_input("an SM-DP+ address is a host name with an optional :port, not a URL")
    return contract.SetDefaultSmdpAddressInput(eid=call.require_eid(), address="" if clear else smdp_address)


smdp.add_command(smdp_get)
smdp.add_command(smdp_set)
