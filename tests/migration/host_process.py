"""One host of the three-host test, as its own process: a card host serving its own virtual
eUICCs (their state in its own directory, so a killed host comes back with the cards as they
were), or the engine host (workflows, network steps, bulk migrations). Nothing is shared with
the other hosts but the Temporal server and PostgreSQL.

    python -m tests.migration.host_process '{"role": "card-host", ...}'
"""
from __future__ import annotations

import asyncio
import json
import logging
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
        cards = [open_card(Path(arguments["pki_root"]), state_dir, number) for number in arguments["numbers"]]
        options = WorkerOptions(net=False, card_host=arguments["card_host"], card_host_runs_workflows=False,
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
