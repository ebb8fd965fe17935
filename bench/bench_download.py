"""One profile download end to end: the protocol library alone (a) against the Temporal engine (b)
(issue 4, item 8; target b/a <= 1.5).

Both modes download onto the same virtual eUICC, which sits in a vpcd reader and is reached
through pcscd and pyscard, from the same lab SM-DP+ over TLS:

- (a) ``sgp22.lpa.download`` over one PC/SC connection and one ES9+ client, both kept open
  across downloads as the engine keeps its own (``--cold-baseline``: opened inside the timed
  section for every download, as a one-shot LPA does);
- (b) the engine's DownloadProfile workflow submitted through the client as the CLI does
  (``esimflow.api.start_operation``: update-with-start of the eUICC's entity workflow, which
  runs the download as a child workflow), served by an in-process worker polling the Temporal
  dev server, its card steps reaching the reader through PC/SC.

Each timed download installs a new profile; it is deleted again (and the delete notification
delivered) outside the timed section so the card never fills up. Prints every run, the median
and minimum per mode, the ratio b/a of the medians, the DownloadProfile history size and, from
that history, where (b) spends its time: activity execution per step, activity and workflow
task queueing, workflow task processing (local activities included) and the client's share
(entity routing and result delivery).

    .venv/bin/python bench/bench_download.py [--runs 5] [--size 30720] [--order alternate|blocks]
        [--warmup 1] [--cold-baseline] [--variant NAME ...]

``--variant`` measures engine settings the shipped engine does NOT use, by monkeypatching the
Temporal ``Worker`` the engine builds (each is labelled in the output; see VARIANTS). Without
it the shipped settings are measured.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from esimflow import api
from esimflow.config import TemporalConfig, connect
from esimflow.workers import run as worker_run
from esimflow.workers.devstack import start_dev_server
from esimflow.workers.run import EsimflowWorker, WorkerOptions
from rsplab.up import Lab, LabOptions, lab_iccid
from sgp22 import es10, lpa
from sgp22.apdu import IsdrChannel
from sgp22.es9 import Es9Client, Es9Config
from sgp22.transport_pcsc import PcscTransport

TARGET_RATIO = 1.5
CARD_HOST = "bench"

VARIANTS: dict[str, tuple[str, dict]] = {
    # name: (label, extra keyword arguments for every temporalio Worker the engine builds)
    "passthrough": (
        "workflow sandbox passes esimflow/sgp22 through (no re-import per workflow run)",
        {"workflow_runner": SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("esimflow", "sgp22"))},
    ),
    "pollers": (
        "20 workflow-task and 20 activity-task pollers per worker (default 5 each)",
        {"max_concurrent_workflow_task_polls": 20, "max_concurrent_activity_task_polls": 20},
    ),
}


# --- the stack ------------------------------------------------------------------------------------


def patch_worker(extra: dict) -> None:
    """LABELLED MONKEYPATCH: every Worker the engine builds gets ``extra`` (measurement only)."""
    worker_run.Worker = functools.partial(Worker, **extra)


@dataclass
class Timings:
    runs: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    histories: list[dict] = field(default_factory=list)
    direct_phases: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


class DownloadBench:
    def __init__(self, lab: Lab, client, task_queue: str, size: int, *, cold_baseline: bool) -> None:
        self.lab = lab
        self.card = lab.cards[0]
        self.client = client
        self.task_queue = task_queue
        self.size = size
        self.cold_baseline = cold_baseline
        self.es9_config = Es9Config(ca_file=lab.smdp.ca_file, connect_overrides=lab.smdp.connect_overrides)
        self._serials = itertools.count(1)
        self._isdr: IsdrChannel | None = None
        self._es9: Es9Client | None = None

    async def __aenter__(self) -> DownloadBench:
        self._isdr = IsdrChannel(PcscTransport(self.card.reader))
        self._isdr.open()
        self._es9 = Es9Client(self.lab.smdp.address, self.es9_config)
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._es9.aclose()
        self._isdr.close()
        self._isdr.transport.close()

    def new_profile(self) -> tuple[str, str]:
        iccid = lab_iccid(next(self._serials))
        return iccid, self.lab.smdp.add_profile(iccid, size=self.size)

    async def direct(self, code: str, phases: dict[str, list[float]] | None = None) -> tuple[float, str]:
        """(a): the plain LPA sequence of the protocol library."""
        marks: list[tuple[str, float]] = []
        started = time.perf_counter()
        if self.cold_baseline:
            with IsdrChannel(PcscTransport(self.card.reader)) as isdr:
                async with Es9Client(self.lab.smdp.address, self.es9_config) as es9:
                    result = await lpa.download(isdr, es9, code,
                                                on_progress=lambda p: marks.append((p, time.perf_counter())))
        else:
            result = await lpa.download(self._isdr, self._es9, code,
                                        on_progress=lambda p: marks.append((p, time.perf_counter())))
        elapsed = time.perf_counter() - started
        if phases is not None:
            ends = [t for _, t in marks[1:]] + [started + elapsed]
            for (phase, at), end in zip(marks, ends):
                phases[phase].append(end - at)
        return elapsed, result.iccid

    async def engine(self, code: str) -> tuple[float, str, str]:
        """(b): DownloadProfile through the entity workflow, as ``esimflow download`` submits it."""
        started = time.perf_counter()
        handle = await api.start_operation(self.client, api.DownloadProfileInput(self.card.eid, code),
                                           task_queue=self.task_queue)
        result = await handle.result()
        elapsed = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"engine download failed: {result.error_kind}: {result.message}")
        return elapsed, result.data["iccid"], handle.workflow_id

    async def remove(self, iccid: str) -> None:
        """Untimed: delete the profile and deliver the delete notification."""
        es10.delete_profile(self._isdr, iccid=iccid)
        outcomes = await lpa.process_notifications(
            self._isdr, lambda address: Es9Client(address, self.es9_config))
        undelivered = [o for o in outcomes if not o.delivered]
        if undelivered:
            raise SystemExit(f"notifications not delivered: {undelivered}")

    async def one(self, mode: str, timings: Timings | None) -> float:
        iccid, code = self.new_profile()
        if mode == "a":
            elapsed, installed = await self.direct(code, timings.direct_phases if timings else None)
        else:
            elapsed, installed, workflow_id = await self.engine(code)
            if timings is not None:
                timings.histories.append(await history_breakdown(self.client, workflow_id, elapsed))
        if installed != iccid:
            raise SystemExit(f"mode {mode} installed {installed}, expected {iccid}")
        await self.remove(iccid)
        if timings is not None:
            timings.runs[mode].append(elapsed)
        return elapsed


# --- where (b) spends its time, read from the workflow history ---------------------------------------


def _seconds(event) -> float:
    return event.event_time.ToNanoseconds() / 1e9


async def history_breakdown(client, workflow_id: str, wall: float) -> dict:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    events = history.events
    activities: dict[int, dict] = {}
    tasks: dict[int, dict] = {}
    markers = 0
    for event in events:
        kind, at = event.event_type, _seconds(event)
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            activities[event.event_id] = {"type": attrs.activity_type.name, "queue": attrs.task_queue.name,
                                          "scheduled": at}
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            activities[event.activity_task_started_event_attributes.scheduled_event_id]["started"] = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            activities[event.activity_task_completed_event_attributes.scheduled_event_id]["closed"] = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            tasks[event.event_id] = {"scheduled": at}
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            tasks[event.workflow_task_started_event_attributes.scheduled_event_id]["started"] = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks[event.workflow_task_completed_event_attributes.scheduled_event_id]["closed"] = at
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            markers += 1
    span = _seconds(events[-1]) - _seconds(events[0])
    per_step: dict[str, list[float]] = defaultdict(list)
    for step in activities.values():
        per_step[step["type"]].append(step["closed"] - step["started"])
    card = [s for s in activities.values() if s["queue"].startswith(api.CARD_TASK_QUEUE_PREFIX)]
    net = [s for s in activities.values() if not s["queue"].startswith(api.CARD_TASK_QUEUE_PREFIX)]
    return {
        "events": len(events),
        "activities": len(activities),
        "local_activities": markers,
        "workflow_tasks": len(tasks),
        "wall": wall,
        "span": span,
        "card_count": len(card),
        "net_count": len(net),
        "card_exec": sum(s["closed"] - s["started"] for s in card),
        "net_exec": sum(s["closed"] - s["started"] for s in net),
        "activity_queue": sum(s["started"] - s["scheduled"] for s in activities.values()),
        "task_queue": sum(t["started"] - t["scheduled"] for t in tasks.values() if "started" in t),
        "task_run": sum(t["closed"] - t["started"] for t in tasks.values() if "closed" in t),
        "per_step": {name: sum(values) for name, values in per_step.items()},
        "per_step_count": {name: len(values) for name, values in per_step.items()},
    }


# --- report ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f} ms"


def report(timings: Timings, args, variant_labels: list[str]) -> float:
    a, b = timings.runs["a"], timings.runs["b"]
    baseline = "fresh PC/SC connection and ES9+ client per download" if args.cold_baseline \
        else "PC/SC connection and ES9+ client kept open (as the engine keeps its own)"
    print(f"\nprofile size {args.size} bytes, {args.runs} timed runs per mode ({args.order}), "
          f"{args.warmup} untimed warm-up per mode")
    print(f"(a) baseline: {baseline}")
    for label in variant_labels:
        print(f"(b) MONKEYPATCHED engine setting, not the shipped one: {label}")
    print("\nrun      (a) library   (b) engine")
    for number, (ta, tb) in enumerate(zip(a, b), 1):
        print(f"{number:3d}      {ms(ta)}    {ms(tb)}")
    med_a, med_b = statistics.median(a), statistics.median(b)
    print(f"\n(a) protocol library  median {ms(med_a)}  min {ms(min(a))}")
    print(f"(b) Temporal engine   median {ms(med_b)}  min {ms(min(b))}")
    ratio = med_b / med_a
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"ratio b/a (medians)   {ratio:.2f}   (min/min {min(b) / min(a):.2f}; target <= {TARGET_RATIO}: {verdict})")

    h = timings.histories
    med = lambda key: statistics.median(x[key] for x in h)  # noqa: E731
    first = h[0]
    print(f"\nDownloadProfile workflow history: {first['events']} events "
          f"({first['activities']} activities, {first['local_activities']} local activities, "
          f"{first['workflow_tasks']} workflow tasks)")
    print("\nwhere (b) spends its time (medians over the timed runs):")
    print(f"  client wall time                              {ms(med('wall'))}")
    print(f"  child workflow span (first to last event)     {ms(med('span'))}")
    print(f"    card activities executing ({first['card_count']:2d})           {ms(med('card_exec'))}")
    print(f"    net activities executing ({first['net_count']:2d})            {ms(med('net_exec'))}")
    print(f"    activities waiting for a worker (sched->start) {ms(med('activity_queue'))}")
    print(f"    workflow tasks waiting (sched->start)        {ms(med('task_queue'))}")
    print(f"    workflow tasks running (incl. local acts)    {ms(med('task_run'))}")
    rest = med('span') - med('card_exec') - med('net_exec') - med('activity_queue') - med('task_queue') - med('task_run')
    print(f"    unaccounted (server bookkeeping)             {ms(rest)}")
    print(f"  outside the child (entity update-with-start,   {ms(med('wall') - med('span'))}")
    print("    child start, result back to the client)")
    print("\n  per activity type (median summed execution per download):")
    names = sorted(first["per_step"], key=lambda n: -statistics.median(x["per_step"].get(n, 0.0) for x in h))
    for name in names:
        value = statistics.median(x["per_step"].get(name, 0.0) for x in h)
        print(f"    {name:34s} x{first['per_step_count'][name]}  {ms(value)}")
    print("\n  (a) per phase (median):")
    for phase, values in timings.direct_phases.items():
        print(f"    {phase:34s}     {ms(statistics.median(values))}")
    return ratio


# --- main -----------------------------------------------------------------------------------------------


async def measure(args, lab: Lab, address: str, workdir: Path) -> Timings:
    config = TemporalConfig(address=address, codec_key=os.urandom(32),
                            device_registry=workdir / "devices.sqlite3", history_path=workdir / "history.sqlite3")
    client = await connect(config)
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    card = lab.cards[0]
    options = WorkerOptions(config=config, net=True, card_host=f"{CARD_HOST}-{task_queue}", readers=[card.reader],
                            task_queue=task_queue, ca_file=lab.smdp.ca_file,
                            connect_overrides=lab.smdp.connect_overrides)
    worker = EsimflowWorker(client, options)
    worker.build()
    if [d.eid for d in worker.devices] != [card.eid]:
        raise SystemExit(f"the worker does not serve eUICC {card.eid} in {card.reader}")
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    timings = Timings()
    try:
        async with DownloadBench(lab, client, task_queue, args.size, cold_baseline=args.cold_baseline) as bench:
            for mode in "ab":
                for _ in range(args.warmup):
                    elapsed = await bench.one(mode, None)
                    print(f"warm-up ({mode}) {ms(elapsed)}", flush=True)
            if args.order == "alternate":
                schedule = [mode for _ in range(args.runs) for mode in "ab"]
            else:
                schedule = ["a"] * args.runs + ["b"] * args.runs
            for mode in schedule:
                elapsed = await bench.one(mode, timings)
                print(f"({mode}) {ms(elapsed)}", flush=True)
    finally:
        stop.set()
        await running
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed downloads per mode")
    parser.add_argument("--size", type=int, default=30 * 1024, help="profile size in bytes")
    parser.add_argument("--order", choices=("alternate", "blocks"), default="alternate",
                        help="a,b,a,b,... or all (a) then all (b)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed downloads per mode first")
    parser.add_argument("--cold-baseline", action="store_true",
                        help="(a) opens its PC/SC connection and ES9+ client inside the timed section")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), default=[],
                        help="measure (b) with a monkeypatched engine setting (repeatable)")
    parser.add_argument("--reader-wait", type=float, default=300.0,
                        help="seconds to wait for the vpcd reader another run holds")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    extra: dict = {}
    for name in args.variant:
        extra.update(VARIANTS[name][1])
    if extra:
        patch_worker(extra)

    workdir = Path(tempfile.mkdtemp(prefix="esimflow-bench-download-"))
    try:
        with start_dev_server(ui=False, log_file=workdir / "temporal.log") as server, \
                Lab(LabOptions(state_dir=workdir / "lab", vpcd_cards=1, profiles=0, smdp_port=0,
                               reader_wait=args.reader_wait)) as lab:
            print(f"Temporal dev server {server.address}; SM-DP+ {lab.smdp.address}; "
                  f"eUICC {lab.cards[0].eid} in \"{lab.cards[0].reader}\"", flush=True)
            timings = asyncio.run(measure(args, lab, server.address, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(timings, args, [VARIANTS[name][0] for name in args.variant])
    return 0


if __name__ == "__main__":
    sys.exit(main())
