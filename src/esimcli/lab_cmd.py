"""``esimflow lab``: the lab's own tools (test PKI, virtual eUICC, lab SM-DP+, whole lab)."""
import importlib

import click

# module path, attribute: each a click command or group placed under `esimflow lab`
LAB_FAMILIES: list[tuple[str, str]] = [
    ("esimcli.lab_pki", "pki"),
    ("esimcli.lab_euicc", "euicc"),
    ("esimcli.lab_modem", "modem"),
    ("esimcli.lab_smdp", "smdp"),
    ("esimcli.lab_up", "up"),
]


@click.group()
def lab() -> None:
    """Rehearse every operation without real cards or a commercial SM-DP+."""


for _module, _attribute in LAB_FAMILIES:
    lab.add_command(getattr(importlib.import_module(_module), _attribute))
