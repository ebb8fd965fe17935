"""What bench_download.py prints at the end: every run, the medians and the targets' verdicts,
the CPU per run and the breakdown of where (b) and (a) spend their time.

Its own module because formatting the figures is a concern apart from measuring them: it reads
only the collected Timings, so the output lines can change without touching the measurement.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from download_variants import Variant

TARGET_RATIO = 1.5
TARGET_OVER_FLOOR = 1.5


@dataclass
class Timings:
    """What the timed runs collected, per mode (a, b, c): all the report reads."""

    runs: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    histories: list[dict] = field(default_factory=list)
    direct_parts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """CPU time of this process per run (client, worker, LPA; not the lab's or the server's),
    the profile's removal included for (a) and (b): steadier than wall time on a shared machine."""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f} ms"


def per_task(total: float, count: int) -> str:
    return f"({total / count * 1000:.1f} ms each)" if count else ""


def report(timings: Timings, args, variants: list[Variant], floor_steps: list[bool]) -> None:
    report_runs(timings, args, variants, floor_steps)
    report_where_time_goes(timings)


def report_runs(timings: Timings, args, variants: list[Variant], floor_steps: list[bool]) -> None:
    """The setup, every run, the medians against the targets and the CPU per run."""
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


def report_where_time_goes(timings: Timings) -> None:
    """(b)'s time from its DownloadProfile histories (medians over the timed runs), then (a)'s parts."""
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
