"""One host of the three-host test, as its own process: a card host serving its own virtual
eUICCs (their state in its own directory, so a killed host comes back with the cards as they
were), or the engine host (workflows, network steps, bulk migrations). Nothing is shared with
the other hosts but the Temporal server and PostgreSQL.

    python -m tests.migration.host_process '{"role": "card-host", ...}'

A card host serves the fleet devices ``numbers`` (made with their factory profile the first
time) or the lab PKI's ``eids`` (empty cards); ``runs_workflows`` makes it run the operations
on its cards too (as ``esimflow worker --card-host`` does by default), ``lease_seconds`` sets
its lease. ``Host`` starts one from a test, kills it and starts it again.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from esimflow.config import TEMPORAL_REGISTRY, TemporalConfig
from esimflow.workers.run import EsimflowWorker, WorkerOptions, serve
from rsplab import pki
from rsplab.euicc.card import VirtualEuicc
from rsplab.euicc.config import EuiccConfig

from tests.conftest import TEST_PAYLOAD_KEY
from tests.migration.fleet_lab import EIN, SEEDED_PROFILE_SIZE, TARGET_SIZE, _seed_enabled_profile, fleet_iccid


ROOT = Path(__file__).resolve().parents[2]


class Host:
    """One host process, started again with the same arguments after a kill."""

    def __init__(self, name: str, arguments: dict, state_dir: Path) -> None:
        self.name = name
        self.arguments = arguments
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def environment(self) -> dict[str, str]:
        """The host's own state directory; the history and migration store given (PostgreSQL
        in the three-host test)."""
        return {**os.environ, "XDG_STATE_HOME": str(self.state_dir), "ESIMFLOW_HISTORY": self.arguments["history"],
                "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}

    def start(self) -> None:
        log = (self.state_dir / "host.log").open("a")
        self.process = subprocess.Popen([sys.executable, "-m", "tests.migration.host_process",
                                         json.dumps(self.arguments)], cwd=ROOT, env=self.environment,
                                        stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.process.stdout.readline()
        assert line.startswith('{"ready"'), f"{self.name} did not start: {self.log()}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return (self.state_dir / "host.log").read_text(errors="replace")[-4000:]


def card_state(state_dir: Path, eid: str) -> Path:
    return state_dir / f"euicc-{eid}.json"


def open_card(pki_root: Path, state_dir: Path, number: int) -> VirtualEuicc:
    """The card of fleet device ``number``; made with its factory profile the first time."""
    eid = pki.eid_for(EIN, number + 1)
    path = card_state(state_dir, eid)
    fresh = not path.exists()
    card = VirtualEuicc(pki_root, path, eid=eid, config=EuiccConfig(capacity=SEEDED_PROFILE_SIZE + 2 * TARGET_SIZE))
    if fresh:
        _seed_enabled_profile(card, fleet_iccid(number, 1))
    return card


def main(arguments: dict) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = TemporalConfig(address=arguments["address"], codec_key=TEST_PAYLOAD_KEY,
                            device_registry=TEMPORAL_REGISTRY, history_path=arguments["history"])
    common = dict(config=config, task_queue=arguments["engine_queue"], graceful_shutdown=timedelta(seconds=2))
    cards = []
    if arguments["role"] == "card-host":
        state_dir = Path(arguments["state_dir"])
        pki_root = Path(arguments["pki_root"])
        cards = [open_card(pki_root, state_dir, number) for number in arguments.get("numbers", [])]
        cards += [VirtualEuicc(pki_root, card_state(state_dir, eid), eid=eid) for eid in arguments.get("eids", [])]
        options = WorkerOptions(net=False, card_host=arguments["card_host"],
                                card_host_runs_workflows=arguments.get("runs_workflows", False),
                                card_lease=timedelta(seconds=arguments.get("lease_seconds", 60)),
                                local_cards={card.eid: card for card in cards}, **common)
    else:
        options = WorkerOptions(net=True, ca_file=Path(arguments["ca_file"]),
                                connect_overrides=arguments["connect_overrides"], **common)

    def ready(worker: EsimflowWorker) -> None:
        print(json.dumps({"ready": [device.eid for device in worker.devices]}), flush=True)

    try:
        asyncio.run(serve(options, on_ready=ready))
    finally:
        for card in cards:
            card.close()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
