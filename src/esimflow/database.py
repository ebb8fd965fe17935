"""The SQL database behind the engine's stores (profile status history, migration store).

Two kinds, one interface, so each store writes its queries once:

- **SQLite** (a file path or ``sqlite:///path``): the embedded default for one host. One
  connection per thread (activities run on thread pools), WAL mode (readers never wait for the
  writer; ``synchronous=NORMAL`` stays durable across a crash of the process), writes take the
  write lock up front (``BEGIN IMMEDIATE``) and wait for it up to ``busy_timeout``. WAL needs
  shared memory, so the file must be on a local disk, never on a network filesystem.
- **PostgreSQL** (``postgresql://...``): the shared store of a deployment that spans hosts.
  A psycopg 3 connection pool (connections checked before use, so a restarted server is
  reconnected to), every transaction read-committed.

Queries use ``?`` placeholders; the PostgreSQL kind turns them into psycopg's ``%s``.
Schema migrations (:func:`migrate`) run when a store opens, each one once per database,
serialised between processes that start at the same time.
"""
from __future__ import annotations

import contextlib
import sqlite3
import time
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sgp22.errors import BadInputError, EsimError, NotSupportedError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")
BUSY_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
"""How long opening a PostgreSQL store waits for the server before it reports it unreachable."""
POOL_SIZE = 10
"""Connections per process and database: activity threads beyond it wait for a free one (up to
``BUSY_TIMEOUT_SECONDS``), which keeps a fleet of workers within PostgreSQL's max_connections."""
_SQLITE_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: text order is time order


def is_postgresql(location: str) -> bool:
    return str(location).startswith(POSTGRESQL_SCHEMES)


def redacted(location: str) -> str:
    """A location fit for messages and logs: a PostgreSQL URL without its password."""
    if not is_postgresql(location):
        return str(location)
    parts = urllib.parse.urlsplit(str(location))
    if parts.password is None:
        return str(location)
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def sqlite_path(location: Path | str) -> Path:
    """The file of a SQLite location (a path or ``sqlite:///path``)."""
    text = str(location)
    if text.startswith("sqlite:///"):
        return Path(text.removeprefix("sqlite://"))
    if "://" in text:
        raise NotSupportedError(f"unsupported database location scheme: {text.split('://')[0]}:// "
                                "(a file path, sqlite:///path or postgresql://...)")
    return Path(text)


class Transaction:
    """Statements of one transaction (committed when the ``with`` block ends without error)."""

    def __init__(self, cursor, dialect: str) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def execute(self, sql: str, parameters: Sequence[Any] = ()):
        return self._cursor.execute(_placeholders(sql, self._dialect), tuple(parameters))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(row) for row in rows]
        if rows:
            self._cursor.executemany(_placeholders(sql, self._dialect), rows)


def _placeholders(sql: str, dialect: str) -> str:
    return sql.replace("?", "%s") if dialect == POSTGRESQL else sql


class Database:
    """One database, opened by its location; driver errors come out as ``error_type``."""

    def __init__(self, location: Path | str, error_type: type[EsimError]) -> None:
        self.location = str(location)
        self.error_type = error_type
        self.dialect = POSTGRESQL if is_postgresql(self.location) else SQLITE
        if self.dialect == POSTGRESQL:
            self._backend = _Postgres(self.location, self._fail)
        else:
            self._backend = _Sqlite(sqlite_path(self.location), self._fail)

    @property
    def path(self) -> Path | None:
        """The SQLite file (None for PostgreSQL)."""
        return self._backend.path if self.dialect == SQLITE else None

    def __repr__(self) -> str:
        return f"Database({redacted(self.location)!r})"

    def _fail(self, doing: str, error: Exception) -> EsimError:
        return self.error_type(f"{redacted(self.location)}: cannot {doing} ({error})")

    @contextlib.contextmanager
    def transaction(self, doing: str) -> Iterator[Transaction]:
        """A write transaction; a database error while ``doing`` it is an ``error_type``."""
        with self._backend.transaction(doing) as cursor:
            yield Transaction(cursor, self.dialect)

    def query(self, sql: str, parameters: Sequence[Any] = (), doing: str = "read the database") -> list[tuple]:
        return self._backend.query(_placeholders(sql, self.dialect), tuple(parameters), doing)

    def time(self, at: datetime) -> Any:
        """A time as this database stores it (SQLite: fixed-width UTC text; PostgreSQL: timestamptz)."""
        if at.tzinfo is None:
            raise BadInputError("a stored time must carry a time zone (use UTC)")
        return at.astimezone(UTC).strftime(_SQLITE_TIME) if self.dialect == SQLITE else at.astimezone(UTC)

    def read_time(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return datetime.strptime(value, _SQLITE_TIME).replace(tzinfo=UTC)

    def close(self) -> None:
        self._backend.close()


class _Sqlite:
    def __init__(self, path: Path, fail) -> None:
        self.path = path
        self._fail = fail
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db()
        except (sqlite3.Error, OSError) as error:
            raise fail("open the database", error) from None

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (autocommit: transactions BEGIN and COMMIT themselves)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                 check_same_thread=False)
            _enter_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    @contextlib.contextmanager
    def transaction(self, doing: str):
        try:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self._fail(doing, error) from None
        try:
            yield db.cursor()
        except sqlite3.Error as error:
            db.execute("ROLLBACK")
            raise self._fail(doing, error) from None
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as error:
            db.execute("ROLLBACK")
            raise self._fail(doing, error) from None

    def query(self, sql: str, parameters: tuple, doing: str) -> list[tuple]:
        try:
            return self._db().execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise self._fail(doing, error) from None

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()


class _Postgres:
    def __init__(self, location: str, fail) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self._errors = (psycopg.Error,)
        self._fail = fail
        self._pool = ConnectionPool(location, min_size=1, max_size=POOL_SIZE, open=False,
                                    timeout=BUSY_TIMEOUT_SECONDS, check=ConnectionPool.check_connection,
                                    name="esimflow")
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
        except self._errors as error:
            self._pool.close()
            raise fail("connect to the database", error) from None

    @contextlib.contextmanager
    def transaction(self, doing: str):
        try:
            with self._pool.connection() as connection, connection.cursor() as cursor:
                yield cursor
        except self._errors as error:
            raise self._fail(doing, error) from None

    def query(self, sql: str, parameters: tuple, doing: str) -> list[tuple]:
        try:
            with self._pool.connection() as connection:
                return connection.execute(sql, parameters).fetchall()
        except self._errors as error:
            raise self._fail(doing, error) from None

    def close(self) -> None:
        self._pool.close()


@dataclass(frozen=True)
class Migration:
    """One schema change, written for each kind of database."""

    sqlite: str
    postgresql: str


def open_migrated(location, error_type, component: str, migrations: Sequence[Migration]) -> Database:
    """A store's database, its tables brought to the current version; closed again if that fails."""
    db = Database(location, error_type)
    try:
        migrate(db, component, migrations)
    except BaseException:
        db.close()
        raise
    return db


def migrate(db: Database, component: str, migrations: Sequence[Migration]) -> int:
    """Bring ``component``'s tables to ``len(migrations)``, running each missing migration once;
    the version lives in ``esimflow_schema``. Processes starting together wait for each other
    (SQLite: the write lock; PostgreSQL: one advisory lock). A database written by
    a newer esimflow is refused rather than touched."""
    target = len(migrations)
    with db.transaction(f"migrate the {component} schema") as tx:
        if db.dialect == POSTGRESQL:
            # one lock for every component: two components creating esimflow_schema at once
            # can collide in PostgreSQL's catalog even with IF NOT EXISTS
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('esimflow_schema'))")
        tx.execute("CREATE TABLE IF NOT EXISTS esimflow_schema (component TEXT PRIMARY KEY,"
                   " version INTEGER NOT NULL)")
        row = tx.execute("SELECT version FROM esimflow_schema WHERE component = ?", (component,)).fetchone()
        version = row[0] if row else 0
        if version > target:
            raise db.error_type(f"{redacted(db.location)}: the {component} schema is at version {version}, "
                                f"newer than this esimflow knows ({target}); upgrade esimflow", retryable=False)
        for migration in migrations[version:]:
            script = migration.postgresql if db.dialect == POSTGRESQL else migration.sqlite
            for statement in filter(str.strip, script.split(";")):
                tx.execute(statement)
        if version < target:
            tx.execute("INSERT INTO esimflow_schema (component, version) VALUES (?, ?) ON CONFLICT (component)"
                       " DO UPDATE SET version = excluded.version", (component, target))
    return target


def _enter_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL. SQLite answers a journal-mode change that races another connection's
    with "database is locked" at once, without its busy handler, so several hosts opening a new
    database together wait for each other here, up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
