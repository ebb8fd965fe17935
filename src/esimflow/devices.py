"""Which worker host owns which eUICC, and how that host reaches it.

Card steps must run on the one host whose reader holds the card, so workflows look the EID up
here and send card activities to that host's task queue. Card-host workers claim what they
serve when they start and give it up when they stop. Two registries (``open_registry``):

- ``temporal`` (``ESIMFLOW_DEVICE_REGISTRY=temporal``): the card hosts announce their cards to
  Temporal (``esimflow.routing``); nothing is shared between hosts but Temporal. The one for
  a deployment on several hosts.
- a SQLite file (the default, ``devices.sqlite3`` in the state directory): the embedded
  registry of a single host, read by that host's worker processes. Not for network
  filesystems (SQLite's WAL needs shared memory).

Reader specs (``carddrivers.spec``): ``pcsc:<reader name>`` (a PC/SC reader), ``local:<name>``
(an in-process virtual eUICC registered with the worker that created it) or ``at:<serial
device>`` (a cellular modem), each with optional ``?key=value`` options.
"""
from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from carddrivers.spec import ReaderSpec
from esimflow.contract import DeviceInfo
from sgp22.errors import BadInputError, EsimError
from sgp22.results import OhResultCode, WinStatus


class DeviceNotFoundError(EsimError):
    """No worker has registered this eUICC: nothing can reach its card."""

    kind = "device.not_found"
    oh_result = OhResultCode.RESULT_PROFILE_EID_INVALID
    win_status = WinStatus.NotFound


class CardHostUnreachableError(EsimError):
    """The card host an operation was routed to cannot run it: the host stopped or was cut off
    (its lease ran out), or the card moved to another host, before the operation's steps
    started there. Nothing touched the card; submitting the operation again routes it afresh."""

    kind = "device.unreachable"
    retryable = True
    oh_result = OhResultCode.RESULT_SGP_22_OTHER
    win_status = WinStatus.CardRemoved


def match_device(devices: Iterable[DeviceInfo], device: str) -> DeviceInfo:
    """The one device named ``device``: by EID, registry name or reader spec, in that order."""
    devices = list(devices)
    for field in ("eid", "name", "reader"):
        found = [d for d in devices if getattr(d, field) == device]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise BadInputError(f"{device!r} names {len(found)} eUICCs; give the EID")
    raise DeviceNotFoundError(f"no worker serves a device named {device!r}")


def still_attached(devices: list[DeviceInfo]) -> list[DeviceInfo]:
    """The devices whose reader is still there: a PC/SC reader still listed by pcscd, a
    modem's serial device still present; in-process cards always are. When pcscd cannot be
    asked, every reader counts as present (a card is only withdrawn when it is known gone)."""
    specs = {device.reader: ReaderSpec.parse(device.reader) for device in devices}
    readers: set[str] | None = None
    if any(spec.driver == "pcsc" for spec in specs.values()):
        try:
            from smartcard.System import readers as list_readers

            readers = {str(reader) for reader in list_readers()}
        except Exception:  # pcscd down or restarting: cannot tell
            readers = None
    attached = []
    for device in devices:
        spec = specs[device.reader]
        if spec.driver == "pcsc" and readers is not None and spec.target not in readers:
            continue
        if spec.driver == "at" and not Path(spec.target).exists():
            continue
        attached.append(device)
    return attached


class DeviceRegistry:
    """The single-host registry: one SQLite file (WAL, one row per EID)."""

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

    def claim(self, devices: Iterable[DeviceInfo]) -> None:
        """Register the cards a starting card host serves (visible at once on this host)."""
        for device in devices:
            self.register(device)

    async def serve(self, card_host: str, devices: list[DeviceInfo], stop: asyncio.Event, *,
                    present=None) -> None:
        """Keep the claim until ``stop``, then give the cards up (``present`` is for the
        Temporal registry's renewals; this one has none)."""
        try:
            await stop.wait()
        finally:
            for device in devices:
                self.unregister(device.eid, card_host)

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

    def lookup_many(self, eids: Iterable[str]) -> dict[str, DeviceInfo]:
        """The known ones of ``eids``."""
        wanted = set(eids)
        return {device.eid: device for device in self.all() if device.eid in wanted}

    def find(self, device: str) -> DeviceInfo:
        """By EID, registry name or reader spec, in that order."""
        return match_device(self.all(), device)

    def all(self) -> list[DeviceInfo]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT eid, card_host, reader, name, workflow_task_queue FROM devices ORDER BY card_host, reader"
            ).fetchall()
        return [DeviceInfo(*row) for row in rows]
