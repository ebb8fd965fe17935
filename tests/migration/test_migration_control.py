"""The BulkMigration and DeviceMigration workflows on a real Temporal dev server, with the
engine replaced by an in-memory stand-in (tests/migration/fake_engine.py): every outcome,
canary approval, pause/resume, concurrency, graceful cancel, abort on failure rate,
continue-as-new, re-runs, dry runs, and what reaches the server in plain text."""
from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError

from esimflow.migration.client import FleetInvalidError, MigrationControl, default_migration_id, start_migration
from esimflow.migration.model import (
    BULK_MIGRATION_WORKFLOW,
    BulkMigrationInput,
    MigrationPolicy,
    MigrationState,
    MigrationStatus,
)
from esimflow.migration.report import report

from tests.migration.fake_engine import CONNECTIVITY_CHECK, FakeEngine, fake_migration_worker
from tests.migration.migration_helpers import activation_code, eid, iccid, plain_client, write_csv
from tests.waiting import until

pytestmark = pytest.mark.temporal

FAST = dict(max_starts_per_second=100.0, failure_threshold=1.0)


def queue() -> str:
    return f"migration-test-{uuid.uuid4().hex[:8]}"


def new_id() -> str:
    return f"mig-test-{uuid.uuid4().hex[:10]}"


def simple_fleet(engine: FakeEngine, count: int, start: int = 0, faults: dict[int, set[str]] | None = None):
    rows = []
    for n in range(start, start + count):
        engine.add(eid(n), [iccid(n)], iccid(n), (faults or {}).get(n))
        engine.codes[activation_code(n)] = iccid(n, operator=2)
        rows.append({"eid": eid(n), "current_iccid": iccid(n), "activation_code": activation_code(n)})
    return rows


def outcomes_of(document: dict) -> dict[str, str]:
    return {device["eid"]: device["outcome"] for device in document["devices"]}


async def test_every_device_ends_in_one_outcome_and_the_cards_match(client, tmp_path):
    engine = FakeEngine()
    rows = []

    def device(n: int, *, profiles: list[str], enabled: str, current: str, faults=(), code=True,
               target: str | None = None, device_address: str = "") -> None:
        engine.add(eid(n), profiles, enabled, set(faults))
        if code:
            engine.codes[activation_code(n)] = iccid(n, operator=2)
        rows.append({"eid": eid(n), "device": device_address, "current_iccid": current,
                     "activation_code": activation_code(n) if code else "", "target_iccid": target})

    old, new = iccid, lambda n: iccid(n, operator=2)
    device(0, profiles=[old(0)], enabled=old(0), current=old(0), device_address=eid(0)[-6:])
    device(1, profiles=[old(1), new(1)], enabled=new(1), current=old(1), code=False, target=new(1))
    device(2, profiles=[old(2)], enabled=old(2), current=old(2), faults={"download"})
    device(3, profiles=[old(3)], enabled=old(3), current=old(3), faults={"no_effect"})
    device(4, profiles=[old(99)], enabled=old(99), current=old(4))
    device(5, profiles=[old(5)], enabled=old(5), current=old(5), faults={"no_connectivity"})
    device(6, profiles=[old(6)], enabled=old(6), current=old(6), faults={"no_connectivity", "switch_back"})
    device(7, profiles=[old(7), new(7)], enabled=old(7), current=old(7), code=False, target=new(7))
    device(8, profiles=[old(8)], enabled=old(8), current=old(8), device_address="otherhost/local:nowhere")
    fleet = write_csv(tmp_path / "fleet.csv", rows)
    task_queue = queue()
    policy = MigrationPolicy(max_concurrency=4, delete_old=True, connectivity_check=CONNECTIVITY_CHECK,
                             connectivity_task_queue=task_queue, **FAST)
    async with fake_migration_worker(client, tmp_path, engine, task_queue=task_queue) as store:
        started = await start_migration(client, fleet, policy, migration_id=new_id(), task_queue=task_queue)
        final = await started.handle.result()
        document = report(store, started.migration_id)

    assert final.state == MigrationState.COMPLETED
    assert final.counts == {"migrated": 2, "rolled_back": 3, "failed": 3, "skipped": 1, "already_done": 0}
    assert final.in_flight == 0 and final.pending == 0
    by_eid = {d["eid"]: d for d in document["devices"]}
    assert outcomes_of(document) == {
        eid(0): "migrated", eid(1): "skipped", eid(2): "rolled_back", eid(3): "rolled_back", eid(4): "failed",
        eid(5): "rolled_back", eid(6): "failed", eid(7): "migrated", eid(8): "failed"}
    assert "download failed" in by_eid[eid(2)]["reason"]
    assert "verification failed" in by_eid[eid(3)]["reason"]
    assert "not on the card" in by_eid[eid(4)]["reason"]
    assert "connectivity check failed" in by_eid[eid(5)]["reason"]
    assert "could not be re-enabled" in by_eid[eid(6)]["reason"]
    assert "registry" in by_eid[eid(8)]["reason"]
    # the report says what the cards say
    cards = engine.cards
    assert cards[eid(0)].profiles == {new(0): True}  # old deleted
    assert cards[eid(7)].profiles == {new(7): True}
    assert by_eid[eid(0)]["old_deleted"] and by_eid[eid(0)]["enabled_iccid"] == new(0)
    for n in (2, 3, 5):
        assert cards[eid(n)].enabled == [old(n)] and by_eid[eid(n)]["enabled_iccid"] == old(n)
    assert cards[eid(5)].profiles[new(5)] is False  # the target stays, disabled, for a later attempt
    assert cards[eid(6)].enabled == [new(6)]  # the failed rollback is reported, not hidden
    assert cards[eid(8)].enabled == [old(8)] and (("ListProfiles", eid(8)) not in engine.operations)
    assert "activation_code" not in document["devices"][0]

    # nothing secret reaches the server in plain text; control: the codes did travel
    assert any(step.input.get("activation_code") == activation_code(0) for step in engine.inputs)
    raw = plain_client(client)
    ids = [started.migration_id] + [d["workflow_id"] for d in document["devices"]]
    for workflow_id in ids:
        history = await raw.get_workflow_handle(workflow_id).fetch_history()
        stored = b"".join(event.SerializeToString() for event in history.events)
        for n in range(9):
            assert activation_code(n).encode() not in stored
            assert f"MIG-SECRET-{n:06d}".encode() not in stored

    # findable by search attributes (ids and identifiers only)
    async def rolled_back_found():
        query = f"EsimMigrationId = '{started.migration_id}' AND EsimOutcome = 'rolled_back'"
        return len([w async for w in client.list_workflows(query)]) == 3
    await until(rolled_back_found, "search attributes to be indexed")
    query = f"EsimIccid = '{new(0)}' AND EsimOperation = 'Migration' AND EsimMigrationId = '{started.migration_id}'"
    assert [w.id async for w in client.list_workflows(query)] == [by_eid[eid(0)]["workflow_id"]]


async def test_canary_approval_pause_concurrency_and_graceful_cancel(client, tmp_path):
    engine = FakeEngine()
    fleet = write_csv(tmp_path / "fleet.csv", simple_fleet(engine, 12))
    task_queue = queue()
    policy = MigrationPolicy(max_concurrency=3, canary_size=2, **FAST)
    async with fake_migration_worker(client, tmp_path, engine, task_queue=task_queue) as store:
        started = await start_migration(client, fleet, policy, migration_id=new_id(), task_queue=task_queue)
        control = MigrationControl(client, started.migration_id)

        async def state_is(state: str):
            current = await control.status()
            return current if current.state == state else None

        canary = await until(lambda: state_is(MigrationState.AWAITING_APPROVAL), "the canary to finish")
        assert canary.counts["migrated"] == 2 and canary.in_flight == 0 and canary.pending == 10
        with pytest.raises(WorkflowUpdateFailedError):
            await control.resume()  # not paused: refused, nothing changes

        engine.hold.clear()  # devices now stay in flight until released
        await control.approve()
        await until(lambda: _async(engine.waiting >= 3), "three devices in flight")
        paused = await control.pause()
        assert paused.state == MigrationState.PAUSED
        raised = await control.set_concurrency(5)
        assert raised.concurrency == 5
        engine.hold.set()
        drained = await until(lambda: _in_flight_is(control, 0), "the devices in flight to finish")
        assert drained.counts["migrated"] == 5 and drained.pending == 7  # paused: nothing new started

        engine.hold.clear()
        await control.resume()
        await until(lambda: _async(engine.waiting >= 5), "five devices in flight (the new concurrency)")
        cancelling = await control.cancel()
        assert cancelling.state == MigrationState.CANCELLING
        engine.hold.set()
        final = await started.handle.result()
        document = report(store, started.migration_id)

    assert final.state == MigrationState.CANCELLED
    assert final.counts["migrated"] == 10 and final.pending == 2
    assert sorted(outcomes_of(document).values()) == ["migrated"] * 10 + ["not_started"] * 2


async def test_cancel_with_rollback_stops_devices_before_the_switch(client, tmp_path):
    """Devices stop at their next step boundary (the download's end at the latest): none switches."""
    engine = FakeEngine()
    fleet = write_csv(tmp_path / "fleet.csv", simple_fleet(engine, 4))
    task_queue = queue()
    async with fake_migration_worker(client, tmp_path, engine, task_queue=task_queue) as store:
        engine.hold.clear()
        started = await start_migration(client, fleet, MigrationPolicy(max_concurrency=4, **FAST),
                                        migration_id=new_id(), task_queue=task_queue)
        await until(lambda: _async(engine.waiting >= 4), "four devices in flight")
        await MigrationControl(client, started.migration_id).cancel(rollback=True)
        engine.hold.set()
        final = await started.handle.result()
        document = report(store, started.migration_id)
    assert final.state == MigrationState.CANCELLED
    assert set(outcomes_of(document).values()) == {"rolled_back"}
    assert all("cancelled" in d["reason"] for d in document["devices"])
    assert all(card.enabled == [iccid(n)] for n, card in enumerate(engine.cards.values()))
    assert not [op for op, _ in engine.operations if op == "SwitchProfile"]


async def test_a_device_workflow_terminated_by_hand_is_reconciled(client, tmp_path):
    engine = FakeEngine()
    fleet = write_csv(tmp_path / "fleet.csv", simple_fleet(engine, 2))
    task_queue = queue()
    async with fake_migration_worker(client, tmp_path, engine, task_queue=task_queue) as store:
        engine.hold.clear()
        started = await start_migration(client, fleet, MigrationPolicy(**FAST), migration_id=new_id(),
                                        task_queue=task_queue, reconcile_after_seconds=1.0)
        await until(lambda: _async(engine.waiting >= 2), "both devices in flight")
        await client.get_workflow_handle(f"{started.migration_id}-device-1").terminate("an operator's mistake")
        engine.hold.set()
        final = await started.handle.result()
        document = report(store, started.migration_id)
    assert final.state == MigrationState.COMPLETED and final.counts["failed"] == 1 and final.in_flight == 0
    terminated = document["devices"][1]
    assert terminated["outcome"] == "failed" and "ended (terminated) without an outcome" in terminated["reason"]
    assert outcomes_of(document)[eid(0)] == "migrated"


async def test_failure_rate_over_the_window_aborts(client, tmp_path):
    engine = FakeEngine()
    fleet = write_csv(tmp_path / "fleet.csv",
                      simple_fleet(engine, 12, faults={n: {"download"} for n in range(12)}))
    task_queue = queue()
    policy = MigrationPolicy(max_concurrency=1, max_starts_per_second=100.0, failure_window=4,
                             failure_threshold=0.5)
    async with fake_migration_worker(client, tmp_path, engine, task_queue=task_queue) as store:
        started = await start_migration(client, fleet, policy, migration_id=new_id(), task_queue=task_queue)
        final = await started.handle.result()
        document = report(store, started.migration_id)
    assert final.state == MigrationState.ABORTED
    assert "100% of the last 4 devices" in final.abort_reason
    assert final.counts["rolled_back"] == 4 and final.pending == 8
    assert document["migration"]["state"] == "aborted"
    assert document["migration"]["outcomes"] == {"rolled_back": 4, "not_started": 8}


async def test_continue_as_new_and_a_rerun_skips_migrated_devices(client, tmp_path):
    engine = FakeEngine()
    fleet = write_csv(tmp_path / "fleet.csv", simple_fleet(engine, 14, faults={3: {"download"}}))
    task_queue = queue()
    migration_id = new_id()
    policy = MigrationPolicy(max_concurrency=3, **FAST)
    async with fake_migration_worker(client, tmp_path, engine, task_queue=task_queue) as store:
        started = await start_migration(client, fleet, policy, migration_id=migration_id, task_queue=task_queue,
                                        continue_after_starts=4)
        first = await started.handle.result()
        assert first.runs >= 4 and first.counts["migrated"] == 13 and first.counts["rolled_back"] == 1
        # every run's history stays small: the fleet is never in it
        raw = plain_client(client)
        history = await raw.get_workflow_handle(migration_id, run_id=started.handle.first_execution_run_id
                                                 ).fetch_history()
        assert len(history.events) < 80

        engine.cards[eid(3)].faults.clear()
        operations_before = len(engine.operations)
        again = await start_migration(client, fleet, policy, migration_id=migration_id, task_queue=task_queue)
        second = await again.handle.result()
        document = report(store, migration_id)
    assert second.counts == {"migrated": 1, "rolled_back": 0, "failed": 0, "skipped": 0, "already_done": 13}
    assert {eid for _, eid in engine.operations[operations_before:]} == {eid(3)}
    assert set(outcomes_of(document).values()) == {"migrated"}
    assert all(card.enabled == [iccid(n, operator=2)] for n, card in enumerate(engine.cards.values()))


async def test_dry_run_changes_nothing_and_gets_its_own_id(client, tmp_path):
    engine = FakeEngine()
    rows = simple_fleet(engine, 2)
    engine.add(eid(2), [iccid(2), iccid(2, operator=2)], iccid(2, operator=2))
    rows.append({"eid": eid(2), "current_iccid": iccid(2), "target_iccid": iccid(2, operator=2)})
    engine.add(eid(3), [iccid(98)], iccid(98))
    engine.codes[activation_code(3)] = iccid(3, operator=2)
    rows.append({"eid": eid(3), "current_iccid": iccid(3), "activation_code": activation_code(3)})
    fleet = write_csv(tmp_path / "fleet.csv", rows)
    task_queue = queue()
    policy = MigrationPolicy(dry_run=True, **FAST)
    before = {e: dict(card.profiles) for e, card in engine.cards.items()}
    async with fake_migration_worker(client, tmp_path, engine, task_queue=task_queue) as store:
        started = await start_migration(client, fleet, policy, task_queue=task_queue)
        final = await started.handle.result()
        document = report(store, started.migration_id)
    assert started.migration_id.endswith("-dry-run")
    assert started.migration_id != default_migration_id(started.fleet.sha256, MigrationPolicy())
    assert final.dry_run and final.counts["skipped"] == 3 and final.counts["failed"] == 1
    reasons = {d["eid"]: d["reason"] for d in document["devices"]}
    assert reasons[eid(0)].startswith(f"dry run: would download {iccid(0, operator=2)}")
    assert reasons[eid(2)] == "already on the target profile"
    assert {e: card.profiles for e, card in engine.cards.items()} == before
    assert {op for op, _ in engine.operations} == {"ListProfiles", "GetDownloadableProfileMetadata"}


async def test_an_invalid_fleet_never_starts(client, tmp_path):
    engine = FakeEngine()
    rows = simple_fleet(engine, 3)
    rows[1]["eid"] = rows[1]["eid"][:-1] + ("0" if rows[1]["eid"][-1] != "0" else "1")  # bad check digits
    rows[2]["activation_code"] = rows[0]["activation_code"]  # duplicate
    fleet = write_csv(tmp_path / "fleet.csv", rows)
    with pytest.raises(FleetInvalidError) as invalid:
        await start_migration(client, fleet, MigrationPolicy(), task_queue=queue())
    assert [(e.line, e.column) for e in invalid.value.errors] == [(3, "eid"), (4, "activation_code")]
    assert all(activation_code(0) not in str(e) for e in invalid.value.errors)

    # bypassing the client's check: the worker validates again and refuses
    good = write_csv(tmp_path / "good.csv", simple_fleet(engine, 2, start=10))
    task_queue = queue()
    async with fake_migration_worker(client, tmp_path, engine, task_queue=task_queue):
        for path, sha in ((fleet, "0" * 64), (good, "f" * 64)):
            final = await client.execute_workflow(
                BULK_MIGRATION_WORKFLOW, BulkMigrationInput(new_id(), str(path), sha), id=new_id(),
                task_queue=task_queue, result_type=MigrationStatus)
            assert final.state == MigrationState.REJECTED
            assert "changed after it was validated" in final.abort_reason
    assert engine.operations == []


async def _async(value):
    return value


async def _in_flight_is(control: MigrationControl, count: int):
    current = await control.status()
    return current if current.in_flight == count else None
