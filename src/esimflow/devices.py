"""Which worker host owns which eUICC, and how that host reaches it.

Card steps must run on the one host whose reader holds the card, so workflows look the EID up
here and send card activities to that host's task queue. Card-host workers register what they
serve when they start. The registry is a small SQLite file (WAL, one row per EID) so several
worker processes on a host, or hosts sharing a volume, see one consistent view.

Reader specs (``carddrivers.spec``): ``pcsc:<reader name>`` (a PC/SC reader), ``local:<name>``
(an in-process virtual eUICC registered with the worker that created it) or ``at:<serial
device>`` (a cellular modem), each with optional ``?key=value`` options.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from carddrivers.spec import ReaderSpec
from esimflow.api import DeviceInfo
from sgp22.errors import BadInputError, EsimError
from sgp22.results import OhResultCode, WinStatus


class DeviceNotFoundError(EsimError):
    """No worker has registered this eUICC: nothing can reach its card."""

    kind = "device.not_found"
    oh_result = OhResultCode.RESULT_PROFILE_EID_INVALID
    win_status = WinStatus.NotFound


class DeviceRegistry:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS devices ("
                " eid TEXT PRIMARY KEY, card_host TEXT NOT NULL, reader TEXT NOT NULL,"
                " name TEXT NOT NULL DEFAULT '', registered_at REAL NOT NULL,"
                " workflow_task_queue TEXT NOT NULL DEFAULT '')"
            )
            columns = {row[1] for row in db.execute("PRAGMA table_info(devices)")}
            if "workflow_task_queue" not in columns:  # a registry written before the column existed
                db.execute("ALTER TABLE devices ADD COLUMN workflow_task_queue TEXT NOT NULL DEFAULT ''")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def register(self, device: DeviceInfo) -> None:
        """Claim the EID for this host (the last host to see a card owns it)."""
        ReaderSpec.parse(device.reader)
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO devices (eid, card_host, reader, name, registered_at, workflow_task_queue)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(eid) DO UPDATE SET"
                " card_host=excluded.card_host, reader=excluded.reader, name=excluded.name,"
                " registered_at=excluded.registered_at, workflow_task_queue=excluded.workflow_task_queue",
                (device.eid, device.card_host, device.reader, device.name, time.time(),
                 device.workflow_task_queue),
            )

    def unregister(self, eid: str, card_host: str) -> None:
        """Forget the EID, unless another host has claimed it since."""
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM devices WHERE eid = ? AND card_host = ?", (eid, card_host))

    def lookup(self, eid: str) -> DeviceInfo:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT eid, card_host, reader, name, workflow_task_queue FROM devices WHERE eid = ?", (eid,)
            ).fetchone()
        if row is None:
            raise DeviceNotFoundError(f"no worker serves eUICC {eid}")
        return DeviceInfo(*row)

    def find(self, device: str) -> DeviceInfo:
        """By EID, registry name or reader spec, in that order."""
        with closing(self._connect()) as db:
            for column in ("eid", "name", "reader"):
                rows = db.execute(
                    f"SELECT eid, card_host, reader, name, workflow_task_queue FROM devices WHERE {column} = ?", (device,)
                ).fetchall()
                if len(rows) == 1:
                    return DeviceInfo(*rows[0])
                if len(rows) > 1:
                    raise BadInputError(f"{device!r} names {len(rows)} eUICCs; give the EID")
        raise DeviceNotFoundError(f"no worker serves a device named {device!r}")

    def all(self) -> list[DeviceInfo]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT eid, card_host, reader, name, workflow_task_queue FROM devices ORDER BY card_host, reader"
            ).fetchall()
        return [DeviceInfo(*row) for row in rows]
