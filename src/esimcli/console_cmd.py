"""``esimflow console``: serve the operator console; ``esimflow console account``: add an account.

Bound to loopback by default. Serving on another address needs ``--https-cert`` and
``--https-key``: the session cookie and the passwords must not cross a network in the clear.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from pathlib import Path

import click

from esimflow import config as engine_config
from esimflow.history import ENV_HISTORY
from esimflow.history import default_location as default_history
from esimflow.migration.store import ENV_MIGRATIONS
from esimflow.migration.store import default_location as default_migrations
from sgp22.errors import BadInputError, EsimError

from esimcli.connection import ConnectionFlags, temporal_options
from esimcli.console.accounts import ENV_ACCOUNTS, MIN_PASSWORD_LENGTH, AccountBook, Role, write_account
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure

ENV_SECRET = "ESIMFLOW_CONSOLE_SECRET"
ENV_TEMPORAL_UI = "ESIMFLOW_TEMPORAL_UI"
DEFAULT_PORT = 8780
_FILE = click.Path(dir_okay=False, path_type=Path)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.group("console", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--accounts", "accounts_file", type=_FILE, envvar=ENV_ACCOUNTS, show_envvar=True,
              help="Accounts file written by `esimflow console account` (or give access tokens in "
                   "ESIMFLOW_CONSOLE_TOKEN / ESIMFLOW_CONSOLE_VIEWER_TOKEN).")
@click.option("--history", "history_location", envvar=ENV_HISTORY, show_envvar=True,
              help="Profile status history (default: history.sqlite3 in the esimflow state dir).")
@click.option("--migrations", "migrations_path", envvar=ENV_MIGRATIONS, show_envvar=True,
              help="Migration store (default: migrations.sqlite3 in the esimflow state dir).")
@click.option("--device-registry", "registry_path", type=_FILE, envvar=engine_config.ENV_DEVICE_REGISTRY,
              show_envvar=True, help="Device registry of the card hosts.")
@click.option("--lab-inventory", type=_FILE, help="The lab SM-DP+'s inventory file: its profiles join the fleet.")
@click.option("--temporal-ui", envvar=ENV_TEMPORAL_UI, show_envvar=True,
              help="Temporal UI address, for the workflow links (e.g. http://127.0.0.1:8233).")
@click.option("--https-cert", type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS with this certificate.")
@click.option("--https-key", type=click.Path(exists=True, dir_okay=False), help="Private key of --https-cert.")
@temporal_options
@click.pass_context
def console(ctx: click.Context, host: str, port: int, accounts_file: Path | None, history_location: str | None,
            migrations_path: str | None, registry_path: Path | None, lab_inventory: Path | None,
            temporal_ui: str | None, https_cert: str | None, https_key: str | None,
            connection: ConnectionFlags) -> None:
    """Serve the operator console (Fleet, Profile Logs, Migrations, Devices)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from esimcli.console import ConsoleSettings, create_app
    from esimcli.console.sources import Sources

    try:
        if bool(https_cert) != bool(https_key):
            raise BadInputError("give both --https-cert and --https-key")
        if not is_loopback(host) and not https_cert:
            raise BadInputError(f"serving on {host} (beyond loopback) needs --https-cert and --https-key")
        accounts = AccountBook.load(accounts_file)
        if accounts.empty:
            raise BadInputError(f"no console account: create one with `esimflow console account NAME` "
                                f"(--accounts / {ENV_ACCOUNTS}) or set ESIMFLOW_CONSOLE_TOKEN")
        temporal = connection.config()
        sources = Sources(history=history_location or default_history(),
                          migrations=migrations_path or default_migrations(),
                          registry=registry_path or temporal.device_registry, lab_inventory=lab_inventory)
    except CliFailure as failure:
        click.echo(f"error: {failure.message}", err=True)
        ctx.exit(int(failure.exit_code))
    except EsimError as error:
        click.echo(f"error: {error.message}", err=True)
        ctx.exit(int(ExitCode.USAGE))
    settings = ConsoleSettings(sources=sources, accounts=accounts, temporal=temporal,
                               session_secret=os.environ.get(ENV_SECRET) or secrets.token_urlsafe(32),
                               temporal_ui=temporal_ui)
    scheme = "https" if https_cert else "http"
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"esimflow console at {scheme}://{shown_host}:{port}/ (Temporal {temporal.address}); "
               "Ctrl-C stops it", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, ssl_certfile=https_cert, ssl_keyfile=https_key,
                log_level="warning", proxy_headers=False, server_header=False)


@console.command("account")
@click.argument("name")
@click.option("--role", type=click.Choice([str(r) for r in Role]), default=str(Role.VIEWER), show_default=True)
@click.option("--accounts", "accounts_file", type=_FILE, envvar=ENV_ACCOUNTS, show_envvar=True, required=True,
              help="The accounts file to add the account to (created if missing).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def account(name: str, role: str, accounts_file: Path, password_stdin: bool) -> None:
    """Add account NAME to the accounts file, or give it a new password and role."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt(f"password for {name} (at least {MIN_PASSWORD_LENGTH} characters)",
                                hide_input=True, confirmation_prompt=True)
    try:
        write_account(accounts_file, name, Role(role), password)
    except BadInputError as error:
        click.echo(f"error: {error.message}", err=True)
        raise SystemExit(int(ExitCode.USAGE)) from None
    click.echo(f"account {name} ({role}) written to {accounts_file}")
