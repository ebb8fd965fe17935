"""The ``esimflow worker`` process: card host mode, net mode, or both in one process.

- **net** mode polls the workflow queue (workflows, plus the registry and history as local
  activities) and its network queue (ES9+/ES11 steps). Any number of hosts may run it.
- **card host** mode serves the cards one host can reach: PC/SC readers and in-process virtual
  eUICCs. At start it reads each card's EID and claims EID -> (its queue, reader) in the
  device registry (``esimflow.devices``: announced to Temporal, or the host's SQLite file), so
  workflows send that card's steps here; at shutdown it gives them up.
  By default it also runs the operations on its cards (their steps as local activities, which
  costs one server round trip per workflow task instead of one per step), so it needs the SM-DP+
  network access and the registry and history files too; ``card_host_runs_workflows=False``
  leaves workflows and network steps to net-mode workers elsewhere.

Shutdown is graceful: on SIGINT/SIGTERM the workers stop polling and let running activities
finish (up to ``graceful_shutdown``); anything cut off is retried by Temporal elsewhere or on
restart.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from esimflow.activities.card import CardActivities
from carddrivers.spec import ReaderSpec, normalise
from esimflow.activities.card_access import CardHold, CardPool
from esimflow.activities.engine import EngineActivities
from esimflow.activities.osu_images import OsImageSource
from esimflow.contract import WORKFLOW_TASK_QUEUE, DeviceInfo, card_task_queue, net_task_queue
from esimflow.config import TemporalConfig, connect
from esimflow.devices import still_attached
from esimflow.registries import open_registry
from esimflow.workflows.device_migration import DeviceMigrationWorkflow
from esimflow.workers.sandbox import workflow_runner
from sgp22.errors import BadInputError, EsimError, StatusWordError
from sgp22.masking import check_no_secret

log = logging.getLogger(__name__)


@dataclass
class WorkerOptions:
    """What one worker process serves.

    ``readers``: reader specs (``pcsc:<name>``, ``at:<serial device>?...``, see
    ``carddrivers.spec``) or plain PC/SC reader names; ``local_cards``: in-process cards by name
    (anything with ``transmit``, e.g. ``rsplab.euicc.VirtualEuicc``). ``card_hold``: keep each
    card for the worker's life, or release it ``card_release_after`` seconds after the last step
    so other tools can use the reader between operations (docs/card-drivers.md).
    ``ca_file``: the CA that SM-DP+ TLS certificates must chain to (None: the system store);
    ``connect_overrides``: ``{"fqdn[:port]": "127.0.0.1:port"}`` for lab servers whose names do
    not resolve (TLS still checks the FQDN).
    """

    config: TemporalConfig = field(default_factory=TemporalConfig.from_env)
    net: bool = True
    card_host: str | None = None
    readers: list[str] = field(default_factory=list)
    local_cards: dict[str, object] = field(default_factory=dict)
    task_queue: str = WORKFLOW_TASK_QUEUE
    ca_file: Path | None = None
    connect_overrides: dict[str, str] = field(default_factory=dict)
    card_threads: int = 8
    os_image_dir: Path | None = None  # eUICC OS images this card host offers (docs/osu.md)
    card_host_runs_workflows: bool = True
    """Run the operations on this host's cards here, their card and network steps as local
    activities (fast: no server round trip per step). False: only serve card steps, and let
    net-mode workers elsewhere run the workflows and network steps."""
    graceful_shutdown: timedelta = timedelta(seconds=30)
    sticky_queue_timeout: timedelta = timedelta(seconds=10)
    """How long a workflow's next task waits for this worker (on its sticky queue) before any
    worker takes it: after this worker died, every workflow it ran waits this long once."""
    card_hold: CardHold = CardHold.WORKER
    card_release_after: float = 2.0
    max_cached_workflows: int = 300
    """Workflows each of this process's workers keeps in memory between their tasks (Temporal's
    sticky cache; an evicted one is replayed from its history when it next has work). About
    180 KB each (bench/RESULTS.md). Idle entities fill it: one per card that ran an operation
    in the last ``EntityInput.idle_seconds``, so Temporal's default (1,000) made a worker grow
    by 180 MB over the first 1,000 cards of a migration, for workflows that wait for nothing.
    Raise it above the operations one worker runs at once."""
    card_lease: timedelta | None = None
    """How long this card host's cards stay routed here after its last renewal, with the
    ``temporal`` registry (None: ``esimflow.routing.registry.LEASE``, 60 s): how long an
    operation may wait for a host that was killed before it fails."""

    def validate(self) -> None:
        if not self.net and not self.card_host:
            raise BadInputError("a worker needs net mode, a card host name, or both")
        if (self.readers or self.local_cards) and not self.card_host:
            raise BadInputError("serving readers or in-process cards needs a card host name (--card-host)")
        if self.card_host and not (self.readers or self.local_cards):
            raise BadInputError(f"card host {self.card_host!r} serves no reader and no in-process card")
        # both name task queues, which the server keeps in plain text
        check_no_secret(self.task_queue, "task queue")
        if self.card_host:
            check_no_secret(self.card_host, "card host name")


class WorkerStartError(EsimError):
    """The worker cannot serve what it was asked to (a card on which no session opens, or no
    card at all): it stops at once instead of running while serving nothing."""

    kind = "worker.start"


def served_cards(pool: CardPool, card_host: str, specs: list[str], *,
                 workflow_task_queue: str = "") -> list[DeviceInfo]:
    """Take each card over: close the logical channels an earlier process left open (a killed
    worker leaks one each time, and a card has few) and read its EID.

    A reader without a card is reported and skipped, so one empty reader does not keep the
    others from being served; a card that refuses a session, or a host left with no card at
    all, fails the start with a WorkerStartError."""
    found, skipped = [], []
    for spec in specs:
        try:
            reclaimed = pool.reclaim_channels(spec)
            if reclaimed:
                log.warning("closed logical channel(s) %s that an earlier process left open on %s",
                            ", ".join(map(str, reclaimed)), spec)
            found.append((spec, pool.eid_of(spec)))
        except StatusWordError as error:  # the card is there but no ISD-R session opens
            raise WorkerStartError(f"cannot open an ISD-R session on the card in {spec}: {error.message}") from None
        except EsimError as error:
            log.warning("not serving %s: %s", spec, error.message)
            skipped.append(f"{spec}: {error.message}")
    if not found:
        raise WorkerStartError(f"card host {card_host} has no eUICC to serve ({'; '.join(skipped)})")
    served = []
    for spec, eid in found:  # registered only once the start cannot fail any more
        device = DeviceInfo(eid=eid, card_host=card_host, reader=spec, name=ReaderSpec.parse(spec).target,
                            workflow_task_queue=workflow_task_queue)
        served.append(device)
        log.info("serving eUICC %s in %s on %s", eid, spec, card_task_queue(card_host))
    return served


class EsimflowWorker:
    """The Temporal workers of one process, started and stopped together."""

    def __init__(self, client: Client, options: WorkerOptions) -> None:
        options.validate()
        self.client = client
        self.options = options
        self.registry = open_registry(options.config.device_registry, client, task_queue=options.task_queue,
                                      lease=options.card_lease)
        self.devices: list[DeviceInfo] = []
        self._workers: list[Worker] = []
        self._executors: list[ThreadPoolExecutor] = []
        self._pool: CardPool | None = None
        self._net = None
        self._history = None

    def _executor(self, size: int, name: str) -> ThreadPoolExecutor:
        executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._executors.append(executor)
        return executor

    def build(self) -> None:
        from esimflow.activities.net import NetActivities
        from esimflow.history import open_history
        from esimflow.routing.workflows import ROUTING_WORKFLOWS
        from esimflow.workflows.catalog import WORKFLOWS

        options = self.options
        card_host_workflows = bool(options.card_host) and options.card_host_runs_workflows
        if options.net or card_host_workflows:
            self._history = open_history(options.config.history_path)
            engine = EngineActivities(self.registry, self._history)
            self._net = NetActivities(ca_file=options.ca_file, connect_overrides=options.connect_overrides)
        if options.net:
            self._workers.append(Worker(
                self.client, task_queue=options.task_queue, workflows=[*WORKFLOWS, *ROUTING_WORKFLOWS],
                activities=engine.activities(), activity_executor=self._executor(4, "esimflow-engine"),
                workflow_runner=workflow_runner(), graceful_shutdown_timeout=options.graceful_shutdown,
                sticky_queue_schedule_to_start_timeout=options.sticky_queue_timeout,
                max_cached_workflows=options.max_cached_workflows,
            ))
            self._workers.append(Worker(
                self.client, task_queue=net_task_queue(options.task_queue), activities=self._net.activities(),
                graceful_shutdown_timeout=options.graceful_shutdown,
            ))
            # Bulk migrations (`esimflow migrate start`) run wherever the engine's workflows run.
            from esimflow.workers.migration import migration_worker, store_for

            self._workers.append(migration_worker(
                self.client, store_for(self.client), self.registry,
                executor=self._executor(200, "esimflow-migration"), graceful_shutdown=options.graceful_shutdown,
                max_cached_workflows=options.max_cached_workflows,
            ))
        if options.card_host:
            queue = card_task_queue(options.card_host)
            self._pool = CardPool(hold=options.card_hold, release_after=options.card_release_after)
            specs = [normalise(reader) for reader in options.readers]
            specs += [self._pool.add_local(name, card) for name, card in options.local_cards.items()]
            try:
                self.devices = served_cards(self._pool, options.card_host, specs,
                                            workflow_task_queue=queue if card_host_workflows else "")
            except EsimError:
                self.close()  # the sessions opened so far, the executors, the history
                raise
            self.registry.claim(self.devices)
            images = OsImageSource(options.os_image_dir) if options.os_image_dir else None
            activities = CardActivities(self._pool, os_images=images).activities()
            workflows = []
            if card_host_workflows:  # operations on these cards run here, their steps as local activities
                activities += self._net.activities() + engine.activities()
                workflows = [*WORKFLOWS, DeviceMigrationWorkflow]  # so do device migrations
            self._workers.append(Worker(
                self.client, task_queue=queue, workflows=workflows, activities=activities,
                activity_executor=self._executor(options.card_threads, "esimflow-card"),
                max_concurrent_activities=options.card_threads,
                workflow_runner=workflow_runner(), graceful_shutdown_timeout=options.graceful_shutdown,
                sticky_queue_schedule_to_start_timeout=options.sticky_queue_timeout,
                max_cached_workflows=options.max_cached_workflows,
            ))

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down gracefully."""
        if not self._workers:
            self.build()
        serving = None
        if self.options.card_host:
            serving = asyncio.create_task(self.registry.serve(self.options.card_host, self.devices, stop,
                                                              present=still_attached))
            # a host whose cards cannot be announced serves nothing: stop, and say why below
            serving.add_done_callback(lambda task: task.cancelled() or task.exception() is None or stop.set())
        try:
            async with contextlib.AsyncExitStack() as stack:
                for worker in self._workers:
                    await stack.enter_async_context(worker)
                await stop.wait()
        finally:
            if serving is not None:
                stop.set()
                await serving
            if self._net is not None:
                await self._net.aclose()
            self.close()

    def close(self) -> None:
        self.devices = []
        if self._pool is not None:
            self._pool.close()
        for executor in self._executors:
            executor.shutdown(wait=False, cancel_futures=True)
        if self._history is not None:
            self._history.close()


async def serve(options: WorkerOptions, *, client: Client | None = None, stop: asyncio.Event | None = None,
                on_ready: Callable[[EsimflowWorker], Awaitable[None] | None] | None = None) -> None:
    """Connect, start the workers and run until SIGINT/SIGTERM (or ``stop``)."""
    client = client or await connect(options.config)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    worker = EsimflowWorker(client, options)
    try:
        worker.build()
        if on_ready is not None:
            ready = on_ready(worker)
            if asyncio.iscoroutine(ready):
                await ready
        await worker.run(stop)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
