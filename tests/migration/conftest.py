"""Migration tests run on the session's local dev server (tests/conftest.py) with esimflow's
search attributes registered, as ``esimflow migrate start`` registers them."""
from __future__ import annotations

import pytest
from temporalio.client import Client

from esimflow import search_attributes


@pytest.fixture(scope="session")
async def client(dev_client) -> Client:
    assert await search_attributes.ensure_registered(dev_client)
    return dev_client
