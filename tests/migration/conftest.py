"""Shared by the migration tests: a local Temporal dev server, with esimflow's search
attributes registered at start and the payload codec on."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from esimflow import search_attributes
from esimflow.codec import data_converter
from tests.migration.migration_helpers import KEYRING


def dev_server_path() -> str:
    return str(shutil.which("temporal") or Path(sys.executable).parent / "temporal")


@pytest.fixture(scope="session")
async def dev_env():
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(), data_converter=data_converter(KEYRING),
        search_attributes=list(search_attributes.ALL_KEYS), ui=False,
        dev_server_log_level="error",
    )
    yield environment
    await environment.shutdown()


@pytest.fixture
def client(dev_env) -> Client:
    return dev_env.client


