"""A real PostgreSQL server for the tests, from Debian's ``postgresql`` package (``make test``
installs it): ``initdb`` and ``pg_ctl`` in a temporary directory, on a free port of 127.0.0.1,
as an unprivileged user (PostgreSQL refuses to run as root; as root the tests run it as
``nobody``). Each test gets a database of its own (``fresh_database``)."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED_USER = "nobody"
SUPERUSER = "esimflow"


def server_binaries() -> Path:
    """The directory of ``initdb``/``pg_ctl`` (Debian keeps them out of PATH, per major version)."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise FileNotFoundError("PostgreSQL server binaries not found: install Debian's postgresql package "
                            "(make test does)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    directory: Path
    port: int
    binaries: Path
    durable: bool = False
    """False (tests): no fsync, as a test's data need not survive a power cut; True
    (benchmarks): PostgreSQL's own durable defaults, so write rates are honest."""

    @property
    def admin_url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(_as_unprivileged([str(self.binaries / command[0]), *command[1:]]),
                              check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        data = self.directory / "data"
        fast = "" if self.durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.directory / "server.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}{fast}"
                        " -c max_connections=200",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _as_unprivileged(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", UNPRIVILEGED_USER, "--", *command]


def start_server(*, durable: bool = False) -> PostgresServer:
    """initdb in a new temporary directory owned by the unprivileged user, then start."""
    directory = Path(tempfile.mkdtemp(prefix="esimflow-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(directory, user.pw_uid, user.pw_gid)
    server = PostgresServer(directory, free_port(), server_binaries(), durable)
    try:
        server._run("initdb", "-D", str(directory / "data"), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                    "--no-sync", "--no-instructions")
        server.start()
    except subprocess.CalledProcessError as error:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {error.stderr or error.stdout}\n{server.log()}") from None
    return server


def remove(server: PostgresServer) -> None:
    try:
        server.stop("immediate")
    finally:
        shutil.rmtree(server.directory, ignore_errors=True)
