"""The device registry kept in Temporal (``ESIMFLOW_DEVICE_REGISTRY=temporal``): what card
hosts announce, found by EID with two DescribeWorkflowExecution calls (the workflows' memos) and
listed from one visibility query.

Card hosts call ``serve`` (announce, then renew the host's lease until stopped, then withdraw);
the engine's activities call ``lookup``/``find``/``all``/``lookup_many``. Those are synchronous
(the activities run on threads, as they do for the SQLite registry) and run their calls on the
event loop the registry was made on.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import TypeVar

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from esimflow.contract import WORKFLOW_TASK_QUEUE, DeviceInfo
from esimflow.devices import DeviceNotFoundError, match_device
from esimflow.routing.workflows import (
    CARD_LOCATION_WORKFLOW,
    MEMO_ALIVE,
    MEMO_DEVICE,
    SIGNAL_ALIVE,
    SIGNAL_ANNOUNCE,
    SIGNAL_RETIRE,
    SIGNAL_WITHDRAW,
    Announcement,
    Beat,
    CardHostState,
    CardHostWorkflow,
    CardLocationState,
    CardLocationWorkflow,
    Withdrawal,
    card_host_id,
    card_location_id,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

LEASE = timedelta(seconds=60)
"""A card host renews every third of it; a host silent for a whole lease is gone and its cards
are not found (operations for them fail with DeviceNotFound instead of waiting)."""
CONCURRENT_SIGNALS = 64
DESCRIBE_TIMEOUT = timedelta(seconds=10)


class TemporalDeviceRegistry:
    def __init__(self, client: Client, *, task_queue: str = WORKFLOW_TASK_QUEUE, lease: timedelta = LEASE) -> None:
        self.client = client
        self.task_queue = task_queue
        self.lease = lease
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def __repr__(self) -> str:
        return f"TemporalDeviceRegistry(namespace={self.client.namespace!r}, task_queue={self.task_queue!r})"

    # --- card hosts

    def claim(self, devices: Iterable[DeviceInfo]) -> None:
        """Nothing to do before serving: ``serve`` announces (it needs the event loop)."""

    async def announce(self, devices: Iterable[DeviceInfo]) -> None:
        """Claim each card for its host (the last announcement wins)."""
        await self._each(devices, lambda device: self.client.start_workflow(
            CardLocationWorkflow.run, CardLocationState(device.eid), id=card_location_id(device.eid),
            task_queue=self.task_queue, start_signal=SIGNAL_ANNOUNCE, start_signal_args=[Announcement(device)],
            memo={MEMO_DEVICE: device}, static_summary=f"eUICC {device.eid} on {device.card_host}"))

    async def withdraw(self, devices: Iterable[DeviceInfo]) -> None:
        """Give the cards up, unless another host has claimed them since."""
        async def one(device: DeviceInfo) -> None:
            try:
                await self.client.get_workflow_handle(card_location_id(device.eid)).signal(
                    SIGNAL_WITHDRAW, Withdrawal(device.card_host))
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise

        await self._each(devices, one)

    async def renew(self, card_host: str, cards: int) -> None:
        await self.client.start_workflow(
            CardHostWorkflow.run, CardHostState(card_host, self.lease.total_seconds()), id=card_host_id(card_host),
            task_queue=self.task_queue, start_signal=SIGNAL_ALIVE,
            start_signal_args=[Beat(self.lease.total_seconds(), cards)], memo={MEMO_ALIVE: True},
            static_summary=f"card host {card_host}")

    async def retire(self, card_host: str) -> None:
        try:
            await self.client.get_workflow_handle(card_host_id(card_host)).signal(SIGNAL_RETIRE)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise

    async def serve(self, card_host: str, devices: list[DeviceInfo], stop: asyncio.Event, *,
                    present: Callable[[list[DeviceInfo]], list[DeviceInfo]] | None = None) -> None:
        """Announce ``devices``, keep the host's lease until ``stop``, then withdraw them. At each
        renewal ``present`` (if given) says which are still attached (a reader unplugged, a
        modem gone): the others are withdrawn at once. A renewal that fails (Temporal
        unreachable) is retried at the next interval; the lease outlives two missed renewals."""
        served = list(devices)
        await self.renew(card_host, len(served))
        await self.announce(served)
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.lease.total_seconds() / 3)
                except TimeoutError:
                    try:
                        if present is not None:
                            attached = await asyncio.to_thread(present, served)
                            lost = [device for device in served if device not in attached]
                            if lost:
                                log.warning("card host %s: %d card(s) gone, withdrawn: %s", card_host, len(lost),
                                            ", ".join(device.eid for device in lost))
                                await self.withdraw(lost)
                                served = [device for device in served if device in attached]
                        await self.renew(card_host, len(served))
                    except RPCError as error:
                        log.warning("card host %s: lease not renewed: %s", card_host, error)
        finally:
            await self.withdraw(served)
            await self.retire(card_host)

    async def _each(self, devices: Iterable[DeviceInfo], call) -> None:
        limit = asyncio.Semaphore(CONCURRENT_SIGNALS)

        async def bounded(device: DeviceInfo) -> None:
            async with limit:
                await call(device)

        await asyncio.gather(*(bounded(device) for device in devices))

    # --- the engine (async)

    async def locate(self, eid: str) -> DeviceInfo:
        """Two DescribeWorkflowExecution calls (the card's location, its host's lease), read
        from the server's state of each workflow: no worker needed."""
        device = await self._memo(card_location_id(eid), MEMO_DEVICE, DeviceInfo)
        if device is None:
            raise DeviceNotFoundError(f"no card host serves eUICC {eid}")
        if not await self._memo(card_host_id(device.card_host), MEMO_ALIVE, bool):
            raise DeviceNotFoundError(f"eUICC {eid} was announced by card host {device.card_host}, which is "
                                      f"gone: stopped, or cut off from Temporal for longer than its lease")
        return device

    async def _memo(self, workflow_id: str, key: str, type_hint: type):
        """``key`` of the memo of the running workflow ``workflow_id``; None when it does not
        run (never started, ended)."""
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe(rpc_timeout=DESCRIBE_TIMEOUT)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        if description.status != WorkflowExecutionStatus.RUNNING:
            return None
        return await description.memo_value(key, None, type_hint=type_hint)

    async def announced(self) -> list[DeviceInfo]:
        """Every card a live host announces, by host and reader."""
        devices = []
        query = (f'WorkflowType = "{CARD_LOCATION_WORKFLOW}" AND ExecutionStatus = "Running"'
                 f' AND TaskQueue = "{self.task_queue}"')
        async for execution in self.client.list_workflows(query):
            if execution.status != WorkflowExecutionStatus.RUNNING:
                continue
            device = await execution.memo_value(MEMO_DEVICE, None, type_hint=DeviceInfo)
            if device is not None:
                devices.append(device)
        hosts = sorted({device.card_host for device in devices})
        answers = await asyncio.gather(*(self._memo(card_host_id(host), MEMO_ALIVE, bool) for host in hosts))
        alive = {host for host, answer in zip(hosts, answers) if answer}
        live = [d for d in devices if d.card_host in alive]
        return sorted(live, key=lambda d: (d.card_host, d.reader))

    # --- the registry interface the activities use (from their threads)

    def _run(self, call: Awaitable[T]) -> T:
        if self._loop is None:
            raise RuntimeError("TemporalDeviceRegistry made outside an event loop cannot run lookups")
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()

    def lookup(self, eid: str) -> DeviceInfo:
        return self._run(self.locate(eid))

    def lookup_many(self, eids: Iterable[str]) -> dict[str, DeviceInfo]:
        async def found() -> dict[str, DeviceInfo]:
            unique = sorted(set(eids))
            results = await asyncio.gather(*(self.locate(eid) for eid in unique), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, DeviceNotFoundError):
                    raise result
            return {eid: r for eid, r in zip(unique, results) if isinstance(r, DeviceInfo)}

        return self._run(found())

    def find(self, device: str) -> DeviceInfo:
        return match_device(self.all(), device)

    def all(self) -> list[DeviceInfo]:
        return self._run(self.announced())
