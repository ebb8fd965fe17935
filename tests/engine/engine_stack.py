"""The engine as a test runs it: real workers (workflow, net and card queues) in this process,
serving in-process virtual eUICCs and/or PC/SC readers, against the lab SM-DP+."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from esimflow import contract
from esimflow.client import OperationHandle, run_operation, start_operation
from esimflow.config import TemporalConfig
from esimflow.history import open_history
from esimflow.workers.run import EsimflowWorker, WorkerOptions


_ICCID_NUMBERS = itertools.count(1)


def new_iccid() -> str:
    """An ICCID (Luhn check digit included) no other test of this process used: ICCIDs are
    unique in an SM-DP+ inventory and on an eUICC."""
    digits = f"89490{next(_ICCID_NUMBERS):013d}"
    total = 0
    for index, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return digits + str((10 - total % 10) % 10)


@dataclass
class EngineStack:
    client: Client
    task_queue: str
    config: TemporalConfig
    worker: EsimflowWorker

    @property
    def eids(self) -> list[str]:
        return [device.eid for device in self.worker.devices]

    async def run(self, op_input, **kwargs) -> contract.OperationResult:
        return await run_operation(self.client, op_input, task_queue=self.task_queue, **kwargs)

    async def start(self, op_input, **kwargs) -> OperationHandle:
        return await start_operation(self.client, op_input, task_queue=self.task_queue, **kwargs)

    def history(self):
        return open_history(self.config.history_path)


def engine_config(state_dir: Path, address: str = "localhost:7233") -> TemporalConfig:
    return TemporalConfig(address=address, device_registry=state_dir / "devices.sqlite3",
                          history_path=state_dir / "history.sqlite3")


@contextlib.asynccontextmanager
async def running_engine(client: Client, state_dir: Path, task_queue: str, *, smdp=None,
                         cards: dict | None = None, readers: list[str] | None = None,
                         net: bool = True, **options) -> AsyncIterator[EngineStack]:
    """Workers on ``task_queue`` (card host named after it) until the block ends; ``options``
    go to :class:`WorkerOptions` (e.g. ``os_image_dir``)."""
    config = engine_config(state_dir)
    options = WorkerOptions(
        config=config, net=net, card_host=task_queue if (cards or readers) else None,
        local_cards=dict(cards or {}), readers=list(readers or []), task_queue=task_queue,
        ca_file=smdp.ca_file if smdp is not None else None,
        connect_overrides=smdp.connect_overrides if smdp is not None else {},
        **options,
    )
    worker = EsimflowWorker(client, options)
    worker.build()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        yield EngineStack(client, task_queue, config, worker)
    finally:
        await _end_entities(client, [device.eid for device in worker.devices])
        stop.set()
        await running


async def _end_entities(client: Client, eids: list[str]) -> None:
    """Terminate the test's entity workflows and what they run: on the shared servers they would
    otherwise wake up later with no worker to serve them (and stall the time-skipping server)."""
    for eid in eids:
        entity = client.get_workflow_handle(contract.euicc_workflow_id(eid))
        with contextlib.suppress(Exception):
            status = await asyncio.wait_for(entity.query(contract.QUERY_QUEUE, result_type=contract.EntityStatus), 10)
            for workflow_id in [status.running, *status.queued]:
                if workflow_id:
                    with contextlib.suppress(Exception):
                        await client.get_workflow_handle(workflow_id).terminate("test ended")
        with contextlib.suppress(Exception):
            await entity.terminate("test ended")
