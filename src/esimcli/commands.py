"""Where each verb family joins the ``esimflow`` group. Each module exposes one click
command or group; adding a family is one line here."""
import importlib

import click

# module path, attribute: each attribute is a click.Command added under its own name
FAMILIES = [
    ("esimcli.lab_cmd", "lab"),
    ("esimcli.docs_cmd", "docs"),
    ("esimcli.asn1_cmd", "asn1"),
    ("esimcli.ac_cmd", "ac"),
    ("esimcli.device_cmd", "eid"),
    ("esimcli.device_cmd", "euicc_info"),
    ("esimcli.device_cmd", "devices"),
    ("esimcli.profile_cmd", "profiles"),
    ("esimcli.profile_cmd", "switch"),
    ("esimcli.profile_cmd", "delete"),
    ("esimcli.profile_cmd", "nickname"),
    ("esimcli.download_cmd", "available"),
    ("esimcli.download_cmd", "metadata"),
    ("esimcli.download_cmd", "download"),
    ("esimcli.download_cmd", "cancel_session"),
    ("esimcli.euicc_cmd", "reset"),
    ("esimcli.euicc_cmd", "reserve_for_factory_restore"),
    ("esimcli.euicc_cmd", "notifications"),
    ("esimcli.euicc_cmd", "osu"),
    ("esimcli.euicc_cmd", "smdp"),
    ("esimcli.worker_cmd", "worker"),
    ("esimcli.codec_server_cmd", "codec_server"),
    ("esimcli.migrate_cmd", "migrate"),
    ("esimcli.profile_status_cmd", "profile"),
    ("esimcli.logs_cmd", "logs"),
    ("esimcli.console_cmd", "console"),
    ("esimcli.admin_cmd", "admin"),
]


def register(group: click.Group) -> None:
    for module_name, attribute in FAMILIES:
        group.add_command(getattr(importlib.import_module(module_name), attribute))
