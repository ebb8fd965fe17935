"""Verbs on installed profiles: ``profiles``, ``switch``, ``delete``, ``nickname``."""
from __future__ import annotations

import click

from esimflow import contract

from esimcli import params
from esimcli.failures import bad_input
from esimcli.operation_cmd import Call, operation_command

MAX_NICKNAME_BYTES = 64  # SGP.22 profileNickname UTF8String (SIZE(0..64))

_port = click.option("--port", "port_index", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Port of a multi-port eUICC.")


@operation_command("profiles", timeout=60.0)
def profiles(call: Call) -> contract.ListProfilesInput:
    """List the profiles on the eUICC (OpenHarmony getEuiccProfileInfoList)."""
    return contract.ListProfilesInput(eid=call.require_eid())


@operation_command("switch")
@click.argument("iccid", callback=params.iccid_param)
@click.option("--force-disable", is_flag=True,
              help="Disable the profile enabled now without asking (forceDisableProfile).")
@_port
def switch(call: Call, iccid: str, force_disable: bool, port_index: int) -> contract.SwitchProfileInput:
    """Enable the profile ICCID (OpenHarmony switchToProfile).

    Without --force-disable the operation refuses with RESULT_MUST_DISABLE_PROFILE when another
    profile is enabled on the port."""
    return contract.SwitchProfileInput(eid=call.require_eid(), iccid=iccid, port_index=port_index,
                                  force_disable_profile=force_disable)


@operation_command("delete")
@click.argument("iccid", callback=params.iccid_param)
def delete(call: Call, iccid: str) -> contract.DeleteProfileInput:
    """Delete the disabled profile ICCID (OpenHarmony deleteProfile)."""
    return contract.DeleteProfileInput(eid=call.require_eid(), iccid=iccid)


@operation_command("nickname")
@click.argument("iccid", callback=params.iccid_param)
@click.argument("nickname")
def nickname(call: Call, iccid: str, nickname: str) -> contract.SetNicknameInput:
    """Set the nickname of profile ICCID; "" clears it (OpenHarmony setProfileNickname)."""
    if len(nickname.encode()) > MAX_NICKNAME_BYTES:
        raise bad_input(f"a nickname holds at most {MAX_NICKNAME_BYTES} bytes (UTF-8), got {len(nickname.encode())}")
    return contract.SetNicknameInput(eid=call.require_eid(), iccid=iccid, nickname=nickname)
