"""Three hosts, nothing shared but Temporal and PostgreSQL: two card hosts, each its own process
with its own state directory and its own virtual eUICCs, and an engine host running the
workflows, the network steps and the bulk migration. One card host is SIGKILLed in the middle
of the migration and started again: every device ends in exactly one outcome, the report
matches what the cards hold, and the profile history read on the engine host shows the
changes made to the cards of both card hosts."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from esimflow.devices import DeviceNotFoundError
from esimflow.migration.client import MigrationControl, start_migration
from esimflow.migration.model import MigrationPolicy, MigrationState
from esimflow.migration.report import report
from esimflow.migration.store import open_store
from esimflow.routing.registry import TemporalDeviceRegistry
from rsplab.euicc.card import VirtualEuicc
from sgp22.identifiers import Iccid

from tests.migration.fleet_lab import build_fleet_lab
from tests.migration.host_process import ROOT, Host, card_state
from tests.migration.migration_helpers import KEYRING, write_csv

pytestmark = [pytest.mark.temporal, pytest.mark.slow]

FIRST = 7000  # fleet numbers (EIDs) no other test uses on the session's server
PER_HOST = 5


async def all_routed(registry: TemporalDeviceRegistry, where: dict[str, str], within: float) -> None:
    deadline = time.monotonic() + within
    for eid, host in where.items():
        while True:
            try:
                if (await registry.locate(eid)).card_host == host:
                    break
            except DeviceNotFoundError:
                pass
            assert time.monotonic() < deadline, f"eUICC {eid} is not routed to {host}"
            await asyncio.sleep(0.3)


def cards_of(host: Host, pki_root: Path, eids: list[str]) -> dict[str, dict[str, bool]]:
    """What each card of a (stopped) card host holds: ICCID -> enabled, read from its own state."""
    held = {}
    for eid in eids:
        card = VirtualEuicc(pki_root, card_state(host.state_dir, eid), eid=eid)
        held[eid] = {str(Iccid.from_bytes(bytes.fromhex(p.iccid))): p.enabled for p in card.store.state.profiles}
        card.close()
    return held


@pytest.mark.timeout(900)
async def test_a_migration_across_two_card_hosts_survives_one_being_killed(
        client, temporal_dev_server, postgres_server, tmp_path):
    database = postgres_server.fresh_database()
    lab = build_fleet_lab(tmp_path / "lab", 2 * PER_HOST, with_cards=False, first=FIRST)
    suffix = uuid.uuid4().hex[:6]
    engine_queue = f"hosts-engine-{suffix}"
    common = {"address": temporal_dev_server.address, "history": database, "engine_queue": engine_queue}
    card_hosts = {f"card-{name}-{suffix}": lab.devices[i * PER_HOST:(i + 1) * PER_HOST] for i, name in enumerate("ab")}
    hosts = [Host(name, {**common, "role": "card-host", "card_host": name, "pki_root": str(lab.pki_root),
                         "state_dir": str(tmp_path / name), "numbers": [d.number for d in devices]},
                  tmp_path / name) for name, devices in card_hosts.items()]
    engine = Host("engine", {**common, "role": "engine", "ca_file": str(lab.ca_file),
                             "connect_overrides": lab.connect_overrides}, tmp_path / "engine")
    where = {device.eid: name for name, devices in card_hosts.items() for device in devices}
    rows = [{"eid": d.eid, "device": f"{name}/local:{d.eid}", "current_iccid": d.old_iccid,
             "activation_code": d.activation_code} for name, devices in card_hosts.items() for d in devices]
    fleet = write_csv(tmp_path / "fleet.csv", rows)
    killed = hosts[0]
    try:
        for host in (engine, *hosts):
            host.start()
        await all_routed(TemporalDeviceRegistry(client, task_queue=engine_queue), where, within=60)
        started = await start_migration(client, fleet, MigrationPolicy(max_concurrency=4, delete_old=True,
                                                                       max_starts_per_second=20.0),
                                        migration_id=f"hosts-{suffix}", engine_task_queue=engine_queue)
        control = MigrationControl(client, started.migration_id)
        deadline = time.monotonic() + 300
        while (await control.status()).finished < 1:  # the fleet's first devices are the killed host's
            assert time.monotonic() < deadline, f"the migration did not get going: {engine.log()}"
            await asyncio.sleep(0.2)
        with open_store(database, KEYRING) as store:
            unfinished = [row["eid"] for row in store.devices(started.migration_id, outcome="not_started")
                          if where[row["eid"]] == killed.name]
        assert (await control.status()).in_flight > 0 and unfinished
        killed.kill()  # its cards' steps in the middle, nothing withdrawn
        await asyncio.sleep(1)
        killed.start()
        final = await asyncio.wait_for(started.handle.result(), 600)
    finally:
        for host in (*hosts, engine):
            host.stop()
        lab.smdp.stop()

    assert final.state == MigrationState.COMPLETED, final
    with open_store(database, KEYRING) as store:
        document = report(store, started.migration_id)
    devices = {row["eid"]: row for row in document["devices"]}
    assert sorted(devices) == sorted(where)  # one row per device
    assert {row["outcome"] for row in devices.values()} <= {"migrated", "rolled_back"}, document["migration"]
    assert sum(final.counts.get(outcome, 0) for outcome in ("migrated", "rolled_back")) == len(where)
    held = {}
    for host in hosts:
        held.update(cards_of(host, lab.pki_root, [eid for eid, name in where.items() if name == host.name]))
    by_eid = {device.eid: device for device in lab.devices}
    for eid, on_card in held.items():
        enabled = [iccid for iccid, is_enabled in on_card.items() if is_enabled]
        assert len(enabled) == 1 and devices[eid]["enabled_iccid"] == enabled[0], (devices[eid], on_card)
        if devices[eid]["outcome"] == "migrated":
            assert on_card == {by_eid[eid].target_iccid: True}, (devices[eid], on_card)
        else:
            assert on_card == {by_eid[eid].old_iccid: True}, (devices[eid], on_card)

    # the operator on the engine host asks for one migrated profile of each card host
    for host in hosts:
        eid = next(e for e, name in where.items() if name == host.name and devices[e]["outcome"] == "migrated")
        shown = subprocess.run([str(Path(sys.executable).parent / "esimflow"), "profile", "history",
                                by_eid[eid].target_iccid, "--json"], cwd=ROOT, env=engine.environment,
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        changes = json.loads(shown.stdout)["changes"]
        assert {change["eid"] for change in changes} == {eid}
        assert changes[-1]["to"] == "ENABLED", changes
