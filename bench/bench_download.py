"""One profile download end to end: the protocol library alone (a) against the Temporal engine (b),
and Temporal's own floor (c) for the same steps (issue 4, item 8: b/a <= 1.5; issue 9, item 7:
the engine adds at most 1.5x the floor).

Both modes download onto the same virtual eUICC, which sits in a vpcd reader and is reached
through pcscd and pyscard, from the same lab SM-DP+ over TLS (the lab runs in its own process,
as a card and a server would; ``--lab-here`` keeps it in this one):

- (a) ``sgp22.lpa.download`` over one PC/SC connection and one ES9+ client, both kept open
  across downloads as the engine keeps its own (``--cold-baseline``: opened inside the timed
  section for every download, as a one-shot LPA does);
- (b) the engine's DownloadProfile workflow submitted through the client as the CLI does
  (``esimflow.client.start_operation``: update-with-start of the eUICC's entity workflow, which
  runs the download as a child workflow) against the Temporal dev server, served by the
  engine's worker (in this process) whose card steps reach the reader through PC/SC.

- (c) Temporal's floor, in the same run on the same server: a workflow with as many steps as
  the warm-up DownloadProfile run recorded, local and regular activities in the same order,
  each a no-op (``temporal_floor.py``), started by the same client (payload codec included) and
  run by a worker of this process with the engine's workflow runner.

The figure that counts: the engine's overhead over the library (b - a) against the floor (c).

Each timed download installs a new profile; it is deleted again (and the delete notification
delivered) outside the timed section so the card never fills up. Prints every run, the median
and minimum per mode, the ratio b/a of the medians, this process's CPU time per run (steadier
than wall time when other processes share the cores), the DownloadProfile history size and, from
that history, where (b) spends its time: each step (remote activities: execution; local
activities: from one step's scheduling to the next), task queueing, workflow task processing
and the share of the entity workflow and the client; and (a)'s time in the card, in each ES9+
function and in the LPA's own logic.

    .venv/bin/python bench/bench_download.py [--runs 5] [--size 30720] [--order alternate|blocks]
        [--warmup 1] [--cold-baseline] [--lab-here] [--variant NAME ...]

``--variant`` measures a setting the shipped engine or dev server does NOT use, by a
monkeypatch that the output labels (see VARIANTS); without it the shipped code is measured.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from temporalio import activity as temporal_activity
from temporalio.api.enums.v1 import EventType
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from esimflow import contract
from esimflow.client import start_operation
from esimflow.config import TemporalConfig, connect
from esimflow.workers import devstack
from esimflow.workers import run as worker_run
from esimflow.workers.devstack import start_dev_server
from esimflow.workers.run import EsimflowWorker, WorkerOptions
from esimflow.workers.sandbox import workflow_runner
from rsplab.up import Lab, LabOptions, lab_iccid
from sgp22 import es10, lpa
from sgp22.apdu import IsdrChannel
from sgp22.es9 import Es9Client, Es9Config
from carddrivers.pcsc import PcscTransport
from temporal_floor import NoOpStepsInput, NoOpStepsWorkflow, no_op_step

TARGET_RATIO = 1.5
TARGET_OVER_FLOOR = 1.5
CARD_HOST = "bench"


@dataclass(frozen=True)
class Variant:
    """An engine or server setting the shipped code does NOT use, measured by monkeypatching."""

    label: str
    worker_kwargs: dict = field(default_factory=dict)  # for every temporalio Worker the engine builds
    worker_options: dict = field(default_factory=dict)  # WorkerOptions fields
    server_args: tuple[str, ...] = ()  # extra `temporal server start-dev` arguments
    patch: str = ""  # a named monkeypatch (see PATCHES)


VARIANTS: dict[str, Variant] = {
    "server-rps": Variant(
        "dev server: history.transferProcessorMaxPollRPS=1000 (default 20 polls/s per history shard)",
        server_args=("--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000")),
    "unsandboxed": Variant(
        "workflows outside Temporal's sandbox (what the sandbox costs; the engine always sandboxes)",
        worker_kwargs={"workflow_runner": UnsandboxedWorkflowRunner()}),
    "no-local-heartbeat": Variant(
        "activity.heartbeat() returns at once inside a local activity (which cannot heartbeat)",
        patch="local_heartbeat"),
    "pollers": Variant(
        "20 workflow-task and 20 activity-task pollers per worker (default 5 each)",
        worker_kwargs={"max_concurrent_workflow_task_polls": 20, "max_concurrent_activity_task_polls": 20}),
    "remote-steps": Variant(
        "card host does not run workflows: every step a remote activity (card_host_runs_workflows=False)",
        worker_options={"card_host_runs_workflows": False}),
}


# --- the stack ------------------------------------------------------------------------------------


def patch_workers(extra: dict) -> None:
    """LABELLED MONKEYPATCH: every Worker the engine builds gets ``extra`` (measurement only)."""

    def worker(*args, **kwargs):
        return Worker(*args, **{**kwargs, **extra})

    worker_run.Worker = worker


def skip_heartbeat_in_local_activities() -> None:
    """LABELLED MONKEYPATCH: a local activity has no heartbeat; calling it anyway costs a trip
    into the SDK core and a logged warning per call (measurement only)."""
    heartbeat = temporal_activity.heartbeat

    def only_remote(*details) -> None:
        if not temporal_activity.info().is_local:
            heartbeat(*details)

    temporal_activity.heartbeat = only_remote


PATCHES = {"local_heartbeat": skip_heartbeat_in_local_activities}


@contextlib.contextmanager
def dev_server_with(extra_args: tuple[str, ...], log_file: Path):
    """The engine's dev server; LABELLED MONKEYPATCH when ``extra_args`` are given: they are
    appended to the ``temporal server start-dev`` command line (devstack has no parameter)."""
    if not extra_args:
        with start_dev_server(ui=False, log_file=log_file) as server:
            yield server
        return

    class WithExtraArgs:
        def __getattr__(self, name):
            return getattr(subprocess, name)

        @staticmethod
        def Popen(command, *args, **kwargs):  # noqa: N802 (subprocess's name)
            return subprocess.Popen([*command, *extra_args], *args, **kwargs)

    devstack.subprocess = WithExtraArgs()
    try:
        server = start_dev_server(ui=False, log_file=log_file)
    finally:
        devstack.subprocess = subprocess
    with server:
        yield server


@dataclass
class LabView:
    """What the bench needs of the lab, wherever it runs."""

    eid: str
    reader: str
    smdp_address: str
    ca_file: Path
    connect_overrides: dict[str, str]
    new_profile: Callable[[], tuple[str, str]]  # -> (ICCID, activation code)


@contextlib.contextmanager
def lab_here(state_dir: Path, size: int, reader_wait: float) -> Iterator[LabView]:
    with Lab(LabOptions(state_dir=state_dir, vpcd_cards=1, profiles=0, smdp_port=0, smds_port=0,
                        reader_wait=reader_wait)) as lab:
        serials = itertools.count(1)

        def new_profile() -> tuple[str, str]:
            iccid = lab_iccid(next(serials))
            return iccid, lab.smdp.add_profile(iccid, size=size)

        card = lab.cards[0]
        yield LabView(card.eid, card.reader, lab.smdp.address, lab.smdp.ca_file, lab.smdp.connect_overrides,
                      new_profile)


def _serve_lab(state_dir: Path, size: int, reader_wait: float, conn) -> None:
    """The lab process: answers each request with a new profile until told to stop."""
    with lab_here(state_dir, size, reader_wait) as lab:
        conn.send((lab.eid, lab.reader, lab.smdp_address, lab.ca_file, lab.connect_overrides))
        while conn.recv() == "profile":
            conn.send(lab.new_profile())


@contextlib.contextmanager
def lab_process(state_dir: Path, size: int, reader_wait: float) -> Iterator[LabView]:
    """The lab (SM-DP+ and the virtual eUICC behind vpcd) in its own process, so neither shares
    this process's interpreter lock with the LPA, the client or the worker."""
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    process = context.Process(target=_serve_lab, args=(state_dir, size, reader_wait, there), daemon=True)
    process.start()
    try:
        if not here.poll(reader_wait + 60):
            raise SystemExit("the lab process did not come up")
        eid, reader, address, ca_file, overrides = here.recv()

        def new_profile() -> tuple[str, str]:
            here.send("profile")
            return here.recv()

        yield LabView(eid, reader, address, ca_file, overrides, new_profile)
    finally:
        with contextlib.suppress(OSError):
            here.send("stop")
        process.join(30)
        if process.is_alive():
            process.terminate()
            process.join()


ES10_BY_TAG = {
    "BF2E": "GetEUICCChallenge", "BF20": "GetEUICCInfo1", "BF38": "AuthenticateServer",
    "BF21": "PrepareDownload", "BF41": "CancelSession", "BF2B": "RetrieveNotificationsList",
    "BF30": "RemoveNotificationFromList", "BF28": "ListNotification", "BF2D": "GetProfilesInfo",
}
"""ES10 requests by their tag; everything else (BF36, A0, A1, 88, A2, A3, 86 segments) is part
of LoadBoundProfilePackage."""


class TimedCard:
    """An ES10 channel that adds up the time spent in the card (APDUs through PC/SC and vpcd),
    per ES10 function."""

    def __init__(self, isdr: IsdrChannel, spent: dict[str, float]) -> None:
        self._isdr, self._spent = isdr, spent

    def store_data(self, request: bytes) -> bytes:
        started = time.perf_counter()
        try:
            return self._isdr.store_data(request)
        finally:
            function = ES10_BY_TAG.get(request[:2].hex().upper(), "LoadBoundProfilePackage")
            self._spent[f"card {function}"] += time.perf_counter() - started


class TimedEs9:
    """An ES9+ client that times each function call."""

    FUNCTIONS = ("initiate_authentication", "authenticate_client", "get_bound_profile_package",
                 "handle_notification", "cancel_session")

    def __init__(self, es9: Es9Client, spent: dict[str, float]) -> None:
        self._es9, self._spent = es9, spent

    def __getattr__(self, name: str):
        target = getattr(self._es9, name)
        if name not in self.FUNCTIONS:
            return target

        async def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await target(*args, **kwargs)
            finally:
                self._spent[f"es9_{name}"] += time.perf_counter() - started

        return timed


@dataclass
class Timings:
    runs: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    histories: list[dict] = field(default_factory=list)
    direct_parts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """CPU time of this process per run (client, worker, LPA; not the lab's or the server's),
    the profile's removal included for (a) and (b): steadier than wall time on a shared machine."""


class DownloadBench:
    def __init__(self, lab: LabView, client, task_queue: str, *, cold_baseline: bool) -> None:
        self.lab = lab
        self.client = client
        self.task_queue = task_queue
        self.cold_baseline = cold_baseline
        self.es9_config = Es9Config(ca_file=lab.ca_file, connect_overrides=lab.connect_overrides)
        self._isdr: IsdrChannel | None = None
        self._es9: Es9Client | None = None
        self.last_workflow_id = ""  # the latest (b) download's DownloadProfile workflow
        self.floor_queue = ""
        self.floor_steps: list[bool] = []  # (c): True for a local activity, in DownloadProfile's order

    async def __aenter__(self) -> DownloadBench:
        self._isdr = IsdrChannel(PcscTransport(self.lab.reader))
        self._isdr.open()
        self._es9 = Es9Client(self.lab.smdp_address, self.es9_config)
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._es9.aclose()
        self._isdr.close()
        self._isdr.transport.close()

    async def direct(self, code: str, parts: dict[str, list[float]] | None = None) -> tuple[float, str]:
        """(a): the plain LPA sequence of the protocol library; ``parts`` collects where it spent
        its time (each ES10 and ES9+ function, the rest)."""
        spent: dict[str, float] = defaultdict(float)
        started = time.perf_counter()
        if self.cold_baseline:
            with IsdrChannel(PcscTransport(self.lab.reader)) as isdr:
                async with Es9Client(self.lab.smdp_address, self.es9_config) as es9:
                    result = await lpa.download(TimedCard(isdr, spent), TimedEs9(es9, spent), code)
        else:
            result = await lpa.download(TimedCard(self._isdr, spent), TimedEs9(self._es9, spent), code)
        elapsed = time.perf_counter() - started
        if parts is not None:
            for name, value in spent.items():
                parts[name].append(value)
            parts["LPA logic (decoding, checks)"].append(elapsed - sum(spent.values()))
        return elapsed, result.iccid

    async def engine(self, code: str) -> tuple[float, str, str, float, float]:
        """(b): DownloadProfile through the entity workflow, as ``esimflow download`` submits it.
        Also returns the wall-clock submit and receipt times, to set against the history's."""
        submitted, started = time.time(), time.perf_counter()
        handle = await start_operation(self.client, contract.DownloadProfileInput(self.lab.eid, code),
                                           task_queue=self.task_queue)
        result = await handle.result()
        elapsed, received = time.perf_counter() - started, time.time()
        if not result.ok:
            raise SystemExit(f"engine download failed: {result.error_kind}: {result.message}")
        self.last_workflow_id = handle.workflow_id
        return elapsed, result.data["iccid"], handle.workflow_id, submitted, received

    async def floor(self) -> float:
        """(c): the no-op copy of DownloadProfile's steps (``floor_steps``), client to result."""
        started = time.perf_counter()
        await self.client.execute_workflow(NoOpStepsWorkflow.run, NoOpStepsInput(self.floor_steps),
                                           id=f"bench-floor-{uuid.uuid4().hex[:12]}", task_queue=self.floor_queue)
        return time.perf_counter() - started

    async def remove(self, iccid: str) -> None:
        """Untimed: delete the profile and deliver the delete notification."""
        es10.delete_profile(self._isdr, iccid=iccid)
        outcomes = await lpa.process_notifications(
            self._isdr, lambda address: Es9Client(address, self.es9_config))
        undelivered = [o for o in outcomes if not o.delivered]
        if undelivered:
            raise SystemExit(f"notifications not delivered: {undelivered}")

    async def one(self, mode: str, timings: Timings | None) -> float:
        cpu_started = time.process_time()
        elapsed = await self._one(mode, timings)
        if timings is not None:
            timings.runs[mode].append(elapsed)
            timings.cpu[mode].append(time.process_time() - cpu_started)
        return elapsed

    async def _one(self, mode: str, timings: Timings | None) -> float:
        if mode == "c":
            return await self.floor()
        iccid, code = self.lab.new_profile()
        if mode == "a":
            elapsed, installed = await self.direct(code, timings.direct_parts if timings else None)
        else:
            elapsed, installed, workflow_id, submitted, received = await self.engine(code)
            if timings is not None:
                timings.histories.append(
                    await history_breakdown(self.client, workflow_id, elapsed, submitted, received))
        if installed != iccid:
            raise SystemExit(f"mode {mode} installed {installed}, expected {iccid}")
        await self.remove(iccid)
        return elapsed


# --- where (b) spends its time, read from the workflow history ---------------------------------------


def _seconds(event) -> float:
    return event.event_time.ToNanoseconds() / 1e9


def _local_activity(event) -> tuple[str, float] | None:
    """(activity type, scheduled at) of a local-activity marker; its ``data`` detail is the SDK's
    own plain JSON (the result next to it is encrypted by the payload codec)."""
    details = event.marker_recorded_event_attributes.details
    if "data" not in details or not details["data"].payloads:
        return None
    try:
        data = json.loads(details["data"].payloads[0].data)
        scheduled = data["original_schedule_time"]
        return data["activity_type"], scheduled["seconds"] + scheduled["nanos"] / 1e9
    except (ValueError, KeyError, TypeError):
        return None


async def step_kinds(client, workflow_id: str) -> list[bool]:
    """The steps of one recorded run in the order they were scheduled: True for a local activity."""
    steps = []
    for event in (await client.get_workflow_handle(workflow_id).fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            steps.append((_seconds(event), False))
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            found = _local_activity(event)
            if found is not None:
                steps.append((found[1], True))
    return [local for _, local in sorted(steps, key=lambda step: step[0])]


async def history_breakdown(client, workflow_id: str, wall: float, submitted: float, received: float) -> dict:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    events = history.events
    activities: dict[int, dict] = {}
    tasks: dict[int, dict] = {}
    local: list[tuple[str, float]] = []
    task_closes: list[float] = []
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
            task_closes.append(at)
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            found = _local_activity(event)
            if found is not None:
                local.append(found)
    per_step: dict[str, float] = defaultdict(float)
    per_step_count: dict[str, int] = defaultdict(int)
    for step in activities.values():
        per_step[step["type"]] += step["closed"] - step["started"]
        per_step_count[step["type"]] += 1
    # A local activity's cost as the workflow sees it: from its scheduling to the next one's or to
    # the end of the workflow task that recorded it, whichever is first (activations included).
    for index, (name, scheduled) in enumerate(local):
        ends = [t for t in task_closes if t >= scheduled][:1]
        if index + 1 < len(local):
            ends.append(local[index + 1][1])
        per_step[f"{name} (local)"] += max(min(ends, default=scheduled) - scheduled, 0.0)
        per_step_count[f"{name} (local)"] += 1
    card = [s for s in activities.values() if s["queue"].startswith(contract.CARD_TASK_QUEUE_PREFIX)]
    net = [s for s in activities.values() if not s["queue"].startswith(contract.CARD_TASK_QUEUE_PREFIX)]
    started_tasks = [t for t in tasks.values() if "started" in t]
    return {
        "events": len(events),
        "activities": len(activities),
        "local_activities": len(local),
        "workflow_tasks": len(tasks),
        "wall": wall,
        "span": _seconds(events[-1]) - _seconds(events[0]),
        "to_start": _seconds(events[0]) - submitted,
        "from_end": received - _seconds(events[-1]),
        "card_count": len(card),
        "net_count": len(net),
        "card_exec": sum(s["closed"] - s["started"] for s in card),
        "net_exec": sum(s["closed"] - s["started"] for s in net),
        "activity_queue": sum(s["started"] - s["scheduled"] for s in activities.values()),
        "task_queue": sum(t["started"] - t["scheduled"] for t in started_tasks),
        "task_run": sum(t["closed"] - t["started"] for t in started_tasks if "closed" in t),
        "per_step": dict(per_step),
        "per_step_count": dict(per_step_count),
    }


# --- report ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f} ms"


def per_task(total: float, count: int) -> str:
    return f"({total / count * 1000:.1f} ms each)" if count else ""


def report(timings: Timings, args, variants: list[Variant], floor_steps: list[bool]) -> None:
    a, b, c = timings.runs["a"], timings.runs["b"], timings.runs["c"]
    baseline = "fresh PC/SC connection and ES9+ client per download" if args.cold_baseline \
        else "PC/SC connection and ES9+ client kept open (as the engine keeps its own)"
    print(f"\nprofile size {args.size} bytes, {args.runs} timed runs per mode ({args.order}), "
          f"{args.warmup} untimed warm-up per mode")
    print(f"(a) baseline: {baseline}")
    for variant in variants:
        print(f"(b) and (c) MONKEYPATCHED, not the shipped setting: {variant.label}")
    local = sum(floor_steps)
    print(f"(c) floor: {len(floor_steps)} no-op steps ({local} local, {len(floor_steps) - local} regular activities), "
          "same server, client and workflow runner")
    print("\nrun      (a) library   (b) engine    (c) floor")
    for number, (ta, tb, tc) in enumerate(zip(a, b, c), 1):
        print(f"{number:3d}      {ms(ta)}    {ms(tb)}    {ms(tc)}")
    med_a, med_b, med_c = statistics.median(a), statistics.median(b), statistics.median(c)
    print(f"\n(a) protocol library  median {ms(med_a)}  min {ms(min(a))}")
    print(f"(b) Temporal engine   median {ms(med_b)}  min {ms(min(b))}")
    print(f"(c) Temporal floor    median {ms(med_c)}  min {ms(min(c))}")
    ratio = med_b / med_a
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"ratio b/a (medians)   {ratio:.2f}   (min/min {min(b) / min(a):.2f}; target <= {TARGET_RATIO}: {verdict})")
    overhead = med_b - med_a
    over_floor = overhead / med_c
    verdict = "meets" if over_floor <= TARGET_OVER_FLOOR else "MISSES"
    print(f"\nengine overhead over the library (b - a)   {ms(overhead)}")
    print(f"Temporal's floor for the same steps (c)    {ms(med_c)}")
    print(f"overhead / floor (medians)                 {over_floor:7.2f}    "
          f"(target <= {TARGET_OVER_FLOOR}: {verdict})")

    cpu = {mode: statistics.median(values) for mode, values in timings.cpu.items()}
    print(f"\nCPU of this process per run (client, worker, LPA; medians; (a), (b) include the removal): "
          f"a {ms(cpu['a']).strip()}, b {ms(cpu['b']).strip()}, c {ms(cpu['c']).strip()}")

    h = timings.histories
    med = lambda key: statistics.median(x[key] for x in h)  # noqa: E731
    first = h[0]
    print(f"\nDownloadProfile workflow history: {first['events']} events "
          f"({first['activities']} activities, {first['local_activities']} local activities, "
          f"{first['workflow_tasks']} workflow tasks)")
    print("\nwhere (b) spends its time (medians over the timed runs):")
    print(f"  client wall time                                  {ms(med('wall'))}")
    print(f"  DownloadProfile span (first to last event)        {ms(med('span'))}")
    if first["activities"]:
        print(f"    card activities executing ({first['card_count']:2d})                 {ms(med('card_exec'))}")
        print(f"    net activities executing ({first['net_count']:2d})                  {ms(med('net_exec'))}")
        print(f"    activities waiting for a worker (sched->start)  {ms(med('activity_queue'))} "
              f"{per_task(med('activity_queue'), first['activities'])}")
    print(f"    workflow tasks waiting (sched->start)           {ms(med('task_queue'))} "
          f"{per_task(med('task_queue'), first['workflow_tasks'])}")
    print(f"    workflow tasks running (local activities incl.) {ms(med('task_run'))} "
          f"{per_task(med('task_run'), first['workflow_tasks'])}")
    accounted = ("card_exec", "net_exec", "activity_queue", "task_queue", "task_run")
    rest = med("span") - sum(med(key) for key in accounted)
    print(f"    rest (server bookkeeping between events)        {ms(rest)}")
    print(f"  outside DownloadProfile (entity workflow, client) {ms(med('wall') - med('span'))}")
    print(f"    submit -> DownloadProfile started               {ms(med('to_start'))}")
    print(f"    DownloadProfile completed -> result at client   {ms(med('from_end'))}")
    print("\n  per step (median per download; remote: execution only, local: schedule to next schedule):")
    names = sorted(first["per_step"], key=lambda n: -statistics.median(x["per_step"].get(n, 0.0) for x in h))
    for name in names:
        value = statistics.median(x["per_step"].get(name, 0.0) for x in h)
        print(f"    {name:44s} x{first['per_step_count'][name]}  {ms(value)}")
    print("\n  (a) for comparison (median per download):")
    for part, values in sorted(timings.direct_parts.items(), key=lambda item: -statistics.median(item[1])):
        print(f"    {part:44s}     {ms(statistics.median(values))}")


# --- main -----------------------------------------------------------------------------------------------


async def measure(args, lab: LabView, address: str, workdir: Path, worker_options: dict,
                  floor_worker_kwargs: dict) -> tuple[Timings, list[bool]]:
    config = TemporalConfig(address=address, codec_key=os.urandom(32),
                            device_registry=workdir / "devices.sqlite3", history_path=workdir / "history.sqlite3")
    client = await connect(config)
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    unknown = set(worker_options) - set(WorkerOptions.__dataclass_fields__)
    if unknown:
        raise SystemExit(f"this engine's WorkerOptions has no {sorted(unknown)}: variant not measurable")
    options = WorkerOptions(config=config, net=True, card_host=f"{CARD_HOST}-{task_queue}", readers=[lab.reader],
                            task_queue=task_queue, ca_file=lab.ca_file, connect_overrides=lab.connect_overrides,
                            **worker_options)
    worker = EsimflowWorker(client, options)
    worker.build()
    floor_queue = f"{task_queue}-floor"
    floor_worker = Worker(client, task_queue=floor_queue, workflows=[NoOpStepsWorkflow], activities=[no_op_step],
                          **{"workflow_runner": workflow_runner(), **floor_worker_kwargs})
    if [d.eid for d in worker.devices] != [lab.eid]:
        raise SystemExit(f"the worker does not serve eUICC {lab.eid} in {lab.reader}")
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    timings = Timings()
    try:
        async with floor_worker, DownloadBench(lab, client, task_queue, cold_baseline=args.cold_baseline) as bench:
            bench.floor_queue = floor_queue
            for mode in "abc":
                if mode == "c":  # the floor copies the steps the engine's warm-up download took
                    bench.floor_steps = await step_kinds(client, bench.last_workflow_id)
                for _ in range(args.warmup):
                    elapsed = await bench.one(mode, None)
                    print(f"warm-up ({mode}) {ms(elapsed)}", flush=True)
            if args.order == "alternate":
                schedule = [mode for _ in range(args.runs) for mode in "abc"]
            else:
                schedule = ["a"] * args.runs + ["b"] * args.runs + ["c"] * args.runs
            for mode in schedule:
                elapsed = await bench.one(mode, timings)
                print(f"({mode}) {ms(elapsed)}", flush=True)
    finally:
        stop.set()
        await running
    return timings, bench.floor_steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed downloads per mode")
    parser.add_argument("--size", type=int, default=30 * 1024, help="profile size in bytes")
    parser.add_argument("--order", choices=("alternate", "blocks"), default="alternate",
                        help="a,b,c,a,b,c,... or all (a), then all (b), then all (c)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed downloads per mode first")
    parser.add_argument("--cold-baseline", action="store_true",
                        help="(a) opens its PC/SC connection and ES9+ client inside the timed section")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), default=[],
                        help="measure with a monkeypatched engine/server setting (repeatable)")
    parser.add_argument("--lab-here", action="store_true",
                        help="run the lab SM-DP+ and virtual eUICC in this process, not in their own")
    parser.add_argument("--reader-wait", type=float, default=300.0,
                        help="seconds to wait for the vpcd reader another run holds")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.warmup < 1:
        parser.error("--warmup must be at least 1: the floor (c) copies the steps of the warm-up download")

    variants = [VARIANTS[name] for name in args.variant]
    worker_kwargs = {k: v for variant in variants for k, v in variant.worker_kwargs.items()}
    worker_options = {k: v for variant in variants for k, v in variant.worker_options.items()}
    server_args = tuple(arg for variant in variants for arg in variant.server_args)
    if worker_kwargs:
        patch_workers(worker_kwargs)
    for variant in variants:
        if variant.patch:
            PATCHES[variant.patch]()

    workdir = Path(tempfile.mkdtemp(prefix="esimflow-bench-download-"))
    start_lab = lab_here if args.lab_here else lab_process
    try:
        with start_lab(workdir / "lab", args.size, args.reader_wait) as lab, \
                dev_server_with(server_args, workdir / "temporal.log") as server:
            where = "this process" if args.lab_here else "its own process"
            print(f"Temporal dev server {server.address}; lab in {where}: SM-DP+ {lab.smdp_address}, "
                  f"eUICC {lab.eid} in \"{lab.reader}\"", flush=True)
            timings, floor_steps = asyncio.run(
                measure(args, lab, server.address, workdir, worker_options, worker_kwargs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(timings, args, variants, floor_steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
