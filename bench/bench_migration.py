"""Bulk migration throughput (issue 5, item 7; targets on 2 cores: >= 5 devices/s, worker RSS
<= 400 MB).

Migrates ``--devices`` in-process virtual eUICCs (1,000 by default) from their factory profile to
a target profile from the lab SM-DP+ (download, switch, verify, delete the old profile), through
the real engine on the local Temporal dev server, and prints:

- devices per second (whole run, and the steady rate once the concurrency is reached);
- peak RSS of the worker process (engine workers, migration worker and the virtual eUICCs they
  serve: a separate process, so the benchmark's own client and the SM-DP+ do not count);
- Temporal history events per device, split by workflow type;
- in the same run and on the same server, the rate of no-op activities (a workflow running
  them back to back, many workflows at once, same worker settings): Temporal's own cost, so the
  engine's overhead on top of it is visible.

    .venv/bin/python bench/bench_migration.py [--devices 1000] [--concurrency 60] [--noop 3000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio import activity, workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.service import RPCError  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

from esimflow import search_attributes  # noqa: E402
from esimflow.contract import card_task_queue  # noqa: E402
from esimflow.codec import data_converter  # noqa: E402
from esimflow.migration.client import MigrationControl, start_migration  # noqa: E402
from esimflow.migration.model import MigrationPolicy  # noqa: E402
from esimflow.migration.report import report  # noqa: E402
from esimflow.workers.devstack import start_dev_server  # noqa: E402
from tests.conftest import TEST_PAYLOAD_KEY  # noqa: E402

ENGINE_QUEUE = "bench-engine"
MIGRATION_QUEUE = "bench-migration"
NOOP_QUEUE = "bench-noop"


# --- the worker process ------------------------------------------------------------------------

def worker_main(arguments: dict) -> None:
    """Serve every card of the fleet: engine workers, migration worker, in-process eUICCs."""
    from tests.migration.fleet_lab import FleetLab, fleet_workers, open_lab_store, serve_cards

    if os.environ.get("BENCH_STACKS"):
        import faulthandler

        faulthandler.dump_traceback_later(float(os.environ["BENCH_STACKS"]), repeat=True)

    async def serve() -> None:
        client = await Client.connect(arguments["address"], data_converter=data_converter(TEST_PAYLOAD_KEY))
        lab = FleetLab.attach(Path(arguments["root"]), arguments["devices"], arguments["ca_file"],
                              arguments["overrides"])
        serve_cards(lab)
        store = open_lab_store(lab)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with fleet_workers(client, lab, store, engine_queue=ENGINE_QUEUE, migration_queue=MIGRATION_QUEUE,
                                 card_threads=arguments["card_threads"]):
            print("ready", flush=True)
            await stop.wait()

    asyncio.run(serve())


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- no-op activities ----------------------------------------------------------------------------

@activity.defn(name="bench_noop")
async def noop() -> None:
    return None


@workflow.defn(name="BenchNoops")
class Noops:
    @workflow.run
    async def run(self, count: int) -> None:
        for _ in range(count):
            await workflow.execute_activity("bench_noop", start_to_close_timeout=timedelta(seconds=30))


async def noop_rate(client: Client, total: int, workflows: int = 60) -> float:
    per_workflow = max(1, total // workflows)
    # unsandboxed: this module is the benchmark's __main__, and a no-op needs no isolation
    async with Worker(client, task_queue=NOOP_QUEUE, workflows=[Noops], activities=[noop],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        started = time.monotonic()
        await asyncio.gather(*[
            client.execute_workflow("BenchNoops", per_workflow, id=f"noop-{uuid.uuid4().hex[:8]}",
                                    task_queue=NOOP_QUEUE) for _ in range(workflows)])
        elapsed = time.monotonic() - started
    return per_workflow * workflows / elapsed


# --- history size -------------------------------------------------------------------------------

async def events_by_type(client: Client, queues: tuple[str, ...]) -> dict[str, int]:
    """Events in every workflow (all runs) the migration caused, by workflow type."""
    totals: dict[str, int] = defaultdict(int)
    query = " OR ".join(f"TaskQueue = '{queue}'" for queue in queues)
    async for execution in client.list_workflows(query):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        totals[execution.workflow_type] += len(history.events)
    return dict(totals)


# --- main ---------------------------------------------------------------------------------------

async def bench(args: argparse.Namespace) -> None:
    from tests.migration.fleet_lab import CARD_HOST, build_fleet_lab, open_lab_store
    from tests.migration.migration_helpers import write_csv

    root = Path(tempfile.mkdtemp(prefix="bench-migration-"))
    server = start_dev_server(ui=False, search_attributes=search_attributes.SEARCH_ATTRIBUTES)
    worker = None
    try:
        client = await Client.connect(server.address, data_converter=data_converter(TEST_PAYLOAD_KEY))
        noops = await noop_rate(client, args.noop)
        print(f"no-op activities: {noops:.0f}/s ({args.noop} activities, 60 workflows at once)")

        built = time.monotonic()
        lab = build_fleet_lab(root, args.devices, with_cards=False)
        print(f"fleet of {args.devices} built in {time.monotonic() - built:.1f} s")
        fleet = write_csv(root / "fleet.csv", lab.fleet_rows())
        worker = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps({
                "address": server.address, "root": str(root), "devices": args.devices,
                "ca_file": str(lab.smdp.ca_file), "overrides": lab.smdp.connect_overrides,
                "card_threads": args.card_threads})],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert worker.stdout.readline().startswith("ready"), "the worker process did not start"
        # keep draining its stdout (the SDK core logs there): a full pipe would stall the worker
        threading.Thread(target=lambda: [None for _ in worker.stdout], daemon=True).start()

        policy = MigrationPolicy(max_concurrency=args.concurrency, max_starts_per_second=args.rate,
                                 delete_old=True, failure_threshold=1.0)
        started_at = time.monotonic()
        started = await start_migration(client, fleet, policy, migration_id=f"bench-{uuid.uuid4().hex[:8]}",
                                        task_queue=MIGRATION_QUEUE, engine_task_queue=ENGINE_QUEUE)
        control = MigrationControl(client, started.migration_id)
        steady_from = None
        status = None
        while True:
            try:
                status = await asyncio.wait_for(control.status(), 30)
            except (asyncio.TimeoutError, RPCError) as error:  # a worker too busy to answer is a result too
                print(f"  status query not answered: {error}", flush=True)
                await asyncio.sleep(5)
                continue
            now = time.monotonic()
            if steady_from is None and status.finished >= args.concurrency:
                steady_from = (now, status.finished)
            print(f"  {now - started_at:6.1f} s  {status.finished:5d}/{status.total} finished, "
                  f"{status.in_flight:3d} in flight, {status.rate_per_second:.2f}/s, "
                  f"worker RSS peak {peak_rss_mb(worker.pid):.0f} MB", flush=True)
            if status.is_final:
                break
            await asyncio.sleep(5)
        elapsed = time.monotonic() - started_at
        rss = peak_rss_mb(worker.pid)
        counts = status.counts
        steady = ((status.finished - steady_from[1]) / (time.monotonic() - steady_from[0])
                  if steady_from else float("nan"))
        # the engine runs each operation on the queue of the host holding the card
        events = await events_by_type(client, (ENGINE_QUEUE, MIGRATION_QUEUE, card_task_queue(CARD_HOST)))
        total_events = sum(events.values())

        print()
        print(f"devices:                 {args.devices} ({counts})")
        print(f"wall time:               {elapsed:.1f} s")
        print(f"devices per second:      {args.devices / elapsed:.2f} (steady {steady:.2f})")
        print(f"peak worker RSS:         {rss:.0f} MB")
        print(f"history events/device:   {total_events / args.devices:.1f}  "
              + ", ".join(f"{name} {count / args.devices:.1f}" for name, count in sorted(events.items())))
        print(f"no-op activities/s:      {noops:.0f}")
        not_migrated = Counter(device["reason"][:90] for device in report(open_lab_store(lab), started.migration_id)["devices"]
                               if device["outcome"] != "migrated")
        for reason, count in not_migrated.most_common(5):
            print(f"  not migrated ({count}): {reason}")
        lab.close()
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=60)
    parser.add_argument("--rate", type=float, default=50.0, help="max device starts per second")
    parser.add_argument("--card-threads", type=int, default=16)
    parser.add_argument("--noop", type=int, default=3000, help="no-op activities to time")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(json.loads(args.worker))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
