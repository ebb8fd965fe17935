"""Bulk migration throughput (issue 5, item 7; targets on 2 cores: >= 5 devices/s, worker RSS
<= 400 MB).

Migrates ``--devices`` in-process virtual eUICCs (1,000 by default) from their factory profile to
a target profile from the lab SM-DP+ (download, switch, verify, delete the old profile), through
the real engine on the local Temporal dev server, and prints:

- devices per second (whole run, and the steady rate once the concurrency is reached);
- peak RSS of the worker process (engine workers, the card host's workers and the migration
  worker: what the target is about), and apart from it the card lab's (the virtual eUICCs,
  about 90 KB each, in a process of their own reached over a Unix socket as a card host reaches
  its readers; the benchmark's own client and the SM-DP+ do not count either);
- the worker's RSS against the devices migrated (its slope, to project larger fleets);
- CPU seconds per device of the worker process and of the dev server (less sensitive than
  the wall time to other processes sharing the cores);
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
from esimflow.workers.run import WorkerOptions  # noqa: E402
from tests.conftest import TEST_PAYLOAD_KEY  # noqa: E402
from process_stats import cpu_seconds, peak_rss_mb  # noqa: E402 - bench/, the script's own directory

ENGINE_QUEUE = "bench-engine"
MIGRATION_QUEUE = "bench-migration"
NOOP_QUEUE = "bench-noop"


# --- the worker process ------------------------------------------------------------------------

def worker_main(arguments: dict) -> None:
    """The engine workers, the card host serving every card of the fleet (the cards in the card
    lab's process) and the migration worker."""
    from tests.migration.card_lab import remote_cards
    from tests.migration.fleet_lab import FleetLab, fleet_workers, open_lab_store

    if os.environ.get("BENCH_STACKS"):
        import faulthandler

        faulthandler.dump_traceback_later(float(os.environ["BENCH_STACKS"]), repeat=True)
    if os.environ.get("BENCH_TRACEMALLOC"):  # where the worker's memory goes, every minute
        threading.Thread(target=trace_allocations, args=(Path(os.environ["BENCH_TRACEMALLOC"]),), daemon=True).start()

    async def serve() -> None:
        client = await Client.connect(arguments["address"], data_converter=data_converter(TEST_PAYLOAD_KEY))
        lab = FleetLab.attach(Path(arguments["root"]), arguments["devices"], arguments["ca_file"],
                              arguments["overrides"])
        cards = remote_cards(Path(arguments["card_socket"]), [device.eid for device in lab.devices])
        store = open_lab_store(lab)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with fleet_workers(client, lab, store, engine_queue=ENGINE_QUEUE, migration_queue=MIGRATION_QUEUE,
                                 card_threads=arguments["card_threads"], cards=cards,
                                 max_cached_workflows=arguments["max_cached"]):
            print("ready", flush=True)
            await stop.wait()

    asyncio.run(serve())


def trace_allocations(path: Path, every: float = 60.0) -> None:
    """Append the worker's 25 largest allocation sites (by file), and how each grew since the
    previous minute, to ``path`` (BENCH_TRACEMALLOC=path; slows the worker down)."""
    import tracemalloc

    tracemalloc.start()
    previous = None
    while True:
        time.sleep(every)
        snapshot = tracemalloc.take_snapshot()
        stats = snapshot.compare_to(previous, "filename") if previous else snapshot.statistics("filename")
        with path.open("a") as out:
            print(f"--- {time.strftime('%H:%M:%S')} traced {tracemalloc.get_traced_memory()[0] / 2**20:.0f} MB, "
                  f"RSS {peak_rss_mb(os.getpid(), 'VmRSS'):.0f} MB", file=out)
            for stat in stats[:25]:
                print(f"  {stat}", file=out)
        previous = snapshot


def rss_slope(samples: list[tuple[int, float]]) -> float:
    """MB per 1,000 devices migrated: the least-squares slope of (finished, RSS) from the
    first quarter of the run on (the start-up and the cache filling up left out)."""
    if len(samples) < 4:
        return float("nan")
    kept = [sample for sample in samples if sample[0] >= samples[-1][0] / 4] or samples
    mean_x = sum(x for x, _ in kept) / len(kept)
    mean_y = sum(y for _, y in kept) / len(kept)
    spread = sum((x - mean_x) ** 2 for x, _ in kept)
    return 1000 * sum((x - mean_x) * (y - mean_y) for x, y in kept) / spread if spread else float("nan")


def start_process(arguments: list[str]) -> subprocess.Popen:
    """A helper process of the benchmark, once it printed ``ready``; its stdout is drained
    from then on (the SDK core logs there): a full pipe would stall it."""
    process = subprocess.Popen([sys.executable, *arguments], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout.readline().startswith("ready"), f"{arguments[:2]} did not start"
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    return process


def stop_process(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


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

def worker_arguments(address: str, root: Path, lab, card_socket: Path, args: argparse.Namespace) -> dict:
    """What the worker process needs to attach to the fleet lab built in this one (see worker_main)."""
    return {"address": address, "root": str(root), "devices": args.devices,
            "ca_file": str(lab.smdp.ca_file), "overrides": lab.smdp.connect_overrides,
            "card_threads": args.card_threads, "card_socket": str(card_socket),
            "max_cached": args.max_cached_workflows}


async def follow(control: MigrationControl, args: argparse.Namespace, worker: subprocess.Popen,
                 card_lab: subprocess.Popen, started_at: float):
    """Poll the migration's status every 5 s until it is final, printing progress; returns the
    final status, the (finished, worker RSS) samples and when (and at how many finished) the
    concurrency was first reached."""
    samples: list[tuple[int, float]] = []
    steady_from = None
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
        samples.append((status.finished, peak_rss_mb(worker.pid, "VmRSS")))
        print(f"  {now - started_at:6.1f} s  {status.finished:5d}/{status.total} finished, "
              f"{status.in_flight:3d} in flight, {status.rate_per_second:.2f}/s, "
              f"worker RSS {samples[-1][1]:.0f} MB (peak {peak_rss_mb(worker.pid):.0f}), "
              f"card lab {peak_rss_mb(card_lab.pid, 'VmRSS'):.0f} MB", flush=True)
        if status.is_final:
            return status, samples, steady_from
        await asyncio.sleep(5)


def print_results(args: argparse.Namespace, status, figures: dict, events: dict[str, int], noops: float,
                  not_migrated: Counter) -> None:
    """The summary the targets are judged on (``figures``: what was measured once the migration ended)."""
    total_events = sum(events.values())
    print()
    print(f"devices:                 {args.devices} ({status.counts})")
    print(f"wall time:               {figures['elapsed']:.1f} s")
    print(f"devices per second:      {args.devices / figures['elapsed']:.2f} (steady {figures['steady']:.2f})")
    print(f"peak worker RSS:         {figures['rss']:.0f} MB "
          f"(slope {rss_slope(figures['samples']):.1f} MB per 1,000 devices migrated)")
    print(f"peak card lab RSS:       {figures['lab_rss']:.0f} MB ({args.devices} virtual eUICCs, not the engine)")
    print(f"CPU per device:          worker {figures['worker_cpu'] / args.devices * 1000:.0f} ms, "
          f"dev server {figures['server_cpu'] / args.devices * 1000:.0f} ms")
    print(f"history events/device:   {total_events / args.devices:.1f}  "
          + ", ".join(f"{name} {count / args.devices:.1f}" for name, count in sorted(events.items())))
    print(f"no-op activities/s:      {noops:.0f}")
    for reason, count in not_migrated.most_common(5):
        print(f"  not migrated ({count}): {reason}")


async def bench(args: argparse.Namespace) -> None:
    from tests.migration.fleet_lab import CARD_HOST, build_fleet_lab, open_lab_store
    from tests.migration.migration_helpers import write_csv

    root = Path(tempfile.mkdtemp(prefix="bench-migration-"))
    server = start_dev_server(ui=False, search_attributes=search_attributes.SEARCH_ATTRIBUTES)
    worker = card_lab = None
    try:
        client = await Client.connect(server.address, data_converter=data_converter(TEST_PAYLOAD_KEY))
        noops = await noop_rate(client, args.noop)
        print(f"no-op activities: {noops:.0f}/s ({args.noop} activities, 60 workflows at once)")

        built = time.monotonic()
        lab = build_fleet_lab(root, args.devices, with_cards=False)
        print(f"fleet of {args.devices} built in {time.monotonic() - built:.1f} s")
        fleet = write_csv(root / "fleet.csv", lab.fleet_rows())
        card_socket = root / "cards.sock"
        card_lab = start_process(["-m", "tests.migration.card_lab", json.dumps({
            "root": str(root), "devices": args.devices, "socket": str(card_socket)})])
        worker = start_process([__file__, "--worker",
                                json.dumps(worker_arguments(server.address, root, lab, card_socket, args))])
        print(f"card lab: {args.devices} virtual eUICCs, RSS {peak_rss_mb(card_lab.pid, 'VmRSS'):.0f} MB; "
              f"worker RSS at start {peak_rss_mb(worker.pid, 'VmRSS'):.0f} MB", flush=True)

        policy = MigrationPolicy(max_concurrency=args.concurrency, max_starts_per_second=args.rate,
                                 delete_old=True, failure_threshold=1.0)
        started_at = time.monotonic()
        cpu_before = cpu_seconds(worker.pid), cpu_seconds(server.process.pid)
        started = await start_migration(client, fleet, policy, migration_id=f"bench-{uuid.uuid4().hex[:8]}",
                                        task_queue=MIGRATION_QUEUE, engine_task_queue=ENGINE_QUEUE)
        status, samples, steady_from = await follow(MigrationControl(client, started.migration_id), args, worker,
                                                    card_lab, started_at)
        elapsed = time.monotonic() - started_at
        worker_cpu, server_cpu = (cpu_seconds(pid) - before
                                  for pid, before in zip((worker.pid, server.process.pid), cpu_before))
        figures = {"elapsed": elapsed, "worker_cpu": worker_cpu, "server_cpu": server_cpu, "samples": samples,
                   "rss": peak_rss_mb(worker.pid), "lab_rss": peak_rss_mb(card_lab.pid)}
        figures["steady"] = ((status.finished - steady_from[1]) / (time.monotonic() - steady_from[0])
                             if steady_from else float("nan"))
        # the engine runs each operation on the queue of the host holding the card
        events = await events_by_type(client, (ENGINE_QUEUE, MIGRATION_QUEUE, card_task_queue(CARD_HOST)))
        not_migrated = Counter(device["reason"][:90] for device in report(open_lab_store(lab), started.migration_id)["devices"]
                               if device["outcome"] != "migrated")
        print_results(args, status, figures, events, noops, not_migrated)
        lab.close()
    finally:
        stop_process(worker)
        stop_process(card_lab)
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=60)
    parser.add_argument("--rate", type=float, default=50.0, help="max device starts per second")
    parser.add_argument("--card-threads", type=int, default=16)
    parser.add_argument("--max-cached-workflows", type=int, default=WorkerOptions.max_cached_workflows,
                        help="workflow cache of each of the worker's workers (WorkerOptions.max_cached_workflows)")
    parser.add_argument("--noop", type=int, default=3000, help="no-op activities to time")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(json.loads(args.worker))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
