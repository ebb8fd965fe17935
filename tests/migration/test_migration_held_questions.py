"""A migration whose target asks the user: under a hold the download runs inside the device's
DeviceMigration workflow, and the user answers it there (``esimflow migrate answer``, or
``MigrationControl.device`` with the same calls as for a download of their own)."""
from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from esimflow.client import AnswerRefusedError, start_operation
from esimflow.contract import CancelReason, CancelSessionInput
from esimflow.migration.client import MigrationControl, start_migration
from esimflow.migration.model import MigrationPolicy
from esimflow.migration.report import report

from tests.migration.fake_engine import FakeEngine, fake_migration_worker
from tests.migration.fleet_lab import build_fleet_lab, fleet_workers, open_lab_store
from tests.migration.migration_helpers import write_csv
from tests.migration.test_migration_cli import Cli
from tests.migration.test_migration_control import simple_fleet
from tests.waiting import until

pytestmark = pytest.mark.temporal

CODE = "73915"
FIRST = 700  # EIDs of its own on the shared dev server


@pytest.fixture
def coded_lab(tmp_path):
    built = build_fleet_lab(tmp_path / "lab", 1, first=FIRST, confirmation_code=CODE)
    yield built
    built.close()


async def _awaiting(control: MigrationControl, index: int, question: str, within: float = 25.0) -> None:
    deadline = time.monotonic() + within
    while (await control.device(index).progress()).awaiting != question:
        assert time.monotonic() < deadline, f"device {index} never asked for {question}"
        await asyncio.sleep(0.2)


@pytest.mark.timeout(240)
async def test_a_held_download_asks_the_migration_for_its_confirmation_code(client, temporal_dev_server, coded_lab,
                                                                             tmp_path):
    store = open_lab_store(coded_lab)
    fleet = write_csv(tmp_path / "fleet.csv", coded_lab.fleet_rows())
    suffix = uuid.uuid4().hex[:8]
    queues = dict(engine_queue=f"asks-engine-{suffix}", migration_queue=f"asks-migration-{suffix}")
    device = coded_lab.devices[0]

    async with fleet_workers(client, coded_lab, store, **queues):
        started = await start_migration(client, fleet, MigrationPolicy(max_starts_per_second=50.0),
                                        migration_id=f"asks-{suffix}", task_queue=queues["migration_queue"],
                                        engine_task_queue=queues["engine_queue"])
        control = MigrationControl(client, started.migration_id)
        await _awaiting(control, 0, "confirmation_code")
        question = await control.device(0).progress()
        assert question.operation == "DownloadProfile" and question.metadata.iccid == device.target_iccid
        with pytest.raises(AnswerRefusedError, match="not waiting for consent"):
            await control.device(0).give_consent()  # not what it asked
        cli = Cli(temporal_dev_server.address, tmp_path / "unused.sqlite3", queues["migration_queue"])
        cli.env["ESIMFLOW_CONFIRMATION_CODE"] = CODE
        code, document = await cli.json("migrate", "answer", started.migration_id, "0")
        assert code == 0 and document["ok"], document
        assert document["progress"]["awaiting"] is None and document["progress"]["phase"] == "confirmation code received"
        assert CODE not in json.dumps(document)
        code, document = await cli.json("migrate", "answer", started.migration_id, "0", "--wait", "0")
        assert code == 1 and document["error"]["kind"] == "migration.nothing_asked", document  # answered already
        final = await asyncio.wait_for(started.handle.result(), 120)

    assert final.counts["migrated"] == 1, final
    assert device.profiles() == {device.old_iccid: False, device.target_iccid: True}
    store.close()


async def test_a_device_not_under_a_hold_refuses_answers_and_says_where_they_go(client, tmp_path):
    """Where the card host runs no workflows, a device submits each operation to its eUICC's
    entity: the download's questions belong to that operation's own workflow, and the device
    workflow refuses an answer saying so."""
    engine = FakeEngine()
    rows = simple_fleet(engine, 1, start=40)
    fleet = write_csv(tmp_path / "fleet.csv", rows)
    task_queue = f"migration-test-{uuid.uuid4().hex[:8]}"
    async with fake_migration_worker(client, tmp_path, engine, task_queue=task_queue):
        engine.hold.clear()
        started = await start_migration(client, fleet, MigrationPolicy(max_starts_per_second=100.0),
                                        migration_id=f"mig-test-{uuid.uuid4().hex[:10]}", task_queue=task_queue)
        await until(lambda: _in_flight(engine), "the device's first operation in flight")
        with pytest.raises(AnswerRefusedError, match="through its eUICC entity"):
            await MigrationControl(client, started.migration_id).device(0).provide_confirmation_code(CODE)
        engine.hold.set()
        final = await started.handle.result()
    assert final.counts["migrated"] == 1, final


async def _in_flight(engine: FakeEngine) -> bool:
    return engine.waiting >= 1


@pytest.fixture
def second_coded_lab(tmp_path):
    built = build_fleet_lab(tmp_path / "lab2", 1, first=FIRST + 1, confirmation_code=CODE)
    yield built
    built.close()


@pytest.mark.timeout(240)
async def test_a_cancel_session_reaches_a_held_download_through_the_entity(client, second_coded_lab, tmp_path):
    """The user cancels the session the held download waits in (as another LPA would): the
    entity, busy with the hold, forwards it to the holder; the download cancels its session
    with the user's reason and the device rolls back to its old profile."""
    lab = second_coded_lab
    store = open_lab_store(lab)
    fleet = write_csv(tmp_path / "fleet.csv", lab.fleet_rows())
    suffix = uuid.uuid4().hex[:8]
    queues = dict(engine_queue=f"cancel-engine-{suffix}", migration_queue=f"cancel-migration-{suffix}")
    device = lab.devices[0]

    async with fleet_workers(client, lab, store, **queues):
        started = await start_migration(client, fleet, MigrationPolicy(max_starts_per_second=50.0),
                                        migration_id=f"cancel-{suffix}", task_queue=queues["migration_queue"],
                                        engine_task_queue=queues["engine_queue"])
        control = MigrationControl(client, started.migration_id)
        await _awaiting(control, 0, "confirmation_code")
        transaction_id = (await control.device(0).progress()).transaction_id
        await start_operation(client, CancelSessionInput(eid=device.eid, transaction_id=transaction_id,
                                                         reason=int(CancelReason.END_USER_REJECTION)),
                              task_queue=queues["engine_queue"])
        final = await asyncio.wait_for(started.handle.result(), 120)
        rows = report(store, started.migration_id)["devices"]

    assert final.counts["rolled_back"] == 1, final
    assert "declined" in rows[0]["reason"] and "endUserRejection" in rows[0]["reason"], rows
    assert device.profiles() == {device.old_iccid: True}
    store.close()


@pytest.fixture
def ruled_lab(tmp_path):
    built = build_fleet_lab(tmp_path / "lab3", 1, first=FIRST + 2, ppr2=True)
    yield built
    built.close()


@pytest.mark.timeout(240)
async def test_a_held_download_with_policy_rules_waits_for_consent_given_by_migrate_answer(
        client, temporal_dev_server, ruled_lab, tmp_path):
    lab = ruled_lab
    store = open_lab_store(lab)
    fleet = write_csv(tmp_path / "fleet.csv", lab.fleet_rows())
    suffix = uuid.uuid4().hex[:8]
    queues = dict(engine_queue=f"rules-engine-{suffix}", migration_queue=f"rules-migration-{suffix}")
    device = lab.devices[0]

    async with fleet_workers(client, lab, store, **queues):
        started = await start_migration(client, fleet, MigrationPolicy(max_starts_per_second=50.0),
                                        migration_id=f"rules-{suffix}", task_queue=queues["migration_queue"],
                                        engine_task_queue=queues["engine_queue"])
        control = MigrationControl(client, started.migration_id)
        await _awaiting(control, 0, "consent")
        cli = Cli(temporal_dev_server.address, tmp_path / "unused.sqlite3", queues["migration_queue"])
        code, document = await cli.json("migrate", "answer", started.migration_id, "0", "--accept-policy-rules")
        assert code == 0 and document["progress"]["phase"] == "consent received", document
        final = await asyncio.wait_for(started.handle.result(), 120)

    assert final.counts["migrated"] == 1, final
    assert device.profiles() == {device.old_iccid: False, device.target_iccid: True}
    store.close()
