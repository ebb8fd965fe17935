"""Heartbeats while a step waits on a card or a server, so a worker that dies mid-step is noticed
within the step's heartbeat timeout (seconds) instead of its start-to-close timeout (minutes):
Temporal then retries the step on another worker, or on this one once it is restarted."""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections.abc import Awaitable, Iterator
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")

INTERVAL_SECONDS = 2.0
DETAILS_GAP_SECONDS = 0.5
"""Progress details go to the SDK at most this often: each call costs an encode through the
payload codec on the worker's event loop, and a fast card reports a segment every millisecond
or so (about 35 per 30 KB profile). The server hears of them no more often than every 80% of
the heartbeat timeout anyway, and the side thread repeats the latest details, so a progress
display and a dead worker's recovery see the same as with every segment sent."""


class Heartbeat:
    """Heartbeat now with progress details (the first at once, then at most every
    DETAILS_GAP_SECONDS); the side thread repeats the latest details."""

    def __init__(self) -> None:
        self.details: tuple[object, ...] = ()
        self._sent_at: float | None = None

    def __call__(self, *details: object) -> None:
        self.details = details
        now = time.monotonic()
        if self._sent_at is not None and now - self._sent_at < DETAILS_GAP_SECONDS:
            return
        self._sent_at = now
        if _can_heartbeat():
            activity.heartbeat(*details)


def _can_heartbeat() -> bool:
    """Local activities have no heartbeat (the SDK logs a warning and wastes time per call);
    their liveness is the workflow task's."""
    return activity.in_activity() and not activity.info().is_local


@contextlib.contextmanager
def heartbeating_thread() -> Iterator[Heartbeat]:
    """For sync activities: a side thread heartbeats (with the activity's context) until the
    block ends. Outside an activity (a test calling the code directly) it does nothing."""
    heartbeat = Heartbeat()
    if not _can_heartbeat():
        yield heartbeat
        return
    done = threading.Event()
    context = contextvars.copy_context()

    def beat() -> None:
        while not done.wait(INTERVAL_SECONDS):
            context.run(activity.heartbeat, *heartbeat.details)

    ticker = threading.Thread(target=beat, name="esimflow-heartbeat", daemon=True)
    ticker.start()
    try:
        yield heartbeat
    finally:
        done.set()
        ticker.join()


async def heartbeating(awaitable: Awaitable[T]) -> T:
    """For async activities: await ``awaitable`` while heartbeating."""
    if not _can_heartbeat():
        return await awaitable

    async def beat() -> None:
        while True:
            await asyncio.sleep(INTERVAL_SECONDS)
            activity.heartbeat()

    ticker = asyncio.create_task(beat())
    try:
        return await awaitable
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
