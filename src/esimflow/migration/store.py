"""The migration store: each migration's validated fleet and every device's outcome.

The fleet lives here, not in workflow inputs, so a 10,000-device migration keeps a small
history: the workflow carries a cursor and reads the fleet in pages through activities. The
outcomes live here too, so a report can be written at any time and a re-run of the same
migration skips the devices already migrated.

A SQLite file on the migration worker's host (the embedded default) or the deployment's
PostgreSQL database (``ESIMFLOW_MIGRATIONS``, see ``default_location``). Activation codes are sealed with the
payload key (AES-256-GCM, the fleet index as associated data): the store outlives the fleet
file and must not become a second plain-text copy of its secrets.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from esimflow.keys import Keyring, key_id
from esimflow.migration.fleet import Fleet
from esimflow.migration.model import (
    Counters,
    DeviceOutcome,
    FleetEntry,
    ImportResult,
    NOT_STARTED,
    LineError,
    MigrationPolicy,
    Outcome,
    PageEntry,
)
from esimflow.database import Migration, Transaction, is_postgresql, open_migrated
from sgp22.errors import BadInputError, EsimError

ENV_MIGRATIONS = "ESIMFLOW_MIGRATIONS"
DEFAULT_FILE_NAME = "migrations.sqlite3"
STATUS_ERRORS = 20  # line errors returned with an import (all of them stay in the store)

COMPONENT = "migrations"
_TABLES = """
CREATE TABLE IF NOT EXISTS migration (
    id TEXT PRIMARY KEY,
    fleet_sha256 TEXT NOT NULL,
    fleet_format TEXT NOT NULL,
    total INTEGER NOT NULL,
    invalid INTEGER NOT NULL,
    policy TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT,
    abort_reason TEXT,
    counters TEXT,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS device (
    migration_id TEXT NOT NULL REFERENCES migration (id),
    idx INTEGER NOT NULL,
    line INTEGER NOT NULL,
    eid TEXT NOT NULL,
    device TEXT NOT NULL,
    current_iccid TEXT NOT NULL,
    target_iccid TEXT,
    sealed_code BLOB,
    outcome TEXT,
    reason TEXT,
    result_target_iccid TEXT,
    enabled_iccid TEXT,
    old_deleted INTEGER NOT NULL DEFAULT 0,
    dry_run INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    error_kind TEXT,
    workflow_id TEXT,
    started_at TEXT,
    finished_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (migration_id, idx)
);
CREATE TABLE IF NOT EXISTS line_error (
    migration_id TEXT NOT NULL REFERENCES migration (id),
    line INTEGER NOT NULL,
    column_name TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS line_error_by_migration ON line_error (migration_id, line);
"""
_MIGRATION_2 = """
ALTER TABLE device ADD COLUMN outcome_key TEXT;
CREATE INDEX device_by_eid ON device (eid, migration_id);
CREATE INDEX device_by_outcome ON device (migration_id, outcome, idx);
CREATE INDEX migration_by_created ON migration (created_at)
"""
MIGRATIONS = (
    # IF NOT EXISTS: a store written before schema versions were recorded has these tables
    Migration(sqlite=_TABLES, postgresql=_TABLES.replace("sealed_code BLOB", "sealed_code BYTEA")),
    # the key of the last outcome write (a retried write is not another attempt); lookups of a
    # card across migrations (by EID), of a migration's devices by outcome, migrations by age
    Migration(sqlite=_MIGRATION_2, postgresql=_MIGRATION_2),
)


class MigrationStoreError(EsimError):
    """The store cannot be read or written (locked past the timeout, unreadable file)."""

    kind = "migration.store"
    retryable = True


class FleetMismatchError(BadInputError):
    """A migration id already holds another fleet: reusing the id would mix two fleets."""

    kind = "migration.fleet_mismatch"


class UnknownMigrationError(BadInputError):
    kind = "migration.unknown"


def default_location(env: Mapping[str, str] | None = None) -> str:
    """``ESIMFLOW_MIGRATIONS`` (a file path, ``sqlite:///path`` or ``postgresql://...``); else the
    PostgreSQL database of the history when ``ESIMFLOW_HISTORY`` names one (one database for a
    deployment); else ``migrations.sqlite3`` in the esimflow state directory."""
    from esimflow.config import state_dir
    from esimflow.history import ENV_HISTORY

    env = os.environ if env is None else env
    if env.get(ENV_MIGRATIONS):
        return env[ENV_MIGRATIONS]
    if is_postgresql(env.get(ENV_HISTORY, "")):
        return env[ENV_HISTORY]
    return str(state_dir(env) / DEFAULT_FILE_NAME)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class CodeSealer:
    """Seals activation codes with the payload keyring; any key of the ring opens."""

    def __init__(self, keyring: Keyring) -> None:
        self._active_id = keyring.active_id.encode()
        self._active = AESGCM(keyring.active)
        self._by_id = {key_id(key).encode(): AESGCM(key) for key in (keyring.active, *keyring.previous)}

    def seal(self, code: str, context: str) -> bytes:
        nonce = os.urandom(12)
        return self._active_id + b":" + nonce + self._active.encrypt(nonce, code.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        identifier, _, body = bytes(sealed).partition(b":")
        cipher = self._by_id.get(identifier)
        if cipher is None:
            raise MigrationStoreError(f"an activation code in the store was sealed with key "
                                      f"{identifier.decode(errors='replace')}, which this worker was not given",
                                      retryable=False)
        try:
            return cipher.decrypt(body[:12], body[12:], context.encode()).decode()
        except InvalidTag:
            raise MigrationStoreError("a sealed activation code in the store failed authentication",
                                      retryable=False) from None


class MigrationStore:
    """The store on a SQLite file (owner-only permissions) or a PostgreSQL database."""

    def __init__(self, location: Path | str, sealer: CodeSealer | None = None) -> None:
        self.db = open_migrated(location, MigrationStoreError, COMPONENT, MIGRATIONS)
        self.sealer = sealer
        try:
            if self.db.path is not None:
                os.chmod(self.db.path, 0o600)
        except OSError as error:
            self.db.close()
            raise MigrationStoreError(f"{self.db.path}: cannot restrict the store to its owner ({error})") from None

    @property
    def path(self) -> Path | None:
        """The SQLite file (None on PostgreSQL)."""
        return self.db.path

    def __repr__(self) -> str:
        return f"MigrationStore({self.db!r})"

    def _query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        return self.db.query(sql, parameters, "read the migration store")

    def _need_sealer(self) -> CodeSealer:
        if self.sealer is None:
            raise MigrationStoreError("this store was opened without the payload key; activation codes "
                                      "cannot be sealed or opened", retryable=False)
        return self.sealer

    # --- writing

    def import_fleet(self, migration_id: str, fleet: Fleet, policy: MigrationPolicy) -> ImportResult:
        """Keep a validated fleet under ``migration_id``; importing the same fleet again is a
        no-op that keeps every outcome (a re-run), another fleet under the same id is refused."""
        with self.db.transaction("store the fleet") as db:
                row = db.execute("SELECT fleet_sha256, total, invalid FROM migration WHERE id = ?",
                                 (migration_id,)).fetchone()
                if row is not None:
                    if row[0] != fleet.sha256:
                        raise FleetMismatchError(
                            f"migration {migration_id} was started with another fleet file "
                            f"(sha256 {row[0][:12]}…); use a new migration id")
                    db.execute("UPDATE migration SET policy = ?, state = NULL, abort_reason = NULL, "
                               "finished_at = NULL WHERE id = ?", (json.dumps(asdict(policy)), migration_id))
                    return ImportResult(total=row[1], invalid=row[2], errors=self._errors(db, migration_id),
                                        created=False)
                if not fleet.valid and not policy.skip_invalid_lines:
                    # nothing is kept: the corrected file will be imported under the same id
                    return ImportResult(total=0, invalid=len(fleet.errors), errors=fleet.errors[:STATUS_ERRORS],
                                        created=False, rejected=True)
                entries = fleet.entries
                db.execute(
                    "INSERT INTO migration (id, fleet_sha256, fleet_format, total, invalid, policy, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (migration_id, fleet.sha256, fleet.format, len(entries), len(fleet.errors),
                     json.dumps(asdict(policy)), _now()),
                )
                db.executemany(
                    "INSERT INTO line_error (migration_id, line, column_name, message) VALUES (?, ?, ?, ?)",
                    [(migration_id, e.line, e.column, e.message) for e in fleet.errors],
                )
                sealer = self._need_sealer() if any(e.activation_code for e in entries) else None
                db.executemany(
                    "INSERT INTO device (migration_id, idx, line, eid, device, current_iccid, target_iccid,"
                    " sealed_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(migration_id, e.index, e.line, e.eid, e.device, e.current_iccid, e.target_iccid,
                      sealer.seal(e.activation_code, _context(migration_id, e.index)) if e.activation_code else None)
                     for e in entries],
                )
                return ImportResult(total=len(entries), invalid=len(fleet.errors),
                                    errors=fleet.errors[:STATUS_ERRORS], created=True)

    @staticmethod
    def _errors(db: Transaction, migration_id: str) -> list[LineError]:
        rows = db.execute("SELECT line, column_name, message FROM line_error WHERE migration_id = ?"
                          " ORDER BY line LIMIT ?", (migration_id, STATUS_ERRORS)).fetchall()
        return [LineError(*row) for row in rows]

    def record_outcome(self, outcome: DeviceOutcome) -> None:
        """Keep a device's outcome. A retried write (the same outcome of the same device
        workflow run) is the same write: it does not count as another attempt."""
        done = outcome.outcome == Outcome.MIGRATED or (outcome.outcome == Outcome.SKIPPED and not outcome.dry_run)
        key = "/".join((outcome.workflow_id, outcome.started_at, outcome.finished_at, outcome.outcome))
        with self.db.transaction("record an outcome") as db:
            cursor = db.execute(
                "UPDATE device SET outcome = ?, reason = ?, result_target_iccid = ?, enabled_iccid = ?,"
                " old_deleted = ?, dry_run = ?, done = ?, error_kind = ?, workflow_id = ?, started_at = ?,"
                " finished_at = ?, attempts = attempts + CASE WHEN outcome_key = ? THEN 0 ELSE 1 END,"
                " outcome_key = ? WHERE migration_id = ? AND idx = ?",
                (outcome.outcome, outcome.reason, outcome.target_iccid, outcome.enabled_iccid,
                 int(outcome.old_deleted), int(outcome.dry_run), int(done), outcome.error_kind,
                 outcome.workflow_id, outcome.started_at, outcome.finished_at, key, key,
                 outcome.migration_id, outcome.index),
            )
            if cursor.rowcount != 1:
                raise UnknownMigrationError(
                    f"migration {outcome.migration_id} has no device {outcome.index}")

    def finish(self, migration_id: str, state: str, abort_reason: str | None, counters: Counters) -> None:
        with self.db.transaction("record the end of a migration") as db:
            db.execute("UPDATE migration SET state = ?, abort_reason = ?, counters = ?, finished_at = ?"
                       " WHERE id = ?", (state, abort_reason, json.dumps(asdict(counters)), _now(),
                                         migration_id))

    # --- reading

    def page(self, migration_id: str, start: int, limit: int) -> list[PageEntry]:
        rows = self._query(
            "SELECT idx, line, eid, device, current_iccid, target_iccid, sealed_code, done, outcome,"
            " result_target_iccid FROM device WHERE migration_id = ? AND idx >= ? ORDER BY idx LIMIT ?",
            (migration_id, start, limit))
        entries = []
        for idx, line, eid, device, current, target, sealed, done, outcome, result_target in rows:
            code = self._need_sealer().open(sealed, _context(migration_id, idx)) if sealed else None
            entry = FleetEntry(index=idx, line=line, eid=eid, current_iccid=current, device=device,
                               target_iccid=target, activation_code=code)
            known = result_target if outcome in (Outcome.ROLLED_BACK, Outcome.FAILED) else None
            entries.append(PageEntry(entry, bool(done), known))
        return entries

    def outcomes(self, migration_id: str, indices: list[int]) -> dict[int, DeviceOutcome]:
        if not indices:
            return {}
        marks = ",".join("?" * len(indices))
        rows = self._query(
            f"SELECT idx, eid, outcome, reason, current_iccid, result_target_iccid, enabled_iccid, old_deleted,"
            f" dry_run, error_kind, workflow_id, started_at, finished_at FROM device"
            f" WHERE migration_id = ? AND idx IN ({marks}) AND outcome IS NOT NULL",
            (migration_id, *indices))
        return {row[0]: DeviceOutcome(migration_id, row[0], row[1], row[2], row[3] or "", row[4], row[5], row[6],
                                      bool(row[7]), bool(row[8]), row[9], row[10] or "", row[11] or "",
                                      row[12] or "")
                for row in rows}

    def migration(self, migration_id: str) -> dict:
        rows = self._query("SELECT id, fleet_sha256, fleet_format, total, invalid, policy, created_at, state,"
                           " abort_reason, counters, finished_at FROM migration WHERE id = ?", (migration_id,))
        if not rows:
            raise UnknownMigrationError(f"no migration {migration_id!r} in {self.db}")
        (mid, sha, fmt, total, invalid, policy, created, state, reason, counters, finished) = rows[0]
        return {"migration_id": mid, "fleet_sha256": sha, "fleet_format": fmt, "total": total,
                "invalid_lines": invalid, "policy": json.loads(policy), "created_at": created, "state": state,
                "abort_reason": reason, "counters": json.loads(counters) if counters else None,
                "finished_at": finished}

    def migration_ids(self) -> list[str]:
        """Every migration the store holds, the most recently created first."""
        return [row[0] for row in self._query("SELECT id FROM migration ORDER BY created_at DESC, id")]

    def line_errors(self, migration_id: str) -> list[LineError]:
        rows = self._query("SELECT line, column_name, message FROM line_error WHERE migration_id = ? ORDER BY line",
                           (migration_id,))
        return [LineError(*row) for row in rows]

    def migrations(self, limit: int = 100) -> list[dict]:
        """The most recent migrations (as ``migration`` describes each), newest first."""
        rows = self._query("SELECT id FROM migration ORDER BY created_at DESC, id LIMIT ?", (max(1, limit),))
        return [self.migration(migration_id) for (migration_id,) in rows]

    _DEVICE_COLUMNS = ("idx, line, eid, device, current_iccid, target_iccid, outcome, reason, result_target_iccid,"
                       " enabled_iccid, old_deleted, dry_run, error_kind, workflow_id, started_at, finished_at,"
                       " attempts, sealed_code IS NOT NULL, migration_id")
    _DEVICE_NAMES = ("index", "line", "eid", "device", "current_iccid", "fleet_target_iccid", "outcome", "reason",
                     "target_iccid", "enabled_iccid", "old_deleted", "dry_run", "error_kind", "workflow_id",
                     "started_at", "finished_at", "attempts", "by_activation_code", "migration_id")

    def devices(self, migration_id: str, outcome: str | None = None) -> list[dict]:
        """Every device of the migration with its outcome (None: not finished), or only those
        with ``outcome`` (``NOT_STARTED``: none yet); never the code."""
        self.migration(migration_id)
        sql = f"SELECT {self._DEVICE_COLUMNS} FROM device WHERE migration_id = ?"
        parameters: tuple = (migration_id,)
        if outcome == NOT_STARTED:
            sql += " AND outcome IS NULL"
        elif outcome is not None:
            sql += " AND outcome = ?"
            parameters += (outcome,)
        return self._devices(self._query(sql + " ORDER BY idx", parameters))

    def device_migrations(self, eid: str) -> list[dict]:
        """One card in every migration that lists it (a device page), oldest migration first."""
        return self._devices(self._query(
            f"SELECT {', '.join('d.' + c.strip() for c in self._DEVICE_COLUMNS.split(','))} FROM device d"
            " JOIN migration m ON m.id = d.migration_id WHERE d.eid = ? ORDER BY m.created_at, d.idx", (eid,)))

    def _devices(self, rows: list[tuple]) -> list[dict]:
        devices = []
        for row in rows:
            device = dict(zip(self._DEVICE_NAMES, row))
            for flag in ("old_deleted", "dry_run", "by_activation_code"):
                device[flag] = bool(device[flag])
            devices.append(device)
        return devices

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> MigrationStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _context(migration_id: str, index: int) -> str:
    return f"esimflow-migration/{migration_id}/{index}"


def open_store(location: Path | str | None = None, keyring: Keyring | None = None) -> MigrationStore:
    """The store at ``location`` (None: ``default_location``); ``keyring`` seals and opens the
    activation codes (without it, a store that holds codes can be reported on, not run)."""
    return MigrationStore(location or default_location(), CodeSealer(keyring) if keyring is not None else None)
