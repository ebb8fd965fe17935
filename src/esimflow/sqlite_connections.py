"""One SQLite connection per thread for the engine's local files (history, migration store).

Activities run on thread pools; a connection must not cross threads, so each thread opens its
own, in WAL mode (readers never wait for the writer; ``synchronous=NORMAL`` stays durable across
a crash of the process), and all of them are closed together.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 30.0


class ThreadConnections:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's connection (autocommit: callers BEGIN and COMMIT themselves)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()
