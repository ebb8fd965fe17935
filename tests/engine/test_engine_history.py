"""The profile status history answers an operator: where each profile stands, what happened to
it, which operations failed; retried writes land once, concurrent writers lose nothing. Every
store test runs on a SQLite file and on a real PostgreSQL server (``database_location``)."""
import json
import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from esimflow import database
from esimflow.activities.engine import EngineActivities
from esimflow.activities.types import RecordProfileStatusInput
from esimflow.history import HistoryStore, HistoryUnavailableError, StatusChange, open_history
from esimflow.machines import ProfileStatus, Status
from esimcli.main import main
from sgp22.errors import BadInputError, NotSupportedError

EID_A = "89049032123451234512345678901235"
EID_B = "89049032123451234512345678901236"
ICCID_1 = "8949000000000000001"
ICCID_2 = "8949000000000000002"
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def change(iccid=ICCID_1, to=Status.DOWNLOADED, *, minutes=0, workflow_id="DownloadProfile-1", **more):
    more.setdefault("eid", EID_A)
    return StatusChange(iccid=iccid, to_status=to, operation=more.pop("operation", "DownloadProfile"),
                        at=T0 + timedelta(minutes=minutes), workflow_id=workflow_id, **more)


@pytest.fixture
def store(database_location):
    with open_history(database_location) as opened:
        yield opened


def test_store_satisfies_the_protocol(store):
    assert isinstance(store, HistoryStore)


def test_profile_history_in_time_order_with_every_field(store):
    profile = ProfileStatus()
    for minute, trigger in enumerate(["download", "install", "enable"]):
        store.record(StatusChange.from_machine(getattr(profile, trigger)(), iccid=ICCID_1, operation="DownloadProfile",
                                               at=T0 + timedelta(minutes=minute), eid=EID_A,
                                               workflow_id="DownloadProfile-1"))
    store.record(change(ICCID_2))
    history = store.history(ICCID_1)
    assert [(c.from_status, c.to_status) for c in history] == [
        (Status.AVAILABLE, Status.DOWNLOADED), (Status.DOWNLOADED, Status.INSTALLED),
        (Status.INSTALLED, Status.ENABLED)]
    first = history[0]
    assert (first.at, first.iccid, first.eid, first.operation, first.workflow_id, first.error_reason) == (
        T0, ICCID_1, EID_A, "DownloadProfile", "DownloadProfile-1", None)
    assert store.history("8949000000000000099") == []


def test_a_move_the_machine_refuses_is_kept_as_drift_and_read_back_as_drift(store):
    refused = ProfileStatus(Status.ENABLED).drift("delete")
    store.record(StatusChange.from_machine(refused, iccid=ICCID_1, operation="DeleteProfile", at=T0,
                                           workflow_id="DeleteProfile-1"))
    store.record(change(ICCID_1, minutes=1, to=Status.AVAILABLE, operation="DownloadProfile"))
    drifted, ordinary = store.history(ICCID_1)
    assert (drifted.from_status, drifted.to_status) == (Status.ENABLED, Status.DELETED)
    assert drifted.drift == "ProfileStatus: cannot delete from ENABLED (legal from ENABLED: disable, reset)"
    assert ordinary.drift is None
    assert [c.drift is not None for c in store.logs()] == [False, True]


def test_the_cli_shows_drift_in_the_profile_history_and_the_logs(tmp_path):
    path, luhn_iccid = tmp_path / "history.sqlite3", "8949000000000000000"
    with open_history(str(path)) as history:
        history.record(StatusChange.from_machine(ProfileStatus(Status.ENABLED).drift("delete"), iccid=luhn_iccid,
                                                 operation="DeleteProfile", at=T0, workflow_id="w"))
    runner = CliRunner()
    shown = runner.invoke(main, ["profile", "history", luhn_iccid, "--history", str(path)])
    assert shown.exit_code == 0 and "DELETED (drift)" in shown.output
    (logged,) = json.loads(runner.invoke(main, ["logs", "--json", "--history", str(path)]).output)["changes"]
    assert logged["drift"].startswith("ProfileStatus: cannot delete from ENABLED")


def _record(activities: EngineActivities, trigger: str, sequence: int, fallback: Status = Status.DISABLED) -> str:
    return activities.record_profile_status(RecordProfileStatusInput(
        iccid=ICCID_1, eid=EID_A, trigger=trigger, fallback=str(fallback), operation="DeleteProfile",
        workflow_id="DeleteProfile-7", at=T0.isoformat(), sequence=sequence))


def test_the_engine_records_a_move_its_history_does_not_allow_as_drift_not_from_the_fallback(store):
    activities = EngineActivities(registry=None, history=store)
    assert _record(activities, "enable", 0) == "ENABLED"  # first seen: starts where the card implies
    assert _record(activities, "delete", 1) == "DELETED"  # the history says ENABLED, the card deleted it
    first, drifted = store.history(ICCID_1)
    assert (first.from_status, first.to_status, first.drift) == (Status.DISABLED, Status.ENABLED, None)
    assert (drifted.from_status, drifted.to_status) == (Status.ENABLED, Status.DELETED)
    assert drifted.drift == "ProfileStatus: cannot delete from ENABLED (legal from ENABLED: disable, reset)"
    assert _record(activities, "delete", 1) == "DELETED" and len(store.history(ICCID_1)) == 2  # a retry


def test_a_retried_write_is_recorded_once(store):
    assert store.record(change()) is True
    assert store.record(change()) is False  # the same activity, retried
    assert store.record(change(sequence=1)) is True  # the same workflow changing it again
    assert store.record(change(workflow_id=None, idempotency_key="lab-import-42")) is True
    assert store.record(change(workflow_id=None, idempotency_key="lab-import-42")) is False
    assert len(store.history(ICCID_1)) == 3


def test_profiles_show_the_latest_status_by_time_filtered_by_status_and_eid(store):
    store.record(change(ICCID_1, Status.ENABLED, minutes=5))
    store.record(change(ICCID_1, Status.DOWNLOADED, minutes=1, sequence=1))  # a late write of an older change
    store.record(change(ICCID_2, Status.DISABLED, eid=EID_B, workflow_id="SwitchProfile-7", operation="SwitchProfile"))
    store.record(change(ICCID_2, Status.DELETED, minutes=9, eid=None, workflow_id="DeleteProfile-8",
                        operation="DeleteProfile"))
    latest = {p.iccid: p for p in store.profiles()}
    assert latest[ICCID_1].status == Status.ENABLED and latest[ICCID_1].at == T0 + timedelta(minutes=5)
    assert (latest[ICCID_2].status, latest[ICCID_2].eid, latest[ICCID_2].operation) == (
        Status.DELETED, EID_B, "DeleteProfile")  # the EID stays known when a later change omits it
    assert [p.iccid for p in store.profiles(status="ENABLED")] == [ICCID_1]
    assert [p.iccid for p in store.profiles(eid=EID_B)] == [ICCID_2]
    assert store.profiles(status=Status.DISABLED) == []
    with pytest.raises(BadInputError, match="not a profile status"):
        store.profiles(status="ACTIVE")


def test_logs_newest_first_and_errors_only(store):
    store.record(change(minutes=0))
    store.record(change(to=Status.AVAILABLE, minutes=1, from_status=Status.DOWNLOADED, operation="DownloadProfile",
                        error_reason="es10.loadBoundProfilePackage.insufficientMemory"))
    store.record(change(ICCID_2, minutes=2))
    logs = store.logs()
    assert [(c.iccid, c.at.minute) for c in logs] == [(ICCID_2, 2), (ICCID_1, 1), (ICCID_1, 0)]
    assert [c.error_reason for c in store.logs(errors_only=True)] == ["es10.loadBoundProfilePackage.insufficientMemory"]
    assert len(store.logs(limit=1)) == 1
    with pytest.raises(BadInputError):
        store.logs(limit=0)


def test_times_are_kept_in_utc_with_microseconds(store):
    local = datetime(2026, 11, 21, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    store.record(StatusChange(iccid=ICCID_1, to_status="ENABLED", operation="SwitchProfile", at=local,
                              workflow_id="SwitchProfile-1"))
    (stored,) = store.history(ICCID_1)
    assert stored.at == local and stored.at.tzinfo == UTC and stored.at.microsecond == 123456


@pytest.mark.parametrize("fields,message", [
    ({"iccid": "89-49"}, "ICCID must be 18 to 20 digits"),
    ({"eid": "123"}, "EID must be 32 digits"),
    ({"to_status": "ACTIVE"}, "to_status 'ACTIVE' is not a profile status"),
    ({"from_status": "GONE"}, "from_status 'GONE' is not a profile status"),
    ({"at": datetime(2026, 1, 1)}, "time zone"),
    ({"workflow_id": None}, "workflow id or an idempotency key"),
    ({"operation": ""}, "needs the operation"),
])
def test_bad_changes_are_refused_with_a_clear_error(fields, message):
    base = {"iccid": ICCID_1, "to_status": Status.ENABLED, "operation": "SwitchProfile", "at": T0,
            "workflow_id": "SwitchProfile-1"}
    with pytest.raises(BadInputError, match=message):
        StatusChange(**{**base, **fields})


def _write_from_process(location: str, worker: int, count: int) -> None:
    store = open_history(location)
    for i in range(count):
        for _ in range(2):  # every write retried once
            store.record(change(f"89490000000{worker:02d}{i:06d}", workflow_id=f"proc-{worker}", minutes=i))
    store.close()


def test_concurrent_threads_and_processes_lose_nothing_and_duplicate_nothing(database_location):
    open_history(database_location).close()
    count = 100
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_write_from_process, args=(database_location, worker, count))
                 for worker in (1, 2)]
    for process in processes:
        process.start()
    store = open_history(database_location)
    errors = []

    def write_from_thread(worker: int) -> None:
        try:
            for i in range(count):
                for _ in range(2):
                    store.record(change(f"89490000000{worker:02d}{i:06d}", workflow_id=f"thread-{worker}", minutes=i))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write_from_thread, args=(worker,)) for worker in (3, 4, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        process.join(timeout=120)
    assert errors == [] and [p.exitcode for p in processes] == [0, 0]
    assert len(store.logs(limit=10_000)) == 5 * count
    assert len(store.profiles()) == 5 * count
    if store.path is not None:
        with sqlite3.connect(store.path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_open_history_by_location(tmp_path):
    with open_history(tmp_path / "a.sqlite3") as store:
        assert store.path == tmp_path / "a.sqlite3"
    with open_history(f"sqlite://{tmp_path}/b.sqlite3") as store:
        assert store.path == tmp_path / "b.sqlite3"
    with open_history(env={"ESIMFLOW_HISTORY": str(tmp_path / "c.sqlite3")}) as store:
        assert store.path == tmp_path / "c.sqlite3"
    with open_history(env={"XDG_STATE_HOME": str(tmp_path / "state")}) as store:
        assert store.path == tmp_path / "state" / "esimflow" / "history.sqlite3"
    with pytest.raises(NotSupportedError, match="unsupported database location scheme: mysql://"):
        open_history("mysql://db.example/esim")


def test_postgresql_is_selected_by_the_environment(postgres_server):
    location = postgres_server.fresh_database()
    with open_history(env={"ESIMFLOW_HISTORY": location}) as store:
        assert store.path is None
        store.record(change())
    with open_history(location) as again:  # another process (or host) reads what was written
        assert [c.idempotency_key for c in again.history(ICCID_1)] == ["DownloadProfile-1/8949000000000000001/DOWNLOADED/0"]


def test_an_unusable_file_is_a_typed_error(tmp_path):
    not_a_database = tmp_path / "history.sqlite3"
    not_a_database.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryUnavailableError, match="cannot open the database"):
        open_history(not_a_database)


def test_an_unreachable_server_is_a_typed_error_without_the_password(monkeypatch):
    from tests.postgres_server import free_port

    monkeypatch.setattr(database, "CONNECT_TIMEOUT_SECONDS", 1.0)
    with pytest.raises(HistoryUnavailableError, match="cannot connect to the database") as refused:
        open_history(f"postgresql://esim:s3cret-pw@127.0.0.1:{free_port()}/history")
    assert "s3cret-pw" not in refused.value.message and "esim:***@127.0.0.1" in refused.value.message
    assert refused.value.retryable


def test_logs_filter_by_time_range_card_profile_status_and_operation(store):
    store.record(change(ICCID_1, minutes=0))
    store.record(change(ICCID_1, Status.ENABLED, minutes=10, sequence=1, operation="SwitchProfile"))
    store.record(change(ICCID_2, Status.AVAILABLE, minutes=20, eid=EID_B, workflow_id="DownloadProfile-2",
                        error_reason="es9.8.2.6/3.8"))
    store.record(change(ICCID_2, Status.AVAILABLE, minutes=40, eid=EID_B, workflow_id="DownloadProfile-3",
                        error_reason="es9.8.2.6/3.8"))
    window = {"since": T0 + timedelta(minutes=10), "until": T0 + timedelta(minutes=40)}
    assert [c.at.minute for c in store.logs(**window)] == [20, 10]  # since included, until excluded
    assert [c.at.minute for c in store.logs(errors_only=True, **window)] == [20]
    assert [c.iccid for c in store.logs(eid=EID_B)] == [ICCID_2, ICCID_2]
    assert [c.at.minute for c in store.logs(iccid=ICCID_1, status="ENABLED")] == [10]
    assert [c.operation for c in store.logs(operation="SwitchProfile")] == ["SwitchProfile"]
    assert [c.at.minute for c in store.logs(limit=2, offset=1)] == [20, 10]  # the second page of one
    assert store.operations() == ["DownloadProfile", "SwitchProfile"]
    with pytest.raises(BadInputError, match="not a profile status"):
        store.logs(status="GONE")


def test_profiles_page_by_iccid(store):
    iccids = [f"89490000000000001{n:02d}" for n in range(5)]
    for n, iccid in enumerate(iccids):
        store.record(change(iccid, Status.ENABLED if n % 2 else Status.DISABLED, workflow_id=f"w{n}"))
    first = store.profiles(limit=2)
    rest = store.profiles(after=first[-1].iccid, limit=10)
    assert [p.iccid for p in first + rest] == iccids
    assert [p.iccid for p in store.profiles(status=Status.ENABLED, limit=1)] == [iccids[1]]


def test_a_history_written_before_schema_versions_opens_and_is_migrated(tmp_path):
    """A SQLite history of an earlier esimflow (schema 1, no version table) keeps its records,
    and the latest status it knew is found by status."""
    path = tmp_path / "history.sqlite3"
    with sqlite3.connect(path) as old:
        for statement in filter(str.strip, HISTORY_V1.split(";")):
            old.execute(statement)
        old.execute("INSERT INTO status_change (idempotency_key, at, iccid, eid, to_status, operation, workflow_id,"
                    " sequence) VALUES ('w/1', '2026-11-21T12:00:00.000000Z', ?, ?, 'ENABLED', 'SwitchProfile',"
                    " 'w', 0)", (ICCID_1, EID_A))
        old.execute("INSERT INTO profile_latest (iccid, eid, at, change_id) VALUES (?, ?,"
                    " '2026-11-21T12:00:00.000000Z', 1)", (ICCID_1, EID_A))
        old.execute("PRAGMA user_version = 1")
    with open_history(path) as store:
        assert [(p.iccid, p.status) for p in store.profiles(status="ENABLED")] == [(ICCID_1, Status.ENABLED)]
        assert store.record(change(ICCID_2))
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM esimflow_schema WHERE component = 'history'").fetchone() == (3,)


def test_a_database_of_a_newer_esimflow_is_refused(database_location):
    open_history(database_location).close()
    store = open_history(database_location)
    with store.db.transaction("pretend to be newer") as tx:
        tx.execute("UPDATE esimflow_schema SET version = 99 WHERE component = 'history'")
    store.close()
    with pytest.raises(HistoryUnavailableError, match="version 99, newer than this esimflow") as refused:
        open_history(database_location)
    assert not refused.value.retryable


HISTORY_V1 = """
CREATE TABLE status_change (id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL, iccid TEXT NOT NULL, eid TEXT, from_status TEXT, to_status TEXT NOT NULL,
    operation TEXT NOT NULL, workflow_id TEXT, error_reason TEXT, sequence INTEGER NOT NULL);
CREATE INDEX status_change_by_iccid ON status_change (iccid, at, id);
CREATE INDEX status_change_by_time ON status_change (at, id);
CREATE INDEX status_change_errors ON status_change (at, id) WHERE error_reason IS NOT NULL;
CREATE TABLE profile_latest (iccid TEXT PRIMARY KEY, eid TEXT, at TEXT NOT NULL,
    change_id INTEGER NOT NULL REFERENCES status_change (id));
CREATE INDEX profile_latest_by_eid ON profile_latest (eid)
"""
