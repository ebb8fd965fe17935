"""``esimflow lab up``: the lab (``rsplab.up``), and with ``--with-temporal`` also a Temporal dev
server and a worker serving the lab's eUICCs, so every ``esimflow`` verb works at once.

The dev server keeps its database in the lab state directory, so workflow histories survive a
restart of the lab like the eUICCs and the SM-DP+ do.
"""
from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import click
from temporalio.runtime import Runtime

from esimflow.keys import ensure_key_file
from esimflow.config import ENV_CODEC_KEY, ENV_CODEC_KEY_FILE, TemporalConfig
from esimflow.workers.devstack import DevServer, start_dev_server
from esimflow.workers.run import EsimflowWorker, WorkerOptions, serve
from rsplab.up import DEFAULT_SMDP_PORT, DEFAULT_SMDS_PORT, DEFAULT_STATE_DIR, Lab, LabOptions, StopSignals, format_summary
from sgp22.errors import EsimError

from esimcli.connection import connect_config, owned_runtime
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure
from esimcli.secrets import echo_activation_code, show_secrets_option

DEFAULT_TEMPORAL_PORT = 7233
DEFAULT_UI_PORT = 8233


@click.command("up")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_STATE_DIR,
              show_default=True, help="Directory for the PKI, the eUICC states and the SM-DP+ inventory.")
@click.option("--vpcd", "vpcd_cards", type=click.IntRange(0, 2), default=1, show_default=True,
              help="eUICCs placed in the vpcd readers (pcscd is started if it is not running).")
@click.option("--local", "local_cards", type=click.IntRange(min=0), default=0, show_default=True,
              help="In-process eUICCs (reachable through the worker of --with-temporal).")
@click.option("--profiles", type=click.IntRange(min=0), default=3, show_default=True,
              help="Profiles kept available on the SM-DP+.")
@click.option("--smdp-port", type=click.IntRange(0, 65535), default=DEFAULT_SMDP_PORT, show_default=True,
              help="SM-DP+ HTTPS port on 127.0.0.1 (0: any free port).")
@click.option("--smds-port", type=click.IntRange(0, 65535), default=DEFAULT_SMDS_PORT, show_default=True,
              help="Lab SM-DS HTTPS port on 127.0.0.1, the eUICCs' root SM-DS (0: any free port).")
@click.option("--admin-port", type=click.IntRange(0, 65535),
              help="Lab SM-DP+ admin API port on 127.0.0.1, bearer token in STATE/admin-token "
                   "(default 8445; any free port with --smdp-port 0).")
@click.option("--with-temporal", is_flag=True, help="Also run the Temporal dev server and a worker for the lab.")
@click.option("--temporal-port", type=click.IntRange(0, 65535), default=DEFAULT_TEMPORAL_PORT, show_default=True,
              help="Dev server gRPC port (0: any free port).")
@click.option("--ui-port", type=click.IntRange(0, 65535), default=DEFAULT_UI_PORT, show_default=True,
              help="Temporal UI port (0: any free port).")
@click.option("--reader-wait", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds to wait for a vpcd reader that another lab or test holds.")
@click.option("--json", "as_json", is_flag=True, help="Print the lab as one JSON object.")
@show_secrets_option
def up(state_dir: Path, vpcd_cards: int, local_cards: int, profiles: int, smdp_port: int, smds_port: int,
       admin_port: int | None,
       with_temporal: bool,
       temporal_port: int, ui_port: int, reader_wait: float, as_json: bool, show_secrets: bool) -> None:
    """Start the lab SM-DP+, the lab SM-DS and virtual eUICCs; Ctrl-C stops everything it started.

    The summary lists the available profiles' activation codes, masked without --show-secrets."""
    show = Summary(as_json=as_json, show_secrets=show_secrets)
    options = LabOptions(state_dir=state_dir, vpcd_cards=vpcd_cards, local_cards=local_cards, profiles=profiles,
                         smdp_port=smdp_port, smds_port=smds_port, admin_port=admin_port, reader_wait=reader_wait)
    try:
        with Lab(options) as lab:
            if not with_temporal:
                with StopSignals() as stop:
                    show(lab.summary(), None)
                    stop.wait()
            else:
                with start_dev_server(port=temporal_port or None, ui_port=ui_port or None,
                                      db_file=Path(state_dir) / "temporal.sqlite") as server:
                    asyncio.run(_serve_lab(lab, server, show, owned_runtime()))
                    gc.collect()  # the worker's client and runtime, before Python finalizes
    except CliFailure as failure:
        click.echo(f"error: {failure.message}", err=True)
        raise SystemExit(int(failure.exit_code)) from None
    except EsimError as error:
        click.echo(f"error: {error.message}", err=True)
        raise SystemExit(int(ExitCode.USAGE)) from None
    click.echo("lab stopped", err=True)


async def _serve_lab(lab: Lab, server: DevServer, show: Summary, runtime: Runtime) -> None:
    """Run a worker for the lab's cards until SIGINT/SIGTERM (``serve`` handles both)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    if not (env.get(ENV_CODEC_KEY) or env.get(ENV_CODEC_KEY_FILE)):  # the lab's own key, named in the summary
        env[ENV_CODEC_KEY_FILE] = str(ensure_key_file(lab.state_dir / "codec.key"))
    options = WorkerOptions(
        # The lab's own dev server: Temporal settings meant for another cluster must not apply.
        config=TemporalConfig.from_env(env, address=server.address),
        net=True,
        card_host=f"lab-{socket.gethostname()}",
        readers=[card.reader for card in lab.cards if card.reader],
        local_cards={f"lab-{index}": card.card for index, card in enumerate(lab.cards) if not card.reader},
        ca_file=lab.smdp.ca_file,
        connect_overrides=lab.smdp.connect_overrides,
    )

    def ready(worker: EsimflowWorker) -> None:
        temporal = {"address": server.address, "namespace": "default", "ui": server.ui_url,
                    "served_eids": [device.eid for device in worker.devices],
                    "codec_key_file": env.get(ENV_CODEC_KEY_FILE)}
        show(lab.summary(), temporal)

    client = await connect_config(options.config, runtime)
    await serve(options, client=client, on_ready=ready)


@dataclass(frozen=True)
class Summary:
    """How ``lab up`` prints what it started."""

    as_json: bool
    show_secrets: bool

    def __call__(self, summary: dict, temporal: dict | None) -> None:
        echo_activation_code(self._text(summary, temporal), show_secrets=self.show_secrets)
        click.echo("lab up; Ctrl-C stops it", err=True)

    def _text(self, summary: dict, temporal: dict | None) -> str:
        if self.as_json:
            return json.dumps({**summary, "temporal": temporal}, indent=2)
        lines = format_summary(summary)
        if temporal:
            lines += [f"Temporal      {temporal['address']} (namespace {temporal['namespace']})",
                      f"Temporal UI   {temporal['ui'] or '-'}",
                      f"worker        serves {len(temporal['served_eids'])} eUICC(s)",
                      f"try           esimflow profiles --address {temporal['address']} "
                      + (f"--codec-key-file {temporal['codec_key_file']} " if temporal["codec_key_file"] else "")
                      + f"--eid {summary['euiccs'][0]['eid']}"]
        return "\n".join(lines)
