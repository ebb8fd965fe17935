"""Where each verb family joins the ``esimflow`` group. Each module exposes one click
command or group; adding a family is one line here."""
import importlib

import click

# module path, attribute: each attribute is a click.Command added under its own name
FAMILIES = [
    ("esimcli.lab_cmd", "lab"),
    ("esimcli.docs_cmd", "docs"),
]


def register(group: click.Group) -> None:
    for module_name, attribute in FAMILIES:
        group.add_command(getattr(importlib.import_module(module_name), attribute))
