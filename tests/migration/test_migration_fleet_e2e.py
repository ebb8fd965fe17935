"""A fleet of 200 in-process virtual eUICCs migrated through the real engine and the lab
SM-DP+, with faults: 5% of ES9+ calls answer HTTP 500, 2% of the cards are pulled out during
LoadBoundProfilePackage, 1% of the target profiles cannot install; and every worker (engine and
migration) is restarted in the middle. Every device ends migrated or rolled back, none is left
without an enabled profile, and the report, the profile status history and the SM-DP+ agree with
what the cards themselves hold."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from temporalio.client import Client

from esimflow import search_attributes
from esimflow.history import open_history
from esimflow.migration.client import MigrationControl, start_migration
from esimflow.migration.model import MigrationPolicy, MigrationState
from esimflow.migration.report import report

from tests.migration.fleet_lab import build_fleet_lab, fleet_workers, open_lab_store
from tests.migration.migration_helpers import write_csv

pytestmark = [pytest.mark.temporal, pytest.mark.slow]

FLEET_SIZE = 200
PULLED = {17, 60, 111, 170}  # 2%
CANNOT_INSTALL = {33, 150}  # 1%


@pytest.fixture(scope="module")
async def client(payload_converter):
    """A dev server of its own: the fleet's EIDs must not meet entity workflows that earlier
    tests left waiting on task queues nobody polls any more (update-with-start attaches to them)."""
    from esimflow.workers.devstack import start_dev_server

    with start_dev_server(ui=False) as server:
        own = await Client.connect(server.address, data_converter=payload_converter)
        assert await search_attributes.ensure_registered(own)
        yield own


@pytest.fixture
def lab(tmp_path):
    built = build_fleet_lab(tmp_path / "lab", FLEET_SIZE, pulled=PULLED, cannot_install=CANNOT_INSTALL)
    built.smdp.add_fault("*", "http_error", status=500, probability=0.05)
    yield built
    built.close()


@pytest.mark.timeout(600)
async def test_a_faulty_fleet_ends_migrated_or_rolled_back_and_the_report_matches_the_cards(client, lab, tmp_path):
    store = open_lab_store(lab)
    fleet = write_csv(tmp_path / "fleet.csv", lab.fleet_rows())
    suffix = uuid.uuid4().hex[:8]
    queues = dict(engine_queue=f"fleet-engine-{suffix}", migration_queue=f"fleet-migration-{suffix}")
    policy = MigrationPolicy(max_concurrency=24, max_starts_per_second=50.0, delete_old=True,
                             failure_window=20, failure_threshold=0.5)

    async with fleet_workers(client, lab, store, **queues):
        started = await start_migration(client, fleet, policy, migration_id=f"fleet-{suffix}",
                                        task_queue=queues["migration_queue"],
                                        engine_task_queue=queues["engine_queue"], continue_after_starts=80)
        control = MigrationControl(client, started.migration_id)
        deadline = time.monotonic() + 300
        while (await control.status()).finished < FLEET_SIZE // 2:
            assert time.monotonic() < deadline, "the first half of the fleet did not finish"
            await asyncio.sleep(0.5)
        in_flight_at_restart = (await control.status()).in_flight
    # every worker is gone here, with devices in the middle of their migration
    assert in_flight_at_restart > 0
    async with fleet_workers(client, lab, store, **queues):
        final = await asyncio.wait_for(started.handle.result(), 400)
        document = report(store, started.migration_id)

    assert final.state == MigrationState.COMPLETED, final
    assert final.runs >= 3  # continued as new along the way
    devices = {device["eid"]: device for device in document["devices"]}
    assert len(devices) == FLEET_SIZE
    outcomes = {device["outcome"] for device in devices.values()}
    assert outcomes <= {"migrated", "rolled_back"}, [
        (device["eid"], device["outcome"], device.get("error_kind"), device["reason"])
        for device in devices.values() if device["outcome"] not in ("migrated", "rolled_back")]
    history = open_history(lab.history_path)
    try:
        for number, device in enumerate(lab.devices):
            row = devices[device.eid]
            on_card = device.profiles()
            enabled = [iccid for iccid, is_enabled in on_card.items() if is_enabled]
            assert len(enabled) == 1, (device.eid, on_card)  # never left without an enabled profile
            assert row["enabled_iccid"] == enabled[0], (row, on_card)
            latest = {record.iccid: str(record.status) for record in history.profiles(eid=device.eid)}
            if row["outcome"] == "migrated":
                assert on_card == {device.target_iccid: True}, (row, on_card)  # old profile deleted
                assert row["target_iccid"] == device.target_iccid and row["old_deleted"]
                assert latest[device.target_iccid] == "ENABLED" and latest[device.old_iccid] == "DELETED"
                assert str(lab.smdp.status(device.target_iccid)) == "ENABLED"  # notifications delivered
            else:
                assert on_card == {device.old_iccid: True}, (row, on_card)
                assert row["reason"]
            if device.cannot_install:
                assert row["outcome"] == "rolled_back" and "no room" in row["reason"], row
    finally:
        history.close()
    assert sum(device.pullable.pulled for device in lab.devices) == len(PULLED)  # the faults did happen
    assert final.counts["migrated"] + final.counts["rolled_back"] == FLEET_SIZE
    store.close()


@pytest.fixture
def small_lab(tmp_path):
    built = build_fleet_lab(tmp_path / "small", 3, first=FLEET_SIZE)  # EIDs of its own
    yield built
    built.close()


@pytest.mark.timeout(300)
async def test_held_devices_dry_run_then_migrate_and_a_second_start_skips_them(client, small_lab, tmp_path):
    """The real engine in held mode (each device runs on its card host, holding the card): a dry
    run changes nothing anywhere; the migration then moves every card; starting it again finds
    them done."""
    store = open_lab_store(small_lab)
    fleet = write_csv(tmp_path / "fleet.csv", small_lab.fleet_rows())
    suffix = uuid.uuid4().hex[:8]
    queues = dict(engine_queue=f"small-engine-{suffix}", migration_queue=f"small-migration-{suffix}")
    start = dict(task_queue=queues["migration_queue"], engine_task_queue=queues["engine_queue"])

    async with fleet_workers(client, small_lab, store, **queues):
        dry = await start_migration(client, fleet, MigrationPolicy(dry_run=True, max_starts_per_second=50.0),
                                    migration_id=f"small-{suffix}-dry", **start)
        dry_status = await asyncio.wait_for(dry.handle.result(), 120)
        assert dry_status.counts["skipped"] == 3, dry_status
        for device in small_lab.devices:
            assert device.profiles() == {device.old_iccid: True}
            assert str(small_lab.smdp.status(device.target_iccid)) == "AVAILABLE"  # previewed, postponed
        dry_rows = report(store, dry.migration_id)["devices"]
        assert all(row["reason"].startswith("dry run: would download") for row in dry_rows), dry_rows

        policy = MigrationPolicy(delete_old=True, max_starts_per_second=50.0)
        done = await asyncio.wait_for((await start_migration(
            client, fleet, policy, migration_id=f"small-{suffix}", **start)).handle.result(), 120)
        assert done.counts["migrated"] == 3, done
        again = await asyncio.wait_for((await start_migration(
            client, fleet, policy, migration_id=f"small-{suffix}", **start)).handle.result(), 120)
        assert again.counts["already_done"] == 3 and again.counts["migrated"] == 0, again

    for device in small_lab.devices:
        assert device.profiles() == {device.target_iccid: True}
        assert str(small_lab.smdp.status(device.target_iccid)) == "ENABLED"
    store.close()
