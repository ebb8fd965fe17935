"""``esimflow worker``: run the engine's workers in this process until Ctrl-C or SIGTERM.

Net mode (workflows and ES9+ steps) runs on any host; card-host mode serves the readers of this
host. Both in one process is the single-machine setup.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import socket
from pathlib import Path

import click
from temporalio.runtime import Runtime

from esimflow.activities.card_access import CardHold
from esimflow.workers.run import EsimflowWorker, WorkerOptions, serve
from sgp22.errors import EsimError
from sgp22.masking import mask_logs

from esimcli.connection import ConnectionFlags, connect_config, owned_runtime, temporal_options
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure

ENV_SMDP_CA = "ESIMFLOW_SMDP_CA"


def _overrides(values: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for value in values:
        name, sep, target = value.partition("=")
        if not sep or not name or not target:
            raise click.BadParameter(f"expected FQDN[:PORT]=IP:PORT, got {value!r}", param_hint="'--connect'")
        overrides[name] = target
    return overrides


def _all_pcsc_readers() -> list[str]:
    from carddrivers.pcsc import list_readers

    try:
        return list_readers()
    except EsimError as error:
        raise CliFailure(ExitCode.USAGE, error.kind, error.message) from None


@click.command("worker")
@temporal_options
@click.option("--net/--no-net", default=True, show_default=True,
              help="Run workflows and SM-DP+ steps (any host may).")
@click.option("--reader", "readers", multiple=True, metavar="SPEC",
              help="Card to serve (repeatable): a PC/SC reader name, pcsc:NAME, or a modem's AT port "
                   "at:DEVICE[?baud=115200&mode=cgla|csim&timeout=S]; ?block=N sets the first STORE DATA block "
                   "size. Its card's EID is registered for this host.")
@click.option("--all-readers", is_flag=True, help="Serve every PC/SC reader present (empty ones are skipped).")
@click.option("--card-host", metavar="NAME",
              help="Name of this host as owner of its readers (default: the host name).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), envvar=ENV_SMDP_CA,
              show_envvar=True, help="CA that SM-DP+ TLS certificates chain to (default: the system store).")
@click.option("--connect", "connect_to", multiple=True, metavar="FQDN[:PORT]=IP:PORT",
              help="Reach an SM-DP+ whose name does not resolve at this address (TLS still checks the name).")
@click.option("--card-threads", type=click.IntRange(min=1), default=8, show_default=True,
              help="Card steps running at once (one per reader at most).")
@click.option("--card-hold", type=click.Choice([hold.value for hold in CardHold]), default=CardHold.WORKER.value,
              show_default=True,
              help="Hold each card for the worker's life, or only per operation: release the reader "
                   "--release-after seconds after the last step so other tools can use it.")
@click.option("--release-after", type=click.FloatRange(min=0), default=2.0, show_default=True, metavar="SECONDS",
              help="With --card-hold operation: idle seconds before the card is released (0: after every step).")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="INFO",
              show_default=True)
def worker(connection: ConnectionFlags, net: bool, readers: tuple[str, ...], all_readers: bool,
           card_host: str | None, ca_file: Path | None, connect_to: tuple[str, ...], card_threads: int,
           card_hold: str, release_after: float, log_level: str) -> None:
    """Run esimflow workers: workflows, SM-DP+ steps and/or this host's card readers."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mask_logs()  # a matching ID given as a reader name, a queue, a namespace is logged masked
    try:
        served = list(readers) + (_all_pcsc_readers() if all_readers else [])
        options = WorkerOptions(
            config=connection.config(), net=net,
            card_host=card_host or (socket.gethostname() if served else None),
            readers=served, ca_file=ca_file, connect_overrides=_overrides(connect_to),
            card_threads=card_threads, card_hold=CardHold(card_hold), card_release_after=release_after,
        )
        options.validate()
        asyncio.run(_serve(options, owned_runtime()))
        gc.collect()  # the client and its runtime, before Python finalizes
    except CliFailure as failure:
        click.echo(f"error: {failure.message}", err=True)
        raise SystemExit(int(failure.exit_code)) from None
    except EsimError as error:
        click.echo(f"error: {error.message}", err=True)
        raise SystemExit(int(ExitCode.USAGE)) from None


async def _serve(options: WorkerOptions, runtime: Runtime) -> None:
    client = await connect_config(options.config, runtime)
    await serve(options, client=client, on_ready=_announce)


def _announce(running: EsimflowWorker) -> None:
    options = running.options
    click.echo(f"worker ready: namespace {options.config.namespace} at {options.config.address}", err=True)
    if options.net:
        click.echo(f"  workflows and SM-DP+ steps on task queue {options.task_queue}", err=True)
    for device in running.devices:
        click.echo(f"  eUICC {device.eid} in {device.reader}", err=True)
    if options.card_host and not running.devices:
        click.echo("  no card answered in the readers given: nothing to serve on this host yet", err=True)
    click.echo("Ctrl-C stops it.", err=True)
