"""``esimflow lab euicc``: a virtual eUICC in a vpcd reader, for any PC/SC LPA to talk to."""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import nullcontext

import click

from rsplab.euicc import EuiccConfig, Faults, VirtualEuicc
from rsplab.euicc.vpcd import VpcdBridge, parse_address
from rsplab.pcscd import READER_NAMES, ensure_pcscd, vpcd_slot
from sgp22.errors import EsimError


def _fail(message: str) -> None:
    click.echo(f"esimflow lab euicc: {message}", err=True)
    sys.exit(2)


@click.command("euicc")
@click.option("--vpcd", "vpcd_address", default="127.0.0.1:35963", show_default=True,
              help="vpcd reader to insert the card into (host:port; 35963 is 'Virtual PCD 00 00', 35964 '... 00 01').")
@click.option("--state", "state_path", type=click.Path(dir_okay=False),
              help="State file (profiles, notifications, counters); kept across restarts. Without it the card forgets everything on exit.")
@click.option("--identities", "identities_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="PKI directory in the SGP.26 layout (esimflow lab pki DIR, or the SGP.26 set).")
@click.option("--eid", help="EID of a fleet eUICC under DIR/eUICC/<EID>/ (default: the directory's own eUICC).")
@click.option("--capacity", type=click.IntRange(min=0), help="Bytes of profile storage (default 2 MiB).")
@click.option("--max-block", type=click.IntRange(1, 255), default=255, show_default=True,
              help="Longest STORE DATA block the card takes; longer ones answer 6700 (wrong length).")
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="Inject a fault (repeatable): delay=SECONDS, remove-after=APDUS, cat-busy, corrupt=N[,N..], "
                   "osu-unavailable, osu-fail.")
@click.option("--reinsert-after", type=click.FloatRange(min=0), metavar="SECONDS",
              help="After remove-after pulls the card, put it back after this many seconds.")
@click.option("--default-dp", "default_dp_address", help="Factory default SM-DP+ address.")
@click.option("--wait-reader", type=click.FloatRange(min=0), default=5.0, show_default=True, metavar="SECONDS",
              help="How long to wait for the vpcd reader while another run (a test, lab up) holds it.")
@click.option("--start-pcscd/--no-start-pcscd", default=True, show_default=True,
              help="Start pcscd when none is running (stopped again on exit).")
def euicc(vpcd_address, state_path, identities_dir, eid, capacity, max_block, faults, reinsert_after, default_dp_address,
          wait_reader, start_pcscd) -> None:
    """Run a virtual eUICC (real SGP.22 crypto) as a card in a vpcd reader until Ctrl-C."""
    try:
        host, port = parse_address(vpcd_address)
        fault_config = Faults.parse(faults)
        config = EuiccConfig(default_dp_address=default_dp_address, max_store_data_block=max_block)
        if capacity is not None:
            config.capacity = capacity
        card = VirtualEuicc(identities_dir, state_path, eid=eid, faults=fault_config, config=config)
    except EsimError as error:
        _fail(error.message)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    pcscd = None
    try:
        if start_pcscd and host in ("127.0.0.1", "localhost") and port in READER_NAMES:
            pcscd = ensure_pcscd()
        with _reader_lock(port, wait_reader), VpcdBridge(card, host, port, reinsert_after=reinsert_after) as bridge:
            click.echo(f"virtual eUICC {card.eid}")
            click.echo(f"  reader:  {READER_NAMES.get(port, f'vpcd {host}:{port}')}")
            click.echo(f"  state:   {state_path or '(in memory)'}")
            click.echo(f"  ATR:     {card.atr.hex().upper()}")
            if not bridge.wait_connected(10):
                click.echo(f"  waiting for vpcd on {host}:{port} ...")
            click.echo("Ctrl-C to remove the card and stop.")
            stop.wait()
    except EsimError as error:
        _fail(error.message)
    finally:
        card.close()
        if pcscd is not None:
            pcscd.stop()


def _reader_lock(port: int, timeout: float):
    """The vpcd slot lock, so tests and ``lab up`` never put a second card in this reader."""
    if port in READER_NAMES:
        return vpcd_slot(port, timeout=timeout)
    return nullcontext()
