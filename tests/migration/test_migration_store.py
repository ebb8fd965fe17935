"""The migration store and report, and the pacing rules: what a re-run sees, what the report
says, and that activation codes rest sealed."""
from __future__ import annotations

import csv
import json
import sqlite3

import pytest

from esimflow.codec import Keyring
from esimflow.migration import policy as pacing
from esimflow.migration.fleet import load_fleet
from esimflow.migration.model import Counters, DeviceOutcome, MigrationPolicy, Outcome
from esimflow.migration.report import write_report
from esimflow.migration.store import FleetMismatchError, MigrationStoreError, open_store

from tests.migration.migration_helpers import KEYRING, activation_code, eid, iccid, write_csv


@pytest.fixture
def fleet_file(tmp_path):
    return write_csv(tmp_path / "fleet.csv", [
        {"eid": eid(n), "current_iccid": iccid(n), "activation_code": activation_code(n)} for n in range(3)])


def test_the_store_seals_codes_and_a_rerun_sees_what_is_done(tmp_path, fleet_file):
    path = tmp_path / "migrations.sqlite3"
    store = open_store(path, KEYRING)
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
    store.close()

    raw = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("migrations.sqlite3-*"))
    assert b"MIG-SECRET" not in raw  # sealed at rest
    assert path.stat().st_mode & 0o077 == 0
    with pytest.raises(MigrationStoreError, match="not given"):
        open_store(path, Keyring.generate()).page("m1", 0, 1)


def test_another_fleet_under_the_same_id_is_refused(tmp_path, fleet_file):
    store = open_store(tmp_path / "m.sqlite3", KEYRING)
    store.import_fleet("m1", load_fleet(fleet_file), MigrationPolicy())
    other = write_csv(tmp_path / "other.csv", [{"eid": eid(9), "current_iccid": iccid(9), "target_iccid": iccid(9, 2)}])
    with pytest.raises(FleetMismatchError, match="another fleet"):
        store.import_fleet("m1", load_fleet(other), MigrationPolicy())


def test_invalid_lines_keep_nothing_unless_skipped(tmp_path):
    rows = [{"eid": eid(1), "current_iccid": iccid(1), "target_iccid": iccid(1, 2)},
            {"eid": eid(2), "current_iccid": "123", "target_iccid": iccid(2, 2)}]
    fleet = load_fleet(write_csv(tmp_path / "f.csv", rows))
    store = open_store(tmp_path / "m.sqlite3", KEYRING)
    refused = store.import_fleet("m1", fleet, MigrationPolicy())
    assert refused.rejected and refused.invalid == 1 and refused.errors[0].line == 3
    with sqlite3.connect(tmp_path / "m.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM migration").fetchone() == (0,)
    kept = store.import_fleet("m1", fleet, MigrationPolicy(skip_invalid_lines=True))
    assert (kept.total, kept.invalid, kept.rejected) == (1, 1, False)
    assert [e.line for e in store.line_errors("m1")] == [3]


def test_the_report_lists_every_device_in_csv_and_json(tmp_path, fleet_file):
    store = open_store(tmp_path / "m.sqlite3", KEYRING)
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
