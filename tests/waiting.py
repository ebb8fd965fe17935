"""Waiting in tests for something another process or workflow makes true."""
from __future__ import annotations

import asyncio
import time


async def until(predicate, what: str, timeout: float = 60.0):
    """Poll ``predicate`` (async, returns a truthy value when satisfied) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
