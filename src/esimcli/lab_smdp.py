"""``esimflow lab smdp``: run the lab SM-DP+ and administer its profile inventory.

``serve`` runs the server. The inventory commands (add-profile, list, history, expire, cancel,
remove, release, hold, reissue, activation-code) work on the SQLite file given with ``--db``
(or ``ESIMFLOW_SMDP_DB``) directly, with or without a running server; activation codes use
the address the server recorded in that file (or ``--address``), and are printed with their
matching ID masked unless ``--show-secrets`` asks for them in clear (the lab operator's own data,
but a terminal's output gets pasted and logged like any other). Fault injection at run time
goes through the running server's admin API, which listens on its own loopback port and takes
the bearer token the server wrote to its token file (``fault add|list|clear --server
HOST:ADMIN-PORT --ca FILE --token-file FILE``).
"""
from __future__ import annotations

import json
import ssl
import sys
from pathlib import Path

import click
import httpx

from rsplab.smdp.admin import ADMIN_PREFIX, DEFAULT_ADMIN_PORT, STATUS_ACTIONS, SmdpAdmin
from rsplab.smdp.faults import ENDPOINTS, FAULT_KINDS
from rsplab.smdp.inventory import Inventory
from rsplab.smdp.profiles import PROFILE_CLASSES, NewProfile, parse_access_rule
from rsplab.smdp.status import ProfileStatus
from esimcli.secrets import echo_activation_code, show_secrets_option
from sgp22.errors import EsimError

_DB_OPTION = click.option("--db", "db_path", required=True, envvar="ESIMFLOW_SMDP_DB",
                          type=click.Path(dir_okay=False), help="Inventory database (env ESIMFLOW_SMDP_DB).")
_JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"esimflow lab smdp: {message}", err=True)
    sys.exit(code)


def _admin(db_path: str, address: str | None = None) -> SmdpAdmin:
    try:
        return SmdpAdmin(Inventory(db_path), address)
    except EsimError as error:
        _fail(error.message)


def _show_profile(summary: dict, as_json: bool, code: str | None = None, *, show_secrets: bool = False) -> None:
    """The profile, or its activation code: masked unless the operator asked for it in clear."""
    if as_json:
        text = json.dumps({"profile": summary, "activationCode": code} if code else summary, indent=2)
    else:
        text = code or f"{summary['iccid']}  {summary['status']}"
    echo_activation_code(text, show_secrets=show_secrets)


@click.group("smdp")
def smdp() -> None:
    """The lab SM-DP+ (ES9+ and a lab SM-DS over TLS) and its profile inventory."""


@smdp.command("serve")
@click.option("--identities", "identities_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="PKI directory in the SGP.26 layout (esimflow lab pki DIR, or the SGP.26 set).")
@_DB_OPTION
@click.option("--port", type=click.IntRange(0, 65535), default=8443, show_default=True,
              help="TCP port on 127.0.0.1 (0: any free port).")
@click.option("--smds-port", type=click.IntRange(0, 65535), default=8444, show_default=True,
              help="Lab SM-DS TCP port on 127.0.0.1 (0: any free port).")
@click.option("--fqdn", help="Name the server answers as (a DNS name of the DPtls certificate; default its first).")
@click.option("--faults", "faults_file", type=click.Path(exists=True, dir_okay=False),
              help='Fault rules as JSON: {"seed": 1, "faults": [{"endpoint": ..., "kind": ..., ...}]}.')
@click.option("--session-ttl", type=click.FloatRange(min=1), default=600, show_default=True,
              help="Seconds an unfinished RSP session stays usable.")
@click.option("--admin-port", type=click.IntRange(0, 65535), default=DEFAULT_ADMIN_PORT, show_default=True,
              help="TCP port of the admin API on 127.0.0.1 (0: any free port).")
@click.option("--admin-token-file", type=click.Path(dir_okay=False),
              help="Where to write the admin API's bearer token, 0600 (default: admin-token next to --db).")
def serve(identities_dir, db_path, port, smds_port, fqdn, faults_file, session_ttl, admin_port, admin_token_file) -> None:
    """Serve ES9+ (/gsma/rsp2/es9plus) on --port, the lab SM-DS (ES11 under /gsma/rsp2/es11 and
    /gsma/rsp2/es9plus) on --smds-port, and the admin API (/lab/admin, bearer token) on
    --admin-port, until Ctrl-C."""
    from rsplab.smdp.server import LabSmdp

    token_file = Path(admin_token_file) if admin_token_file else Path(db_path).parent / "admin-token"
    try:
        server = LabSmdp(identities_dir, db_path, port=port, smds_port=smds_port, fqdn=fqdn, faults=faults_file,
                         session_ttl=session_ttl, admin_port=admin_port, admin_token_file=token_file)
    except EsimError as error:
        _fail(error.message)
    click.echo(f"lab SM-DP+ {server.address} (OID {server.smdp_oid})")
    click.echo(f"  listening on https://127.0.0.1:{server.port}")
    click.echo(f"  SM-DS       {server.smds_address} on https://127.0.0.1:{server.smds_port}")
    click.echo(f"  CA file     {server.ca_file}")
    click.echo(f"  inventory   {server.inventory.path}")
    click.echo(f"  admin API   {server.admin_url} (on {server.admin_connect}, token in {token_file})")
    server.serve_forever()


@smdp.command("add-profile")
@_DB_OPTION
@click.option("--iccid", help="ICCID (19-20 digits, Luhn check digit last); with --package, taken from its header.")
@click.option("--package", "package_file", type=click.File("rb"),
              help="Serve this profile package (SAIP DER, e.g. a TS.48 test profile) unchanged.")
@click.option("--matching-id", help="Matching ID of the activation code (default: generated).")
@click.option("--confirmation-code", help="Require this confirmation code (stored only as its SHA-256).")
@click.option("--cc-retries", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Wrong confirmation codes allowed before the order is refused for good.")
@click.option("--eid", help="Bind the profile to this EID (default SM-DP+ and SM-DS flows need it).")
@click.option("--class", "profile_class", type=click.Choice(PROFILE_CLASSES), default="operational", show_default=True)
@click.option("--ppr1", is_flag=True, help="Profile policy rule 1: disabling the profile is not allowed.")
@click.option("--ppr2", is_flag=True, help="Profile policy rule 2: deleting the profile is not allowed.")
@click.option("--size", type=click.IntRange(0, 4 * 1024 * 1024), help="Size of the generated profile package in bytes.")
@click.option("--release/--no-release", default=True, show_default=True, help="Released for download now.")
@click.option("--reusable/--single-use", default=True, show_default=True,
              help="AVAILABLE again once the user deletes it from the device.")
@click.option("--name", "profile_name", help="Profile name shown to the user (default: the package's profile type).")
@click.option("--provider", "service_provider_name", default="esimflow lab", show_default=True)
@click.option("--operator", "profile_owner", metavar="MCCMNC[:GID1[:GID2]]",
              help="The operator the profile belongs to (profileOwner; GIDs in hex), e.g. 310410.")
@click.option("--access-rule", "access_rules", multiple=True, metavar="CERT_HASH[:PACKAGE][:ACCESS_TYPE]",
              help="An ARA-M rule of the profile (repeatable): the app's signing certificate hash (hex), its "
                   "package name, the access type (PERM-AR-DO as a number, default 0).")
@click.option("--address", help="SM-DP+ address for the activation code (default: the one the server recorded).")
@_JSON_OPTION
@show_secrets_option
def add_profile(db_path, iccid, package_file, matching_id, confirmation_code, cc_retries, eid, profile_class, ppr1,
                ppr2, size, release, reusable, profile_name, service_provider_name, profile_owner, access_rules,
                address, as_json, show_secrets) -> None:
    """Add a profile to the inventory and print its activation code (masked without --show-secrets).

    The SM-DP+ generates the profile package (of --size bytes) unless --package gives one."""
    if iccid is None and package_file is None:
        _fail("give --iccid or --package")
    admin = _admin(db_path, address)
    try:
        package = package_file.read() if package_file else None
    except OSError as error:
        _fail(f"cannot read the profile package: {error.strerror}")
    try:
        profile, code = admin.add_profile(NewProfile(
            iccid=iccid, package=package, matching_id=matching_id, confirmation_code=confirmation_code, eid=eid,
            profile_class=profile_class, ppr1=ppr1, ppr2=ppr2, released=release, reusable=reusable, size=size,
            service_provider_name=service_provider_name, profile_name=profile_name, cc_retry_limit=cc_retries,
            access_rules=tuple(parse_access_rule(rule) for rule in access_rules), profile_owner=profile_owner))
    except EsimError as error:
        _fail(error.message)
    _show_profile(profile.summary(), as_json, code, show_secrets=show_secrets)


@smdp.command("list")
@_DB_OPTION
@click.option("--status", type=click.Choice([s.value for s in ProfileStatus], case_sensitive=False))
@_JSON_OPTION
def list_profiles(db_path, status, as_json) -> None:
    """List the profiles (matching IDs masked)."""
    profiles = [p.summary() for p in _admin(db_path).inventory.profiles(status.upper() if status else None)]
    if as_json:
        click.echo(json.dumps(profiles, indent=2))
        return
    for p in profiles:
        flags = [flag for flag, on in (("cc", p["ccRequired"]), ("held", not p["released"]), ("ppr1", p["ppr1"]),
                                       ("ppr2", p["ppr2"])) if on]
        click.echo(f"{p['iccid']:<20}  {p['status']:<10}  {p['profileClass']:<12}  matchingId {p['matchingId']:<10}"
                   f"  eid {p['eid'] or '-':<32}  {' '.join(flags)}".rstrip())


@smdp.command("history")
@_DB_OPTION
@click.argument("iccid")
@_JSON_OPTION
def history(db_path, iccid, as_json) -> None:
    """Every status change of a profile (time, from, to, reason or error)."""
    try:
        changes = [c.as_dict() for c in _admin(db_path).inventory.history(iccid)]
    except EsimError as error:
        _fail(error.message)
    if as_json:
        click.echo(json.dumps(changes, indent=2))
        return
    for c in changes:
        move = f"{c['from'] or '-'} -> {c['to']}" if c["from"] != c["to"] else f"{c['to']} (unchanged)"
        detail = f"error: {c['error']}" if c["error"] else (c["reason"] or "")
        click.echo(f"{c['at']}  {c['event']:<24}  {move:<28}  {detail}".rstrip())


@smdp.command("activation-code")
@_DB_OPTION
@click.argument("iccid")
@click.option("--address", help="SM-DP+ address (default: the one the server recorded).")
@show_secrets_option
def activation_code(db_path, iccid, address, show_secrets) -> None:
    """Print a profile's activation code again (masked without --show-secrets)."""
    admin = _admin(db_path, address)
    try:
        code = admin.activation_code(admin.inventory.get(iccid))
    except EsimError as error:
        _fail(error.message)
    echo_activation_code(code, show_secrets=show_secrets)


_STATUS_HELP = {
    "expire": "Expire the download order (ES2+): AVAILABLE or DOWNLOADED -> EXPIRED.",
    "cancel": "Cancel the download order (ES2+): AVAILABLE or DOWNLOADED -> CANCELED.",
    "remove": "Remove the profile from the platform (no device may hold it) -> REMOVED, final.",
}


def _status_command(action: str):
    @_DB_OPTION
    @click.argument("iccid")
    @click.option("--reason", help="Why (recorded in the history).")
    @_JSON_OPTION
    def command(db_path, iccid, reason, as_json) -> None:
        try:
            profile = _admin(db_path).change_status(iccid, action, reason)
        except EsimError as error:
            _fail(error.message, 1)
        _show_profile(profile.summary(), as_json)
    command.__doc__ = _STATUS_HELP[action]
    return click.command(action)(command)


for _action in STATUS_ACTIONS:
    smdp.add_command(_status_command(_action))


@smdp.command("release")
@_DB_OPTION
@click.argument("iccid")
@click.option("--hold", is_flag=True, help="Take the release back: downloads are refused (8.2/1.2).")
@_JSON_OPTION
def release(db_path, iccid, hold, as_json) -> None:
    """Release a profile for download (or hold it back)."""
    try:
        profile = _admin(db_path).release(iccid, not hold)
    except EsimError as error:
        _fail(error.message, 1)
    _show_profile(profile.summary(), as_json)


@smdp.command("reissue")
@_DB_OPTION
@click.argument("iccid")
@click.option("--matching-id", help="New matching ID (default: generated).")
@click.option("--confirmation-code", help="New confirmation code (default: none).")
@click.option("--address", help="SM-DP+ address (default: the one the server recorded).")
@_JSON_OPTION
@show_secrets_option
def reissue(db_path, iccid, matching_id, confirmation_code, address, as_json, show_secrets) -> None:
    """A new activation code for an EXPIRED or CANCELED profile, back to AVAILABLE (masked without
    --show-secrets)."""
    try:
        profile, code = _admin(db_path, address).reissue(iccid, matching_id=matching_id,
                                                          confirmation_code=confirmation_code)
    except EsimError as error:
        _fail(error.message, 1)
    _show_profile(profile.summary(), as_json, code, show_secrets=show_secrets)


# --- run-time faults, through the admin API of a running server ---------------------------------------


@smdp.group("fault")
def fault() -> None:
    """Inject faults into a running lab SM-DP+ (through its admin API)."""


_SERVER_OPTIONS = [
    click.option("--server", "server", required=True,
                 help="The admin API, host:port (the SM-DP+ host name, the admin port: `lab up` prints it)."),
    click.option("--ca", "ca_file", required=True, type=click.Path(exists=True, dir_okay=False),
                 help="CA file the server's TLS certificate chains to."),
    click.option("--connect", help="Connect here instead (ip:port), keeping the name for TLS checks."),
    click.option("--token-file", required=True, envvar="ESIMFLOW_LAB_ADMIN_TOKEN_FILE", show_envvar=True,
                 type=click.Path(exists=True, dir_okay=False),
                 help="The admin bearer token file the server wrote (lab-state/admin-token)."),
]


def _server_options(function):
    for option in reversed(_SERVER_OPTIONS):
        function = option(function)
    return function


def _admin_call(server: str, ca_file: str, connect: str | None, token_file: str, method: str, path: str,
                body=None):
    host = server.split(":")[0]
    context = ssl.create_default_context(cafile=ca_file)
    try:
        token = Path(token_file).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read the admin token file {token_file}: {exc}")
    try:
        with httpx.Client(verify=context, trust_env=False, timeout=10) as client:
            response = client.request(method, f"https://{connect or server}{ADMIN_PREFIX}{path}", json=body,
                                      headers={"Host": server, "Authorization": f"Bearer {token}"},
                                      extensions={"sni_hostname": host})
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the admin API at {server}: {type(exc).__name__}", 1)
    if response.status_code >= 400:
        try:
            message = response.json().get("error")
        except ValueError:
            message = None
        _fail(message or f"HTTP {response.status_code}", 1)
    return response.json()


@fault.command("add")
@_server_options
@click.option("--endpoint", type=click.Choice(ENDPOINTS), default="*", show_default=True)
@click.option("--kind", type=click.Choice(FAULT_KINDS), required=True)
@click.option("--status", type=click.IntRange(400, 599), help="HTTP status of an http_error fault (default 500).")
@click.option("--seconds", type=float, help="Delay of a delay fault.")
@click.option("--count", type=click.IntRange(min=1), help="Apply to this many calls only.")
@click.option("--probability", type=click.FloatRange(0, 1, min_open=True), help="Apply to each call with this chance.")
@click.option("--after", type=click.IntRange(min=0), help="Let this many matching calls through first.")
@click.option("--after-processing", is_flag=True, help="http_error/drop after the function ran (its effects stay).")
def fault_add(server, ca_file, connect, token_file, endpoint, kind, status, seconds, count, probability, after,
              after_processing) -> None:
    """Add a fault rule; prints it with its id."""
    rule = {"endpoint": endpoint, "kind": kind, "status": status, "seconds": seconds, "count": count,
            "probability": probability, "after": after, "after_processing": after_processing or None}
    click.echo(json.dumps(_admin_call(server, ca_file, connect, token_file, "POST", "/faults",
                                      {k: v for k, v in rule.items() if v is not None}), indent=2))


@fault.command("list")
@_server_options
def fault_list(server, ca_file, connect, token_file) -> None:
    """Show the fault rules with how often each matched and applied."""
    click.echo(json.dumps(_admin_call(server, ca_file, connect, token_file, "GET", "/faults"), indent=2))


@fault.command("clear")
@_server_options
def fault_clear(server, ca_file, connect, token_file) -> None:
    """Remove every fault rule."""
    _admin_call(server, ca_file, connect, token_file, "DELETE", "/faults")
    click.echo("fault rules cleared")
