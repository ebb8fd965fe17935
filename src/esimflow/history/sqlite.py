"""The default history store: one SQLite file in WAL mode.

Safe for several writers at once (activity threads of one worker, worker processes on one host
or on a shared volume): each thread has its own connection, writes take the write lock up front
(``BEGIN IMMEDIATE``) and wait for it up to ``busy_timeout``, and the idempotency key is a
UNIQUE column, so a retried activity's write is ignored by the database itself rather than by a
read-then-write race. The latest status per ICCID is kept in its own table, updated in the same
transaction, so ``profiles`` stays fast for fleets of any size.
"""
from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from esimflow.history.model import ProfileRecord, StatusChange
from esimflow.machines.profile_status import Status
from esimflow.sqlite_connections import ThreadConnections
from sgp22.errors import BadInputError, EsimError

SCHEMA_VERSION = 1
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: text order is time order

_SCHEMA = """
CREATE TABLE IF NOT EXISTS status_change (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    iccid TEXT NOT NULL,
    eid TEXT,
    from_status TEXT,
    to_status TEXT NOT NULL,
    operation TEXT NOT NULL,
    workflow_id TEXT,
    error_reason TEXT,
    sequence INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS status_change_by_iccid ON status_change (iccid, at, id);
CREATE INDEX IF NOT EXISTS status_change_by_time ON status_change (at, id);
CREATE INDEX IF NOT EXISTS status_change_errors ON status_change (at, id) WHERE error_reason IS NOT NULL;
CREATE TABLE IF NOT EXISTS profile_latest (
    iccid TEXT PRIMARY KEY,
    eid TEXT,
    at TEXT NOT NULL,
    change_id INTEGER NOT NULL REFERENCES status_change (id)
);
CREATE INDEX IF NOT EXISTS profile_latest_by_eid ON profile_latest (eid);
"""

_CHANGE_COLUMNS = ("iccid, to_status, operation, at, from_status, eid, workflow_id, error_reason, sequence, "
                   "idempotency_key")


class HistoryUnavailableError(EsimError):
    """The history database could not be read or written (locked past the timeout, disk full,
    unreadable file). Retryable: a busy database usually frees up."""

    kind = "history.unavailable"
    retryable = True


def _text(at: datetime) -> str:
    return at.astimezone(UTC).strftime(_TIME_FORMAT)


def _time(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def _change(row: tuple) -> StatusChange:
    iccid, to_status, operation, at, from_status, eid, workflow_id, error_reason, sequence, key = row
    return StatusChange(iccid=iccid, to_status=Status(to_status), operation=operation, at=_time(at),
                        from_status=Status(from_status) if from_status else None, eid=eid,
                        workflow_id=workflow_id, error_reason=error_reason, sequence=sequence,
                        idempotency_key=key)


class SqliteHistoryStore:
    """``HistoryStore`` on one SQLite file (created with its directory if missing)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._connections = ThreadConnections(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise HistoryUnavailableError(
                        f"{self.path}: history schema version {version} is newer than this esimflow "
                        f"({SCHEMA_VERSION}); upgrade esimflow", retryable=False)
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as error:
            raise HistoryUnavailableError(f"{self.path}: cannot open the history database ({error})") from None

    def __repr__(self) -> str:
        return f"SqliteHistoryStore({str(self.path)!r})"

    def _db(self) -> sqlite3.Connection:
        return self._connections.get()

    def record(self, change: StatusChange) -> bool:
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.execute(
                    f"INSERT INTO status_change ({_CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (idempotency_key) DO NOTHING",
                    (change.iccid, str(change.to_status), change.operation, _text(change.at),
                     str(change.from_status) if change.from_status else None, change.eid,
                     change.workflow_id, change.error_reason, change.sequence, change.idempotency_key),
                )
                recorded = cursor.rowcount == 1
                if recorded:
                    # the latest change by time wins, whatever order retried activities write in
                    db.execute(
                        "INSERT INTO profile_latest (iccid, eid, at, change_id) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (iccid) DO UPDATE SET eid = coalesce(excluded.eid, profile_latest.eid),"
                        " at = excluded.at, change_id = excluded.change_id"
                        " WHERE excluded.at >= profile_latest.at",
                        (change.iccid, change.eid, _text(change.at), cursor.lastrowid),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise HistoryUnavailableError(f"{self.path}: cannot record a status change ({error})") from None
        return recorded

    def _query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        try:
            return self._db().execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise HistoryUnavailableError(f"{self.path}: cannot read the history ({error})") from None

    def history(self, iccid: str) -> list[StatusChange]:
        rows = self._query(f"SELECT {_CHANGE_COLUMNS} FROM status_change WHERE iccid = ? ORDER BY at, id", (iccid,))
        return [_change(row) for row in rows]

    def profiles(self, status: Status | str | None = None, eid: str | None = None) -> list[ProfileRecord]:
        sql = ("SELECT p.iccid, c.to_status, c.at, p.eid, c.operation, c.workflow_id, c.error_reason"
               " FROM profile_latest p JOIN status_change c ON c.id = p.change_id WHERE 1 = 1")
        parameters: list = []
        if status is not None:
            try:
                parameters.append(str(Status(status)))
            except ValueError:
                raise BadInputError(f"{status!r} is not a profile status ({', '.join(Status)})") from None
            sql += " AND c.to_status = ?"
        if eid is not None:
            sql += " AND p.eid = ?"
            parameters.append(eid)
        rows = self._query(sql + " ORDER BY p.iccid", tuple(parameters))
        return [ProfileRecord(iccid, Status(to_status), _time(at), eid_, operation, workflow_id, error_reason)
                for iccid, to_status, at, eid_, operation, workflow_id, error_reason in rows]

    def logs(self, errors_only: bool = False, limit: int = 100) -> list[StatusChange]:
        if limit < 1:
            raise BadInputError(f"limit must be at least 1, got {limit}")
        where = " WHERE error_reason IS NOT NULL" if errors_only else ""
        rows = self._query(f"SELECT {_CHANGE_COLUMNS} FROM status_change{where} ORDER BY at DESC, id DESC LIMIT ?",
                           (limit,))
        return [_change(row) for row in rows]

    def changes(self, *, since: datetime | None = None, until: datetime | None = None,
                status: Status | str | None = None, operation: str | None = None, errors_only: bool = False,
                limit: int = 100, offset: int = 0) -> list[StatusChange]:
        if limit < 1 or offset < 0:
            raise BadInputError(f"limit must be at least 1 and offset at least 0, got {limit} and {offset}")
        conditions, parameters = [], []
        if since is not None:
            conditions.append("at >= ?")
            parameters.append(_text(since))
        if until is not None:
            conditions.append("at < ?")
            parameters.append(_text(until))
        if status is not None:
            try:
                parameters.append(str(Status(status)))
            except ValueError:
                raise BadInputError(f"{status!r} is not a profile status ({', '.join(Status)})") from None
            conditions.append("to_status = ?")
        if operation:
            conditions.append("operation = ?")
            parameters.append(operation)
        if errors_only:
            conditions.append("error_reason IS NOT NULL")
        where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
        rows = self._query(f"SELECT {_CHANGE_COLUMNS} FROM status_change{where} ORDER BY at DESC, id DESC"
                           " LIMIT ? OFFSET ?", (*parameters, limit, offset))
        return [_change(row) for row in rows]

    def operations(self) -> list[str]:
        return [row[0] for row in self._query("SELECT DISTINCT operation FROM status_change ORDER BY operation")]

    def close(self) -> None:
        self._connections.close()

    def __enter__(self) -> SqliteHistoryStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
