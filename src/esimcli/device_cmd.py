"""Verbs that read what an eUICC is: ``eid``, ``euicc-info``, and ``devices`` (which eUICCs the
workers serve)."""
from __future__ import annotations

import click

from esimflow import contract

from esimcli.failures import bad_input
from esimcli.operation_cmd import Call, operation_command


@operation_command("eid", timeout=60.0)
@click.option("--device", help="Registry name or reader spec (pcsc:<reader>, local:<name>) "
                               "instead of an EID.")
def eid(call: Call, device: str | None) -> contract.GetEidInput:
    """Read the EID from the card (OpenHarmony getEid)."""
    target = device or call.eid
    if not target:
        raise bad_input("give --device (a reader or a registry name) or --eid")
    return contract.GetEidInput(device=target)


@operation_command("euicc-info", timeout=60.0)
def euicc_info(call: Call) -> contract.GetEuiccInfoInput:
    """eUICC information: OS version, SGP.22 version, free memory (OpenHarmony getEuiccInfo)."""
    return contract.GetEuiccInfoInput(eid=call.require_eid())


@operation_command("devices", timeout=60.0, eid_option=False)
def devices(call: Call) -> contract.ListDevicesInput:
    """The eUICCs that running workers serve, with the host and reader of each."""
    return contract.ListDevicesInput()
