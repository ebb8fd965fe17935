"""Where each verb family joins the ``esimflow`` group. Each module exposes one click
command or group; adding a family is one line here.

The group imports a family's module only when that command runs (or shows its own help), so
``esimflow --help`` and the light commands start without importing the engine, the lab or
Temporal. That is why the one-line help each command shows in ``esimflow --help`` is listed
here too; tests/engine/test_engine_cli_lazy.py checks it matches the command's own."""
from __future__ import annotations

import importlib

import click

# command name, module, attribute (a click.Command), the command's short help
FAMILIES = [
    ("lab", "esimcli.lab_cmd", "lab",
     "Rehearse every operation without real cards or a commercial SM-DP+."),
    ("docs", "esimcli.docs_cmd", "docs",
     "Write (or check) documentation generated from the code."),
    ("asn1", "esimcli.asn1_cmd", "asn1",
     "Decode SGP.22 DER messages (exit code 2 on input that does not decode)."),
    ("ac", "esimcli.ac_cmd", "ac",
     "Activation codes (LPA:1$<SM-DP+ address>$<matching ID>[$<OID>[$1]])."),
    ("eid", "esimcli.device_cmd", "eid",
     "Read the EID from the card (OpenHarmony getEid)."),
    ("euicc-info", "esimcli.device_cmd", "euicc_info",
     "eUICC information: OS version, SGP.22 version, free memory (OpenHarmony getEuiccInfo)."),
    ("devices", "esimcli.device_cmd", "devices",
     "The eUICCs that running workers serve, with the host and reader of each."),
    ("profiles", "esimcli.profile_cmd", "profiles",
     "List the profiles on the eUICC (OpenHarmony getEuiccProfileInfoList)."),
    ("switch", "esimcli.profile_cmd", "switch",
     "Enable the profile ICCID (OpenHarmony switchToProfile)."),
    ("delete", "esimcli.profile_cmd", "delete",
     "Delete the disabled profile ICCID (OpenHarmony deleteProfile)."),
    ("nickname", "esimcli.profile_cmd", "nickname",
     "Set the nickname of profile ICCID; \"\" clears it (OpenHarmony setProfileNickname)."),
    ("available", "esimcli.download_cmd", "available",
     "Profiles waiting for this eUICC at its default SM-DP+ and the SM-DS (OpenHarmony getDownloadableProfiles)."),
    ("metadata", "esimcli.download_cmd", "metadata",
     "Preview what a download would install, without installing it (OpenHarmony getDownloadableProfileMetadata)."),
    ("download", "esimcli.download_cmd", "download",
     "Download a profile (OpenHarmony downloadProfile)."),
    ("cancel-session", "esimcli.download_cmd", "cancel_session",
     "Cancel the RSP session TRANSACTION_ID (hex) on the card and at the SM-DP+ (OpenHarmony cancelSession)."),
    ("reset", "esimcli.euicc_cmd", "reset",
     "Reset the eUICC memory (OpenHarmony resetMemory)."),
    ("reserve-for-factory-restore", "esimcli.euicc_cmd", "reserve_for_factory_restore",
     "Keep the operational profiles through a device factory reset (OpenHarmony reserveProfilesForFactoryRestore)."),
    ("notifications", "esimcli.euicc_cmd", "notifications",
     "Deliver the pending notifications to their SM-DP+ and remove them from the card."),
    ("osu", "esimcli.euicc_cmd", "osu",
     "eUICC operating system update (OpenHarmony getOsuStatus / startOsu)."),
    ("smdp", "esimcli.euicc_cmd", "smdp",
     "The eUICC's default SM-DP+ address (OpenHarmony get/setDefaultSmdpAddress)."),
    ("worker", "esimcli.worker_cmd", "worker",
     "Run esimflow workers: workflows, SM-DP+ steps and/or this host's card readers."),
    ("codec-server", "esimcli.codec_server_cmd", "codec_server",
     "Decrypt payloads for the Temporal UI and CLI (matching IDs and codes stay masked)."),
    ("migrate", "esimcli.migrate_cmd", "migrate",
     "Migrate a fleet of eUICCs from their current profile to a target profile."),
    ("profile", "esimcli.profile_status_cmd", "profile",
     "Where each profile stands and how it got there (the profile status history)."),
    ("logs", "esimcli.logs_cmd", "logs",
     "Recent profile status changes (time, ICCID, EID, from, to, operation, workflow, error)."),
    ("console", "esimcli.console_cmd", "console",
     "Serve the operator console (Fleet, Profile Logs, Migrations, Devices)."),
    ("admin", "esimcli.admin_cmd", "admin",
     "Operator tools."),
]


class LazyGroup(click.Group):
    """A click group whose commands are the FAMILIES, each imported on first use."""

    _families = {name: (module, attribute, short_help) for name, module, attribute, short_help in FAMILIES}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._families)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._families:
            return None
        module, attribute, _ = self._families[cmd_name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        with formatter.section("Commands"):
            # a stand-in command shortens the help exactly as the real one would
            formatter.write_dl([(name, click.Command(name, help=self._families[name][2]).get_short_help_str(limit))
                                for name in names])
