"""Routing without a shared file: card hosts announce their cards to Temporal, the engine finds
a card where its last host announced it, and a card no live host serves is not found within a
bounded time. Real workers on the session's dev server, an in-process virtual eUICC."""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta

import pytest
from temporalio.worker import Worker

from esimflow import contract
from esimflow.client import run_operation
from esimflow.contract import DeviceInfo
from esimflow.config import TemporalConfig
from esimflow.devices import DeviceNotFoundError
from esimflow.routing.registry import TemporalDeviceRegistry
from esimflow.routing.workflows import ROUTING_WORKFLOWS, card_host_id, card_location_id
from esimflow.workers.run import EsimflowWorker, WorkerOptions

pytestmark = [pytest.mark.temporal]

LEASE = timedelta(seconds=3)


def device(eid: str, host: str, reader: str = "local:card") -> DeviceInfo:
    return DeviceInfo(eid, host, reader, reader.split(":")[1], workflow_task_queue=contract.card_task_queue(host))


@contextlib.asynccontextmanager
async def routing_worker(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=ROUTING_WORKFLOWS):
        yield


async def eventually(check, *, within: float):
    deadline = time.monotonic() + within
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_the_last_host_wins_a_withdrawal_by_the_old_host_is_ignored_and_a_silent_host_loses_its_cards(
        dev_client, unique_task_queue, fresh_eid):
    EID = fresh_eid
    host_a, host_b, host_c = (f"{name}-{uuid.uuid4().hex[:6]}" for name in "abc")
    registry = TemporalDeviceRegistry(dev_client, task_queue=unique_task_queue, lease=LEASE)
    async with routing_worker(dev_client, unique_task_queue):
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        serving_a = asyncio.create_task(registry.serve(host_a, [device(EID, host_a)], stop_a))

        async def located_at(host):
            try:
                found = await asyncio.to_thread(registry.lookup, EID)
            except DeviceNotFoundError as error:
                raise AssertionError(error.message) from None
            assert found.card_host == host
            return found

        assert (await eventually(lambda: located_at(host_a), within=10)).reader == "local:card"
        serving_b = asyncio.create_task(registry.serve(host_b, [device(EID, host_b, "pcsc:Reader 1")], stop_b))
        assert (await eventually(lambda: located_at(host_b), within=10)).reader == "pcsc:Reader 1"

        stop_a.set()
        await serving_a  # host a withdraws the card it no longer holds: ignored
        assert (await located_at(host_b)).name == "Reader 1"

        async def listed():
            announced = [d for d in await asyncio.to_thread(registry.all) if d.eid == EID]
            assert [(d.card_host, d.reader) for d in announced] == [(host_b, "pcsc:Reader 1")]

        await eventually(listed, within=10)
        stop_b.set()
        await serving_b

        async def withdrawn():  # once the routing workflows have taken the withdrawal in
            try:
                found = await asyncio.to_thread(registry.lookup, EID)
            except DeviceNotFoundError as error:
                assert f"no card host serves eUICC {EID}" in error.message
                return
            raise AssertionError(f"still routed to {found.card_host}")

        await eventually(withdrawn, within=10)

        # a host killed without withdrawing: announced, renewed once, then silent
        await registry.renew(host_c, 1)
        await registry.announce([device(EID, host_c)])
        await eventually(lambda: located_at(host_c), within=10)
        silent_since = time.monotonic()

        async def gone():
            try:
                found = await asyncio.to_thread(registry.lookup, EID)
            except DeviceNotFoundError as error:
                assert f"card host {host_c}, which is gone" in error.message
                return
            raise AssertionError(f"still routed to {found.card_host}")

        await eventually(gone, within=LEASE.total_seconds() + 10)
        assert time.monotonic() - silent_since < LEASE.total_seconds() + 10
        assert EID not in {d.eid for d in await asyncio.to_thread(registry.all)}
        await registry.withdraw([device(EID, host_c)])
        await registry.retire(host_c)
        for workflow_id in (card_location_id(EID), card_host_id(host_c), card_host_id(host_a), card_host_id(host_b)):
            await dev_client.get_workflow_handle(workflow_id).result()  # all ended: nothing left running


@contextlib.asynccontextmanager
async def worker_process(client, options: WorkerOptions):
    """One esimflow worker process's workers, as ``esimflow worker`` runs them."""
    worker = EsimflowWorker(client, options)
    worker.build()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await running


async def test_operations_follow_the_card_to_its_new_host_and_fail_fast_once_no_host_serves_it(
        dev_client, unique_task_queue, lab_pki, fresh_eid, tmp_path):
    from rsplab.euicc.card import VirtualEuicc

    config = TemporalConfig(address="unused", device_registry="temporal", history_path=tmp_path / "history.sqlite3")
    engine = WorkerOptions(config=config, net=True, task_queue=unique_task_queue,
                           graceful_shutdown=timedelta(seconds=1))
    hosts = [f"{unique_task_queue}-{name}" for name in ("a", "b")]

    def card_host(name: str, card) -> WorkerOptions:
        return WorkerOptions(config=config, net=False, card_host=name, local_cards={"card": card},
                             task_queue=unique_task_queue, graceful_shutdown=timedelta(seconds=1))

    async def list_profiles_runs_on(host: str) -> None:
        result = await run_operation(dev_client, contract.ListProfilesInput(fresh_eid), task_queue=unique_task_queue)
        assert result.ok, result
        description = await dev_client.get_workflow_handle(result.workflow_id).describe()
        assert description.task_queue == contract.card_task_queue(host)

    async def devices_listed() -> list[tuple[str, str]]:
        result = await run_operation(dev_client, contract.ListDevicesInput(), task_queue=unique_task_queue)
        assert result.ok, result
        return [(d["card_host"], d["reader"]) for d in result.data["devices"] if d["eid"] == fresh_eid]

    with VirtualEuicc(lab_pki.root, tmp_path / "euicc.json", eid=fresh_eid) as card:
        async with worker_process(dev_client, engine):
            async with worker_process(dev_client, card_host(hosts[0], card)):
                await eventually(lambda: list_profiles_runs_on(hosts[0]), within=20)

                async def listed_on_a():
                    assert await devices_listed() == [(hosts[0], "local:card")]

                await eventually(listed_on_a, within=20)
                async with worker_process(dev_client, card_host(hosts[1], card)):  # the card moved
                    await eventually(lambda: list_profiles_runs_on(hosts[1]), within=20)
                # host a stops after b took the card: its withdrawal does not take it from b
            registry = TemporalDeviceRegistry(dev_client, task_queue=unique_task_queue)

            async def withdrawn():  # the routing workflows have taken b's withdrawal in
                try:
                    found = await asyncio.to_thread(registry.lookup, fresh_eid)
                except DeviceNotFoundError:
                    return
                raise AssertionError(f"still routed to {found.card_host}")

            await eventually(withdrawn, within=10)
            started = time.monotonic()
            result = await run_operation(dev_client, contract.ListProfilesInput(fresh_eid), task_queue=unique_task_queue)
            assert (result.ok, result.error_kind, result.win_status_name) == (False, "device.not_found", "NotFound")
            assert time.monotonic() - started < 30
            assert await devices_listed() == []
            with contextlib.suppress(Exception):  # nothing left to wake up on the shared server
                await dev_client.get_workflow_handle(contract.euicc_workflow_id(fresh_eid)).terminate("test ended")


async def test_a_card_whose_reader_is_gone_is_withdrawn_at_the_next_renewal(dev_client, unique_task_queue, fresh_eid):
    host = f"unplugged-{uuid.uuid4().hex[:6]}"
    registry = TemporalDeviceRegistry(dev_client, task_queue=unique_task_queue, lease=LEASE)
    unplugged = asyncio.Event()
    stop = asyncio.Event()
    async with routing_worker(dev_client, unique_task_queue):
        serving = asyncio.create_task(registry.serve(
            host, [device(fresh_eid, host)], stop, present=lambda served: [] if unplugged.is_set() else served))

        async def routed():
            try:
                assert (await asyncio.to_thread(registry.lookup, fresh_eid)).card_host == host
            except DeviceNotFoundError as error:
                raise AssertionError(error.message) from None

        await eventually(routed, within=10)
        unplugged.set()

        async def withdrawn():
            try:
                await asyncio.to_thread(registry.lookup, fresh_eid)
            except DeviceNotFoundError as error:
                assert "no card host serves" in error.message  # withdrawn, not just a silent host
                return
            raise AssertionError("still routed")

        await eventually(withdrawn, within=LEASE.total_seconds())
        stop.set()
        await serving
        await dev_client.get_workflow_handle(card_host_id(host)).result()


def test_a_reader_is_attached_while_its_device_exists(tmp_path):
    from esimflow.devices import still_attached

    modem = tmp_path / "ttyUSB2"
    modem.touch()
    devices = [DeviceInfo("1" * 32, "h", "local:card"), DeviceInfo("2" * 32, "h", f"at:{modem}"),
               DeviceInfo("3" * 32, "h", f"at:{tmp_path / 'ttyUSB9'}")]
    assert [d.eid for d in still_attached(devices)] == ["1" * 32, "2" * 32]
    modem.unlink()
    assert [d.eid for d in still_attached(devices)] == ["1" * 32]
