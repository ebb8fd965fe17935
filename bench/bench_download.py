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
monkeypatch that the output labels (see download_variants.py); without it the shipped code is
measured. The history breakdown is read in download_history.py, the output printed by
download_report.py.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from temporalio.worker import Worker

from esimflow import contract
from esimflow.client import start_operation
from esimflow.config import TemporalConfig, connect
from esimflow.workers.run import EsimflowWorker, WorkerOptions
from esimflow.workers.sandbox import workflow_runner
from rsplab.up import Lab, LabOptions, lab_iccid
from sgp22 import es10, lpa
from sgp22.apdu import IsdrChannel
from sgp22.es9 import Es9Client, Es9Config
from carddrivers.pcsc import PcscTransport
from download_history import history_breakdown, step_kinds
from download_report import Timings, ms, report
from download_variants import PATCHES, VARIANTS, dev_server_with, patch_workers
from temporal_floor import NoOpStepsInput, NoOpStepsWorkflow, no_op_step

CARD_HOST = "bench"


# --- the stack ------------------------------------------------------------------------------------


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
