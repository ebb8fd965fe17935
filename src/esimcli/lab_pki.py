"""``esimflow lab pki DIR``: create (or extend) the lab's test PKI in the SGP.26 layout."""
from __future__ import annotations

import json
import sys

import click

from rsplab import pki as lab_pki
from sgp22.errors import EsimError


@click.command("pki")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--curve", type=click.Choice(["nist", "brainpool"], case_sensitive=False), default="nist",
              show_default=True, help="Curve of every key (the DPtls key stays P-256 so TLS clients can use it).")
@click.option("--ein", default=lab_pki.DEFAULT_EIN, show_default=True, help="EUM's EIN: every EID starts with it.")
@click.option("--eid", "eids", multiple=True, help="EID of an eUICC to issue (repeatable); the first is the default eUICC.")
@click.option("--fleet", type=click.IntRange(min=0), default=0, help="Issue this many more eUICCs under eUICC/<EID>/.")
@click.option("--smdp-oid", default=lab_pki.DEFAULT_SMDP_OID, show_default=True, help="SM-DP+ OID (SAN registeredID).")
@click.option("--tls-name", "tls_names", multiple=True,
              help=f"DNS name of the SM-DP+ TLS certificate (repeatable; default: {', '.join(lab_pki.DEFAULT_TLS_NAMES)}).")
@click.option("--force", is_flag=True, help="Replace a PKI already in DIRECTORY (orphans state built on it).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def pki(directory, curve, ein, eids, fleet, smdp_oid, tls_names, force, as_json) -> None:
    """Generate a CI, EUM, eUICC, DPauth, DPpb and DPtls in DIRECTORY, plus ca.pem for TLS clients.

    On a directory that already holds a PKI (and without --force), only the requested extra
    eUICCs (--eid, --fleet) are issued with its EUM.
    """
    try:
        if lab_pki.exists(directory) and not force:
            created = False
            added = lab_pki.add_euiccs(directory, list(eids)) if eids else []
            if fleet:
                added += lab_pki.add_euiccs(directory, count=fleet)
        else:
            created = True
            first = list(eids) or None
            lab_pki.generate(directory, curve=curve, eids=first, ein=ein, smdp_oid=smdp_oid,
                         tls_names=list(tls_names) or lab_pki.DEFAULT_TLS_NAMES, overwrite=force)
            added = lab_pki.add_euiccs(directory, count=fleet) if fleet else []
        identities = lab_pki.load(directory)
    except EsimError as error:
        click.echo(f"esimflow lab pki: {error.message}", err=True)
        sys.exit(2)
    summary = {
        "directory": str(identities.root),
        "created": created,
        "curve": identities.curve,
        "ca_file": str(identities.ca_file) if identities.ca_file else None,
        "ci_pkid": identities.ci_pkid.hex().upper(),
        "smdp_oid": identities.smdp_oid,
        "tls_names": identities.tls_names,
        "default_eid": identities.eid,
        "euicc_count": len(identities.all_eids()),
        "added_eids": added,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{'created' if created else 'existing'} PKI in {summary['directory']} ({summary['curve']})")
    for label, key in (("CA file", "ca_file"), ("CI PKID", "ci_pkid"), ("SM-DP+ OID", "smdp_oid"),
                       ("default EID", "default_eid"), ("eUICCs", "euicc_count")):
        click.echo(f"  {label + ':':<13}{summary[key]}")
    click.echo(f"  {'TLS names:':<13}{', '.join(summary['tls_names'])}")
    if added:
        click.echo(f"  {'added:':<13}{len(added)} eUICC(s), {added[0]} .. {added[-1]}")
