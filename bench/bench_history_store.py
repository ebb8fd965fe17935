"""The profile status history on PostgreSQL and on SQLite (issue 13, item 6): what one status
change costs in writes per second and in bytes on disk (table and indexes), for sizing a
deployment (docs/deploy.md). Each "device" records the changes a migrated device records (the
target profile downloaded, installed, enabled; the old one disabled and deleted), each written
twice (a retried activity), from ``--threads`` writer threads of one process.

PostgreSQL is a server of Debian's ``postgresql`` package started in a temporary directory
(as ``nobody`` when run as root), like the tests' server but with its durable defaults (fsync
on, synchronous commit).

    .venv/bin/python bench/bench_history_store.py [--devices 20000] [--threads 8]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from esimflow.history import StatusChange, open_history  # noqa: E402
from esimflow.machines import Status  # noqa: E402
from sgp22.identifiers import Iccid  # noqa: E402
from tests.postgres_server import remove, start_server  # noqa: E402

T0 = datetime(2026, 12, 1, tzinfo=UTC)
MIGRATED = [("target", Status.AVAILABLE, Status.DOWNLOADED), ("target", Status.DOWNLOADED, Status.INSTALLED),
            ("old", Status.ENABLED, Status.DISABLED), ("target", Status.INSTALLED, Status.ENABLED),
            ("old", Status.DISABLED, Status.DELETED)]


def changes_of(device: int) -> list[StatusChange]:
    eid = f"89049032{device:024d}"
    iccids = {"old": str(Iccid.with_check_digit(f"8944001{device:011d}")),
              "target": str(Iccid.with_check_digit(f"8944002{device:011d}"))}
    return [StatusChange(iccid=iccids[which], from_status=before, to_status=after, eid=eid,
                         operation="Migration", workflow_id=f"bench-device-{device}", sequence=step,
                         at=T0 + timedelta(seconds=device, milliseconds=step))
            for step, (which, before, after) in enumerate(MIGRATED)]


def write(location: str, devices: int, threads: int) -> float:
    store = open_history(location)

    def one(device: int) -> None:
        for change in changes_of(device):
            store.record(change)
            store.record(change)  # retried: recorded once

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(devices)))
    elapsed = time.monotonic() - started
    store.close()
    return elapsed


def postgres_sizes(location: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(location) as db:
        return {table: db.execute("SELECT pg_table_size(%s), pg_indexes_size(%s), (SELECT count(*) FROM "
                                  + table + ")", (table, table)).fetchone()
                for table in ("status_change", "profile_latest")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    changes = args.devices * len(MIGRATED)
    server = start_server(durable=True)
    try:
        location = server.fresh_database()
        elapsed = write(location, args.devices, args.threads)
        print(f"PostgreSQL: {changes} changes ({2 * changes} writes, half of them retries) in {elapsed:.1f} s: "
              f"{changes / elapsed:.0f} changes/s, {args.threads} threads")
        for table, (data, indexes, rows) in postgres_sizes(location).items():
            print(f"  {table:15s} {rows:8d} rows  table {data / rows:5.0f} B/row  indexes {indexes / rows:5.0f} B/row")
        with open_history(location) as store:
            probe = changes_of(args.devices // 2)[0]
            started = time.monotonic()
            for _ in range(200):
                store.history(probe.iccid)
            by_iccid = (time.monotonic() - started) / 200
            started = time.monotonic()
            for _ in range(50):
                store.logs(errors_only=False, limit=50, since=T0 + timedelta(seconds=args.devices // 3))
            recent = (time.monotonic() - started) / 50
            started = time.monotonic()
            page = store.profiles(status=Status.ENABLED, limit=1000)
            by_status = time.monotonic() - started
        print(f"  reads: one profile's history {by_iccid * 1000:.2f} ms, 50 changes in a time range "
              f"{recent * 1000:.2f} ms, a page of {len(page)} ENABLED profiles {by_status * 1000:.1f} ms")
    finally:
        remove(server)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "history.sqlite3"
        elapsed = write(str(path), args.devices, args.threads)
        size = sum(p.stat().st_size for p in Path(directory).iterdir())
        print(f"SQLite:     {changes} changes in {elapsed:.1f} s: {changes / elapsed:.0f} changes/s; "
              f"{size / changes:.0f} B per change on disk (file and WAL)")


if __name__ == "__main__":
    main()
