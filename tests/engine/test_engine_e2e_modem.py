"""The engine through cellular modems, as a router fleet runs it: `esimflow worker --reader
at:/dev/pts/N` (a separate process, pyserial on the lab's virtual modem, a virtual eUICC behind
it), the engine's workflows in this process, the lab SM-DP+ over TLS. The modems misbehave as
real ones do (URCs inside answers, a lost answer, SIM busy, slow answers) and refuse long commands, so the
engine settles on 120-byte STORE DATA blocks for those cards."""
from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from esimflow import contract
from esimflow.devices import DeviceRegistry
from esimflow.migration.client import start_migration
from esimflow.migration.model import MigrationPolicy
from esimflow.workers.migration import migration_worker
from rsplab.euicc import EuiccConfig, VirtualEuicc
from rsplab.modem import ModemFaults, VirtualModem
from tests.conftest import TEST_PAYLOAD_KEY
from tests.engine.engine_stack import _end_entities, new_iccid, running_engine
from tests.migration.fleet_lab import build_fleet_lab, open_lab_store
from tests.migration.migration_helpers import write_csv
from tests.waiting import until

pytestmark = [pytest.mark.temporal, pytest.mark.slow]

ESIMFLOW = str(Path(sys.executable).parent / "esimflow")


@pytest.fixture(scope="module")
def smdp(lab_pki):
    from rsplab.smdp.server import LabSmdp

    with LabSmdp(lab_pki.root) as server:
        yield server


@contextlib.contextmanager
def cli_worker(server_address: str, state_dir: Path, card_host: str, readers: list[str], smdp, *extra: str,
               ) -> Iterator[subprocess.Popen]:
    """``esimflow worker --no-net --card-host H --reader at:...``, ready once it says so."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TEMPORAL_", "ESIMFLOW_"))}
    env.update(TEMPORAL_ADDRESS=server_address, ESIMFLOW_CODEC_KEY=TEST_PAYLOAD_KEY.hex(), PYTHONUNBUFFERED="1",
               ESIMFLOW_DEVICE_REGISTRY=str(state_dir / "devices.sqlite3"),
               ESIMFLOW_HISTORY=str(state_dir / "history.sqlite3"),
               ESIMFLOW_WORKFLOW_SANDBOX=os.environ.get("ESIMFLOW_WORKFLOW_SANDBOX", "strict"))
    command = [ESIMFLOW, "worker", "--no-net", "--card-host", card_host, "--ca-file", str(smdp.ca_file),
               *[arg for fqdn, target in smdp.connect_overrides.items() for arg in ("--connect", f"{fqdn}={target}")],
               *[arg for reader in readers for arg in ("--reader", reader)], *extra]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    said: list[str] = []
    for line in process.stderr:
        said.append(line)
        if line.startswith("Ctrl-C stops it."):
            break
    else:
        raise AssertionError(f"the worker did not start: {''.join(said)}")
    rest: list[str] = []
    drain = threading.Thread(target=lambda: rest.extend(process.stderr), daemon=True)
    drain.start()
    try:
        yield process, "".join(said)
    finally:
        process.terminate()
        process.wait(60)
        drain.join(5)
    assert process.returncode == 0, "".join(said + rest)[-3000:]


async def test_download_switch_delete_and_notifications_through_a_modem(
        dev_client, temporal_dev_server, tmp_path, unique_task_queue, smdp, lab_pki, fresh_eid):
    first, second = new_iccid(), new_iccid()
    card = VirtualEuicc(lab_pki.root, tmp_path / "euicc.json", eid=fresh_eid,
                        config=EuiccConfig(max_store_data_block=120))
    # APDU 1 is the worker's GetEID at start; 3 and 6 come in the download's first card steps
    modem = VirtualModem(card, faults=ModemFaults.parse(["urc=3", "lose=3", "cme=6", "slow=0.001"])).start()
    reader = f"at:{modem.device}?timeout=5"
    try:
        async with running_engine(dev_client, tmp_path, unique_task_queue, smdp=smdp) as engine:
            with cli_worker(temporal_dev_server.address, tmp_path, f"modem-{uuid.uuid4().hex[:8]}", [reader], smdp,
                            "--card-hold", "operation", "--release-after", "0.3") as (_, said):
                assert f"eUICC {card.eid} in {reader}" in said
                downloaded = await engine.run(contract.DownloadProfileInput(card.eid, smdp.add_profile(first),
                                                                       switch_after_download=True))
                assert downloaded.ok, downloaded
                assert (await engine.run(contract.DownloadProfileInput(card.eid, smdp.add_profile(second)))).ok
                switched = await engine.run(contract.SwitchProfileInput(card.eid, second, force_disable_profile=True))
                assert switched.ok, switched
                assert (await engine.run(contract.DeleteProfileInput(card.eid, first))).ok
                delivered = await engine.run(contract.ProcessNotificationsInput(card.eid))
                assert delivered.ok, delivered
                listed = await engine.run(contract.ListProfilesInput(card.eid))
                # held per operation: between operations the worker has closed its channel and the port
                async def released() -> bool:
                    return modem.at.sessions == set()

                await until(released, "the worker to release the modem", timeout=10)
            await _end_entities(dev_client, [card.eid])
    finally:
        modem.stop()
        card.close()

    assert [(p["iccid"], p["state"]) for p in listed.data["profiles"]] == \
        [(second, contract.ProfileState.PROFILE_STATE_ENABLED)]
    assert str(smdp.status(second)) == "ENABLED"
    assert "DELETED" in [change.to_status for change in smdp.history(first)]  # the delete notification arrived
    assert card.store.state.notifications == []  # every notification delivered and removed
    assert (modem.at.injected["lose"], modem.at.injected["cme"]) == (1, 1) and modem.at.injected["urc"] > 10
    # the card refused one 255-byte block; everything after it went in blocks of at most 120,
    # in later sessions too (the size is remembered for the card)
    assert modem.at.store_data_blocks[255] == 1
    assert max(size for size in modem.at.store_data_blocks if size != 255) == 120


@pytest.mark.timeout(300)
async def test_a_small_bulk_migration_through_modems(dev_client, temporal_dev_server, tmp_path, unique_task_queue):
    """Two routers, each eUICC behind a modem (one modem refuses long lines, the other's card
    refuses long blocks), served by one `esimflow worker`: the migration moves both."""
    lab = build_fleet_lab(tmp_path / "lab", 2, first=700)
    modems = [VirtualModem(lab.devices[0].card, max_apdu_data=120, faults=ModemFaults.parse(["urc=5"])).start(),
              VirtualModem(lab.devices[1].card).start()]
    lab.devices[1].card.config.max_store_data_block = 120
    store = open_lab_store(lab)
    migration_queue = f"{unique_task_queue}-migration"
    card_host = f"router-{uuid.uuid4().hex[:8]}"
    rows = lab.fleet_rows()
    for row, modem in zip(rows, modems):
        row["device"] = f"{card_host}/at:{modem.device}"  # where the fleet file says each eUICC is
    fleet = write_csv(tmp_path / "fleet.csv", rows)
    stop = asyncio.Event()
    try:
        async with running_engine(dev_client, lab.root, unique_task_queue, smdp=lab.smdp):
            migration = migration_worker(dev_client, store, DeviceRegistry(lab.registry_path),
                                         task_queue=migration_queue, graceful_shutdown=timedelta(seconds=1))

            async def serve_migrations() -> None:
                async with migration:
                    await stop.wait()

            serving = asyncio.create_task(serve_migrations())
            with cli_worker(temporal_dev_server.address, lab.root, card_host,
                            [f"at:{modem.device}" for modem in modems], lab.smdp):
                started = await start_migration(dev_client, fleet, MigrationPolicy(delete_old=True,
                                                                                  max_starts_per_second=50.0),
                                                migration_id=f"modems-{uuid.uuid4().hex[:8]}",
                                                task_queue=migration_queue, engine_task_queue=unique_task_queue)
                done = await asyncio.wait_for(started.handle.result(), 240)
            stop.set()
            await serving
            await _end_entities(dev_client, [device.eid for device in lab.devices])
        assert done.counts["migrated"] == 2, done
        for device in lab.devices:
            assert device.profiles() == {device.target_iccid: True}
            assert str(lab.smdp.status(device.target_iccid)) == "ENABLED"
        line_limited, card_limited = (modem.at.store_data_blocks for modem in modems)
        assert max(line_limited) == 120  # the modem refused every longer line before the card saw it
        assert card_limited[255] == 1 and max(size for size in card_limited if size != 255) == 120
    finally:
        stop.set()
        for modem in modems:
            modem.stop()
        store.close()
        lab.close()
