"""``esimflow lab modem``: a virtual eUICC behind a virtual cellular modem's AT port (a
pseudo-terminal), for ``esimflow worker --reader at:/dev/pts/N`` or any AT-speaking LPA."""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from rsplab.euicc import EuiccConfig, Faults, VirtualEuicc
from rsplab.modem import ModemFaults, VirtualModem
from sgp22.errors import EsimError


def _fail(message: str) -> None:
    click.echo(f"esimflow lab modem: {message}", err=True)
    sys.exit(2)


@click.command("modem")
@click.option("--identities", "identities_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="PKI directory in the SGP.26 layout (esimflow lab pki DIR, or the SGP.26 set).")
@click.option("--eid", help="EID of a fleet eUICC under DIR/eUICC/<EID>/ (default: the directory's own eUICC).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False),
              help="The eUICC's state file (kept across restarts; without it the card forgets everything).")
@click.option("--link", type=click.Path(dir_okay=False, path_type=Path),
              help="Also make this symlink to the terminal (a stable name, like /dev/serial/by-id/...).")
@click.option("--cgla/--no-cgla", default=True, show_default=True,
              help="Offer AT+CCHO/CGLA/CCHC; without them only AT+CSIM (the basic channel).")
@click.option("--max-apdu-data", type=click.IntRange(1, 255), default=255, show_default=True,
              help="Longest APDU data the modem carries; longer commands answer +CME ERROR: 50.")
@click.option("--max-block", type=click.IntRange(1, 255), default=255, show_default=True,
              help="Longest STORE DATA block the eUICC takes; longer ones answer 6700.")
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="Modem fault (repeatable): cme=N[,N..] (+CME ERROR: 14 for those APDU commands), urc=EVERY, "
                   "slow=SECONDS, lose=N[,N..] (answer never sent), reset-after=N (restart once).")
@click.option("--card-fault", "card_faults", multiple=True, metavar="SPEC",
              help="eUICC fault, as for `esimflow lab euicc --fault`.")
def modem(identities_dir, eid, state_path, link, cgla, max_apdu_data, max_block, faults, card_faults) -> None:
    """Run a virtual modem with a virtual eUICC on a pseudo-terminal until Ctrl-C."""
    try:
        card = VirtualEuicc(identities_dir, state_path, eid=eid, faults=Faults.parse(card_faults),
                            config=EuiccConfig(max_store_data_block=max_block))
        virtual = VirtualModem(card, cgla=cgla, max_apdu_data=max_apdu_data, faults=ModemFaults.parse(faults),
                               link=link)
    except EsimError as error:
        _fail(error.message)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with virtual:
            click.echo(f"virtual modem with eUICC {card.eid}")
            click.echo(f"  port:    {virtual.device}" + (f" (also {link})" if link else ""))
            click.echo(f"  reader:  at:{virtual.device}")
            click.echo(f"  access:  {'AT+CCHO/CGLA/CCHC and AT+CSIM' if cgla else 'AT+CSIM only'}")
            click.echo(f"  state:   {state_path or '(in memory)'}")
            click.echo("Ctrl-C to stop.", nl=True)
            sys.stdout.flush()
            stop.wait()
    finally:
        card.close()
