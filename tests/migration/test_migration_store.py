"""The migration store and report, and the pacing rules: what a re-run sees, what the report
says, and that activation codes rest sealed. The store's tests run on a SQLite file and on a
real PostgreSQL server (``database_location``)."""
from __future__ import annotations

import csv
import json
import sqlite3
import threading

import pytest

from esimflow.keys import Keyring
from esimflow.migration import policy as pacing
from esimflow.migration.fleet import load_fleet
from esimflow.migration.model import Counters, DeviceOutcome, MigrationPolicy, Outcome
from esimflow.migration.report import write_report
from esimflow.history import store as history_store
from esimflow.migration import store as store_module
from esimflow.migration.store import FleetMismatchError, MigrationStoreError, open_store

from tests.migration.migration_helpers import KEYRING, activation_code, eid, iccid, write_csv


@pytest.fixture
def fleet_file(tmp_path):
    return write_csv(tmp_path / "fleet.csv", [
        {"eid": eid(n), "current_iccid": iccid(n), "activation_code": activation_code(n)} for n in range(3)])


def _everything_at_rest(store) -> bytes:
    """What the store keeps, as its files' bytes (SQLite) or every value of its tables."""
    if store.path is not None:
        return b"".join(p.read_bytes() for p in store.path.parent.glob(store.path.name + "*"))
    rows = [row for table in ("migration", "device", "line_error") for row in store._query(f"SELECT * FROM {table}")]
    return b"".join(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
                    for row in rows for value in row)


def test_the_store_seals_codes_and_a_rerun_sees_what_is_done(database_location, fleet_file):
    store = open_store(database_location, KEYRING)
    fleet = load_fleet(fleet_file)
    first = store.import_fleet("m1", fleet, MigrationPolicy())
    assert (first.total, first.invalid, first.created) == (3, 0, True)
    store.record_outcome(DeviceOutcome("m1", 0, eid(0), Outcome.MIGRATED, old_iccid=iccid(0),
                                       target_iccid=iccid(0, 2), enabled_iccid=iccid(0, 2)))
    store.record_outcome(DeviceOutcome("m1", 1, eid(1), Outcome.ROLLED_BACK, "connectivity check failed",
                                       old_iccid=iccid(1), target_iccid=iccid(1, 2), enabled_iccid=iccid(1)))
    store.record_outcome(DeviceOutcome("m1", 2, eid(2), Outcome.SKIPPED, "dry run: would download",
                                       dry_run=True))
    again = store.import_fleet("m1", fleet, MigrationPolicy())
    assert (again.total, again.created) == (3, False)
    page = store.page("m1", 0, 10)
    assert [(p.done, p.known_target_iccid) for p in page] == [(True, None), (False, iccid(1, 2)), (False, None)]
    assert [p.entry.activation_code for p in page] == [activation_code(n) for n in range(3)]
    assert store.page("m1", 1, 1)[0].entry.index == 1
    raw = _everything_at_rest(store)
    assert b"MIG-SECRET" not in raw and b"smdp.migration.test" not in raw  # sealed at rest
    if store.path is not None:
        assert store.path.stat().st_mode & 0o077 == 0
    store.close()
    with pytest.raises(MigrationStoreError, match="not given"):
        open_store(database_location, Keyring.generate()).page("m1", 0, 1)


def test_another_fleet_under_the_same_id_is_refused(tmp_path, database_location, fleet_file):
    store = open_store(database_location, KEYRING)
    store.import_fleet("m1", load_fleet(fleet_file), MigrationPolicy())
    other = write_csv(tmp_path / "other.csv", [{"eid": eid(9), "current_iccid": iccid(9), "target_iccid": iccid(9, 2)}])
    with pytest.raises(FleetMismatchError, match="another fleet"):
        store.import_fleet("m1", load_fleet(other), MigrationPolicy())


def test_invalid_lines_keep_nothing_unless_skipped(tmp_path, database_location):
    rows = [{"eid": eid(1), "current_iccid": iccid(1), "target_iccid": iccid(1, 2)},
            {"eid": eid(2), "current_iccid": "123", "target_iccid": iccid(2, 2)}]
    fleet = load_fleet(write_csv(tmp_path / "f.csv", rows))
    store = open_store(database_location, KEYRING)
    refused = store.import_fleet("m1", fleet, MigrationPolicy())
    assert refused.rejected and refused.invalid == 1 and refused.errors[0].line == 3
    assert store.migrations() == []
    kept = store.import_fleet("m1", fleet, MigrationPolicy(skip_invalid_lines=True))
    assert (kept.total, kept.invalid, kept.rejected) == (1, 1, False)
    assert [e.line for e in store.line_errors("m1")] == [3]


def test_the_report_lists_every_device_in_csv_and_json(tmp_path, database_location, fleet_file):
    store = open_store(database_location, KEYRING)
    store.import_fleet("m1", load_fleet(fleet_file), MigrationPolicy())
    store.record_outcome(DeviceOutcome("m1", 0, eid(0), Outcome.MIGRATED, target_iccid=iccid(0, 2),
                                       enabled_iccid=iccid(0, 2), old_deleted=True, workflow_id="m1-device-0"))
    store.record_outcome(DeviceOutcome("m1", 1, eid(1), Outcome.FAILED, "the current profile is not on the card",
                                       error_kind="migration.current_profile_missing"))
    running = write_report(store, "m1", tmp_path / "r.json")
    assert running["migration"]["outcomes"] == {"migrated": 1, "failed": 1, "in_progress": 1}

    store.finish("m1", "cancelled", None, Counters(migrated=1, failed=1))
    document = write_report(store, "m1", tmp_path / "report.json")
    write_report(store, "m1", tmp_path / "report.csv")
    assert document["migration"]["state"] == "cancelled"
    assert json.loads((tmp_path / "report.json").read_text())["devices"] == document["devices"]
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert [(r["eid"], r["outcome"], r["old_deleted"], r["by_activation_code"]) for r in rows] == [
        (eid(0), "migrated", "True", "True"), (eid(1), "failed", "False", "True"), (eid(2), "not_started", "False", "True")]
    assert rows[1]["reason"] == "the current profile is not on the card"
    for name in ("report.json", "report.csv"):
        assert "MIG-SECRET" not in (tmp_path / name).read_text()


def test_a_retried_outcome_write_is_one_attempt_and_a_rerun_is_another(database_location, fleet_file):
    store = open_store(database_location, KEYRING)
    store.import_fleet("m1", load_fleet(fleet_file), MigrationPolicy())
    first_run = DeviceOutcome("m1", 0, eid(0), Outcome.FAILED, "card removed", error_kind="card.removed",
                              workflow_id="m1-device-0", started_at="2026-11-21T12:00:00+00:00",
                              finished_at="2026-11-21T12:01:00+00:00")
    for _ in range(3):  # the activity retried after its answer was lost
        store.record_outcome(first_run)
    assert store.devices("m1")[0]["attempts"] == 1
    rerun = DeviceOutcome("m1", 0, eid(0), Outcome.MIGRATED, target_iccid=iccid(0, 2), enabled_iccid=iccid(0, 2),
                          workflow_id="m1-device-0", started_at="2026-11-21T13:00:00+00:00",
                          finished_at="2026-11-21T13:02:00+00:00")
    store.record_outcome(rerun)
    store.record_outcome(rerun)
    (device,) = store.devices("m1", outcome=Outcome.MIGRATED)
    assert (device["attempts"], device["target_iccid"]) == (2, iccid(0, 2))
    assert [d["index"] for d in store.devices("m1", outcome="not_started")] == [1, 2]


def test_the_console_reads_migrations_newest_first_and_a_card_across_them(tmp_path, database_location, fleet_file):
    store = open_store(database_location, KEYRING)
    store.import_fleet("older", load_fleet(fleet_file), MigrationPolicy())
    store.import_fleet("newer", load_fleet(fleet_file), MigrationPolicy(max_concurrency=3))
    store.record_outcome(DeviceOutcome("older", 1, eid(1), Outcome.FAILED, "no connectivity"))
    listed = store.migrations()
    assert [(m["migration_id"], m["total"], m["state"]) for m in listed] == [("newer", 3, None), ("older", 3, None)]
    assert listed[0]["policy"]["max_concurrency"] == 3
    across = store.device_migrations(eid(1))
    assert [(d["migration_id"], d["outcome"]) for d in across] == [("older", "failed"), ("newer", None)]
    assert all("activation_code" not in d and "sealed_code" not in d for d in across)


def test_concurrent_writers_of_one_store_lose_nothing(database_location, tmp_path):
    rows = [{"eid": eid(n), "current_iccid": iccid(n), "target_iccid": iccid(n, 2)} for n in range(40)]
    fleet = load_fleet(write_csv(tmp_path / "fleet.csv", rows))
    store = open_store(database_location, KEYRING)
    store.import_fleet("m1", fleet, MigrationPolicy())
    errors = []

    def write(indices) -> None:
        try:
            for index in indices:
                outcome = DeviceOutcome("m1", index, eid(index), Outcome.MIGRATED, workflow_id=f"m1-device-{index}")
                store.record_outcome(outcome)
                store.record_outcome(outcome)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(range(start, 40, 4),)) for start in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [(d["outcome"], d["attempts"]) for d in store.devices("m1")] == [("migrated", 1)] * 40
    assert all(entry.done for entry in store.page("m1", 0, 100))


def test_a_store_written_before_schema_versions_is_migrated(tmp_path, fleet_file):
    path = tmp_path / "migrations.sqlite3"
    with sqlite3.connect(path) as old:
        for statement in filter(str.strip, store_module.MIGRATIONS[0].sqlite.split(";")):
            old.execute(statement)
        old.execute("INSERT INTO migration (id, fleet_sha256, fleet_format, total, invalid, policy, created_at)"
                    " VALUES ('old', 'x', 'csv', 0, 0, '{}', '2026-01-01T00:00:00+00:00')")
    store = open_store(path, KEYRING)
    assert [m["migration_id"] for m in store.migrations()] == ["old"]
    store.import_fleet("m1", load_fleet(fleet_file), MigrationPolicy())
    store.record_outcome(DeviceOutcome("m1", 0, eid(0), Outcome.MIGRATED))
    assert store.devices("m1")[0]["attempts"] == 1


def test_postgresql_is_the_default_when_the_history_is_there(postgres_server):
    location = postgres_server.fresh_database()
    assert store_module.default_location({"ESIMFLOW_HISTORY": location}) == location
    assert store_module.default_location({"ESIMFLOW_HISTORY": location, "ESIMFLOW_MIGRATIONS": "/m.sqlite3"}) == (
        "/m.sqlite3")
    assert store_module.default_location({"ESIMFLOW_HISTORY": "/h.sqlite3", "XDG_STATE_HOME": "/s"}) == (
        "/s/esimflow/migrations.sqlite3")
    with open_store(store_module.default_location({"ESIMFLOW_HISTORY": location}), KEYRING) as store:
        assert store.path is None and store.migrations() == []


def test_the_failure_window_decides_only_when_full():
    window: list[bool] = []
    for failed in (True, True, True):
        window = pacing.window_after(window, failed, 4)
    assert not pacing.should_abort(window, 4, 0.5)  # three devices are no trend yet
    window = pacing.window_after(window, False, 4)
    assert pacing.failure_rate(window) == 0.75 and pacing.should_abort(window, 4, 0.5)
    for _ in range(2):
        window = pacing.window_after(window, False, 4)
    assert window == [True, False, False, False] and not pacing.should_abort(window, 4, 0.5)


def test_the_start_bucket_paces_without_bursting_after_a_pause():
    tokens, at = pacing.refill(0.0, None, 100.0, 2.0)
    assert tokens == 2.0  # one second's worth to start with
    tokens -= 2.0
    assert pacing.seconds_until_token(tokens, 2.0) == 0.5
    tokens, at = pacing.refill(tokens, at, 100.25, 2.0)
    assert tokens == 0.5
    tokens, at = pacing.refill(tokens, at, 1000.0, 2.0)
    assert tokens == 2.0  # an hour paused still banks one second's worth
    assert pacing.refill(0.0, None, 0.0, 0.2)[0] == 1.0  # slow rates still start one at a time


def test_rate_and_eta_follow_recent_finishes():
    times: list[float] = []
    for t in range(0, 10):
        times = pacing.finish_times_after(times, 100.0 + t * 0.5)
    rate = pacing.rate_per_second(times, 104.5)
    assert rate == pytest.approx(2.0)
    assert pacing.eta_seconds(10, rate) == pytest.approx(5.0)
    assert pacing.rate_per_second(times, 113.5) == pytest.approx(9 / 13.5)  # decays while stalled
    assert pacing.eta_seconds(5, 0.0) is None and pacing.eta_seconds(0, 0.0) == 0.0
    assert len(pacing.finish_times_after(list(range(200)), 300.0)) == pacing.RATE_SAMPLES


def test_policy_problems_are_named():
    assert MigrationPolicy().problems() == []
    problems = MigrationPolicy(max_concurrency=0, max_starts_per_second=0, failure_threshold=2,
                               connectivity_task_queue="q").problems()
    assert len(problems) == 4


def test_hosts_starting_together_migrate_one_database_once(database_location):
    """Every worker opens the history and the migration store when it starts; several starting
    at once on a new database create and migrate each schema once, without a catalog clash."""
    from esimflow.history import open_history

    errors = []

    def start_worker() -> None:
        try:
            open_history(database_location).close()
            open_store(database_location, KEYRING).close()
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=start_worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_store(database_location, KEYRING) as store:
        versions = dict(store._query("SELECT component, version FROM esimflow_schema"))
    assert versions == {"history": len(history_store.MIGRATIONS), "migrations": len(store_module.MIGRATIONS)}
