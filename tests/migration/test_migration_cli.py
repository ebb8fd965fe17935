"""``esimflow migrate``, ``esimflow profile`` and ``esimflow logs`` as a user runs them: the
migrate verbs as a separate process against the dev server (the engine stand-in serving the
migration), the history verbs against a history file."""
from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from esimcli.main import main
from esimcli.migrate_output import progress_line
from esimflow.history import StatusChange, open_history
from esimflow.migration.model import MigrationStatus

from tests.conftest import TEST_PAYLOAD_KEY
from tests.migration.fake_engine import FakeEngine, fake_migration_worker
from tests.migration.migration_helpers import eid, iccid, write_csv
from tests.migration.test_migration_control import simple_fleet

ESIMFLOW = str(Path(sys.executable).parent / "esimflow")


class Cli:
    def __init__(self, address: str, store: Path, task_queue: str) -> None:
        self.env = {**os.environ, "TEMPORAL_ADDRESS": address, "ESIMFLOW_CODEC_KEY": TEST_PAYLOAD_KEY.hex(),
                    "ESIMFLOW_MIGRATIONS": str(store)}
        self.task_queue = task_queue

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(ESIMFLOW, *args, env=self.env, stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 120)
        return process.returncode, out.decode(), err.decode()

    async def json(self, *args: str) -> tuple[int, dict]:
        code, out, _ = await self(*args, "--json")
        return code, json.loads(out)


@pytest.mark.temporal
async def test_migrate_verbs_from_start_to_report(client, temporal_dev_server, tmp_path):
    engine = FakeEngine()
    task_queue = f"cli-{uuid.uuid4().hex[:8]}"
    cli = Cli(temporal_dev_server.address, tmp_path / "migrations.sqlite3", task_queue)
    rows = simple_fleet(engine, 6)

    bad = write_csv(tmp_path / "bad.csv", [*rows[:2], {**rows[2], "current_iccid": "8944"}])
    code, document = await cli.json("migrate", "start", str(bad), "--task-queue", task_queue)
    assert code == 2 and not document["ok"] and document["migration_id"] is None
    assert document["line_errors"] == [{"line": 4, "column": "current_iccid",
                                        "message": document["line_errors"][0]["message"]}]
    code, _, err = await cli("migrate", "start", str(bad), "--task-queue", task_queue)
    assert code == 2 and "line 4: current_iccid:" in err and "MIG-SECRET" not in err

    fleet = write_csv(tmp_path / "fleet.csv", rows)
    migration_id = f"cli-{uuid.uuid4().hex[:8]}"
    async with fake_migration_worker(client, tmp_path, engine, task_queue=task_queue):
        code, started = await cli.json("migrate", "start", str(fleet), "--id", migration_id, "--canary", "2",
                                       "--rate", "100", "--task-queue", task_queue, "--delete-old")
        assert code == 0 and started["ok"] and started["migration_id"] == migration_id
        assert started["devices"] == 6 and started["search_attributes"] is True

        deadline = time.monotonic() + 60
        while True:
            code, current = await cli.json("migrate", "status", migration_id)
            assert code == 0
            if current["status"]["state"] == "awaiting_approval":
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        assert current["status"]["counts"]["migrated"] == 2
        code, out, _ = await cli("migrate", "status", migration_id)
        assert "waiting for approval: esimflow migrate approve" in out

        code, refused = await cli.json("migrate", "resume", migration_id)
        assert code == 1 and refused["error"]["kind"] == "migration.refused"
        assert "not paused" in refused["error"]["message"]
        code, concurrency = await cli.json("migrate", "concurrency", migration_id, "2")
        assert code == 0 and concurrency["status"]["concurrency"] == 2
        code, approved = await cli.json("migrate", "approve", migration_id)
        assert code == 0

        code, out, err = await cli("migrate", "status", migration_id, "--watch")
        assert code == 0 and "state: completed" in out
        assert "[" + "#" * 30 + "] 6/6 100%" in err  # the progress bar reached the end

        report_file = tmp_path / "report.csv"
        code, out, _ = await cli("migrate", "report", migration_id, "--out", str(report_file))
        assert code == 0 and "6 devices written" in out
        rows_written = list(csv.DictReader(report_file.open()))
        assert [r["outcome"] for r in rows_written] == ["migrated"] * 6
        assert "MIG-SECRET" not in report_file.read_text()

    code, missing = await cli.json("migrate", "status", "no-such-migration")
    assert code == 2 and missing["error"]["kind"] == "migration.unknown"


def test_the_progress_line_shows_counts_rate_and_eta():
    status = MigrationStatus(migration_id="m", state="running", total=200,
                             counts={"migrated": 90, "rolled_back": 6, "failed": 2, "skipped": 2, "already_done": 0},
                             in_flight=10, rate_per_second=4.2, eta_seconds=95)
    line = progress_line(status)
    assert line.startswith("[" + "#" * 15 + "." * 15 + "] 100/200 50%")
    assert "migrated 90 rolled_back 6 failed 2 skipped 2 | in flight 10 | 4.2/s | ETA 1m35s | running" in line


@pytest.fixture
def history_file(tmp_path):
    path = tmp_path / "history.sqlite3"
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    store = open_history(path)
    changes = [
        (iccid(1, 2), eid(1), None, "DOWNLOADED", "DownloadProfile", None),
        (iccid(1, 2), eid(1), "DOWNLOADED", "INSTALLED", "DownloadProfile", None),
        (iccid(1), eid(1), "ENABLED", "DISABLED", "SwitchProfile", None),
        (iccid(1, 2), eid(1), "INSTALLED", "ENABLED", "SwitchProfile", None),
        (iccid(2, 2), eid(2), "DOWNLOADED", "AVAILABLE", "DownloadProfile", "installFailedDueToInsufficientMemory"),
    ]
    for minute, (profile, device, before, after, operation, error) in enumerate(changes):
        store.record(StatusChange(iccid=profile, eid=device, from_status=before, to_status=after, operation=operation,
                                  at=start + timedelta(minutes=minute), workflow_id=f"wf-{minute}",
                                  error_reason=error))
    store.close()
    return path


def test_profile_history_list_and_logs(history_file):
    runner = CliRunner()
    shown = runner.invoke(main, ["profile", "history", iccid(1, 2), "--history", str(history_file)])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].split() == ["TIME", "(UTC)", "FROM", "TO", "OPERATION", "EID", "WORKFLOW", "ERROR"]
    assert [line.split()[2:5] for line in lines[1:]] == [
        ["-", "DOWNLOADED", "DownloadProfile"], ["DOWNLOADED", "INSTALLED", "DownloadProfile"],
        ["INSTALLED", "ENABLED", "SwitchProfile"]]

    listed = runner.invoke(main, ["profile", "list", "--status", "enabled", "--json", "--history", str(history_file)])
    assert listed.exit_code == 0
    assert [p["iccid"] for p in json.loads(listed.output)["profiles"]] == [iccid(1, 2)]
    on_device = runner.invoke(main, ["profile", "list", "--eid", eid(1), "--history", str(history_file)])
    assert sorted(line.split()[:2] for line in on_device.output.splitlines()[1:]) == sorted(
        [[iccid(1), "DISABLED"], [iccid(1, 2), "ENABLED"]])

    errors = runner.invoke(main, ["logs", "--errors", "--json", "--history", str(history_file)])
    assert errors.exit_code == 0
    (only,) = json.loads(errors.output)["changes"]
    assert (only["iccid"], only["to"], only["error_reason"]) == (iccid(2, 2), "AVAILABLE",
                                                                 "installFailedDueToInsufficientMemory")
    recent = runner.invoke(main, ["logs", "--limit", "2", "--history", str(history_file)])
    assert [line.split()[2] for line in recent.output.splitlines()[1:]] == [iccid(2, 2), iccid(1, 2)]


def test_history_verbs_say_what_is_wrong(tmp_path, history_file):
    runner = CliRunner()
    missing = runner.invoke(main, ["logs", "--json", "--history", str(tmp_path / "none.sqlite3")])
    assert missing.exit_code == 2 and "no profile status history" in json.loads(missing.output)["error"]["message"]
    bad = runner.invoke(main, ["profile", "history", "1234", "--history", str(history_file)])
    assert bad.exit_code == 2
    unknown = runner.invoke(main, ["profile", "history", iccid(7), "--history", str(history_file)])
    assert unknown.exit_code == 0 and "no status change recorded" in unknown.output
