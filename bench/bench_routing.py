"""Routing at scale (issue 13, item 6): ``--cards`` in-process virtual eUICCs served by
``--hosts`` card host processes announce themselves to Temporal; then ``--operations``
operations (ListProfiles) go to random cards through their entities. Prints:

- registration: from the hosts' start (cards read) until the local dev server's visibility
  counts every ``CardLocation`` workflow, and the announcements per second;
- peak RSS of each process (the engine host, each card host, the Temporal dev server);
- operations per second and latency (p50/p95) of operations routed by the registry;
- Temporal history per card: events of its ``CardLocation`` workflow, of its entity per
  operation, and of the ``CardHost`` workflows per lease renewal.

    .venv/bin/python bench/bench_routing.py [--cards 10000] [--hosts 4] [--operations 300]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.client import Client  # noqa: E402

from esimflow import contract, search_attributes  # noqa: E402
from esimflow.client import run_operation
from esimflow.codec import data_converter  # noqa: E402
from esimflow.config import TEMPORAL_REGISTRY, TemporalConfig  # noqa: E402
from esimflow.routing.workflows import CARD_HOST_WORKFLOW, CARD_LOCATION_WORKFLOW  # noqa: E402
from esimflow.workers.devstack import start_dev_server  # noqa: E402
from rsplab import pki  # noqa: E402
from tests.conftest import TEST_PAYLOAD_KEY  # noqa: E402
from process_stats import peak_rss_mb  # noqa: E402 - bench/, the script's own directory

ENGINE_QUEUE = "bench-routing"
EIN = "89049032"


def eids(count: int) -> list[str]:
    return [pki.eid_for(EIN, number + 1) for number in range(count)]


# --- the host processes ------------------------------------------------------------------------

def host_main(arguments: dict) -> None:
    """A card host (``cards`` given: in-process virtual eUICCs) or the engine host."""
    from esimflow.workers.run import WorkerOptions, serve

    config = TemporalConfig(address=arguments["address"], codec_key=TEST_PAYLOAD_KEY,
                            device_registry=TEMPORAL_REGISTRY,
                            history_path=str(Path(arguments["state_dir"]) / "history.sqlite3"))
    cards = {}
    if arguments.get("cards"):
        from rsplab.euicc.card import VirtualEuicc

        root = Path(arguments["pki_root"])
        cards = {eid: VirtualEuicc(root, None, eid=eid) for eid in arguments["cards"]}
        options = WorkerOptions(config=config, net=False, card_host=arguments["card_host"], local_cards=cards,
                                task_queue=ENGINE_QUEUE, card_threads=16, graceful_shutdown=timedelta(seconds=2))
    else:
        options = WorkerOptions(config=config, net=True, task_queue=ENGINE_QUEUE,
                                graceful_shutdown=timedelta(seconds=2))

    def ready(worker) -> None:
        print(json.dumps({"ready": len(worker.devices)}), flush=True)

    asyncio.run(serve(options, on_ready=ready))


def start_host(address: str, state_dir: Path, **more) -> subprocess.Popen:
    state_dir.mkdir(parents=True, exist_ok=True)
    arguments = {"address": address, "state_dir": str(state_dir), **more}
    process = subprocess.Popen([sys.executable, __file__, "--host", json.dumps(arguments)],
                               stdout=subprocess.PIPE, stderr=(state_dir / "host.log").open("w"), text=True)
    line = process.stdout.readline()
    if not line.startswith('{"ready"'):
        raise RuntimeError(f"host did not start: {(state_dir / 'host.log').read_text()[-2000:]}")
    return process


# --- measuring ---------------------------------------------------------------------------------

async def count_running(client: Client, workflow_type: str) -> int:
    query = f'WorkflowType = "{workflow_type}" AND ExecutionStatus = "Running" AND TaskQueue = "{ENGINE_QUEUE}"'
    return (await client.count_workflows(query)).count


async def routed_operations(client: Client, all_eids: list[str], total: int, concurrency: int) -> list[float]:
    limit = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    failures: list[str] = []

    async def one(eid: str) -> None:
        async with limit:
            started = time.monotonic()
            result = await run_operation(client, contract.ListProfilesInput(eid), task_queue=ENGINE_QUEUE)
            latencies.append(time.monotonic() - started)
            if not result.ok:
                failures.append(f"{eid}: {result.error_kind} {result.message}")

    await asyncio.gather(*(one(eid) for eid in random.Random(13).sample(all_eids, total)))
    if failures:
        raise RuntimeError(f"{len(failures)} routed operations failed, e.g. {failures[:3]}")
    return latencies


async def history_events(client: Client, workflow_ids: list[str]) -> list[int]:
    counts = []
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        counts.append(len(history.events))
    return counts


async def register_cards(client: Client, address: str, root: Path, all_eids: list[str], args: argparse.Namespace,
                         processes: dict[str, subprocess.Popen]) -> float:
    """Start the engine host and the card hosts (into ``processes``, for the caller to stop) and
    wait until every card's ``CardLocation`` runs; prints the registration figure and returns
    when the hosts began starting."""
    processes["engine host"] = start_host(address, root / "engine")
    slices = [all_eids[i::args.hosts] for i in range(args.hosts)]
    started = time.monotonic()
    for index, cards in enumerate(slices):  # the hosts start one after the other, as a fleet comes up
        processes[f"card host {index}"] = start_host(address, root / f"host-{index}",
                                                     card_host=f"bench-host-{index}", cards=cards,
                                                     pki_root=str(root / "pki"))
    read = time.monotonic() - started
    while (announced := await count_running(client, CARD_LOCATION_WORKFLOW)) < args.cards:
        if time.monotonic() - started > args.timeout:
            raise RuntimeError(f"only {announced} of {args.cards} cards announced in {args.timeout} s")
        await asyncio.sleep(0.5)
    registration = time.monotonic() - started
    print(f"cards announced:         {args.cards} by {args.hosts} hosts in {registration:.1f} s "
          f"({args.cards / registration:.0f}/s; starting the host processes and reading their cards took {read:.1f} s of it)", flush=True)
    return started


async def time_operations(client: Client, all_eids: list[str], args: argparse.Namespace) -> None:
    """The routed operations after a warm-up: rate and latency."""
    await routed_operations(client, all_eids, min(20, args.operations), 10)  # warm-up
    began = time.monotonic()
    latencies = sorted(await routed_operations(client, all_eids, args.operations, args.concurrency))
    elapsed = time.monotonic() - began
    print(f"routed operations:       {args.operations} ListProfiles, {args.concurrency} at once: "
          f"{args.operations / elapsed:.1f}/s, p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.0f} ms", flush=True)


async def report_histories(client: Client, all_eids: list[str], args: argparse.Namespace, started: float) -> None:
    """What routing costs in Temporal history: per card, per host, per entity."""
    sample = random.Random(7).sample(all_eids, 50)
    location = await history_events(client, [f"card-{eid}" for eid in sample])
    print(f"CardLocation history:    {statistics.mean(location):.1f} events per card "
          f"(sample of {len(sample)})")
    hosts = await history_events(client, [f"card-host-bench-host-{i}" for i in range(args.hosts)])
    print(f"CardHost history:        {statistics.mean(hosts):.1f} events per host after "
          f"{time.monotonic() - started:.0f} s")
    entity_events: dict[str, int] = defaultdict(int)
    async for execution in client.list_workflows(f'WorkflowType = "{contract.ENTITY_WORKFLOW}"'):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        entity_events[execution.id] += len(history.events)
    print(f"entity history:          {statistics.mean(entity_events.values()):.1f} events per card "
          f"({len(entity_events)} entities, {args.operations + min(20, args.operations)} operations)")
    print(f"running routing workflows: {await count_running(client, CARD_LOCATION_WORKFLOW)} CardLocation, "
          f"{await count_running(client, CARD_HOST_WORKFLOW)} CardHost")


async def bench(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-routing-"))
    all_eids = eids(args.cards)
    made = time.monotonic()
    pki.generate(root / "pki", eids=all_eids)
    print(f"PKI with {args.cards} eUICC identities: {time.monotonic() - made:.1f} s", flush=True)
    server = start_dev_server(ui=False, search_attributes=search_attributes.SEARCH_ATTRIBUTES)
    processes: dict[str, subprocess.Popen] = {}
    try:
        client = await Client.connect(server.address, data_converter=data_converter(TEST_PAYLOAD_KEY))
        started = await register_cards(client, server.address, root, all_eids, args, processes)
        await time_operations(client, all_eids, args)
        await report_histories(client, all_eids, args, started)
        for name, process in processes.items():
            print(f"peak RSS {name + ':':<15} {peak_rss_mb(process.pid):.0f} MB")
        print(f"peak RSS Temporal dev server: {peak_rss_mb(server.process.pid):.0f} MB")
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--operations", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.host:
        host_main(json.loads(args.host))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
