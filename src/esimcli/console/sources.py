"""What the console reads: the profile status history, the lab SM-DP+ inventory (when the
console is pointed at one), the device registry and the migration store. Temporal is read and
steered in ``esimcli.console.migrations``.

Every store is opened read-side only and on demand: a console started before the first worker
wrote its history shows an empty fleet and says where it looked. Nothing read here carries a
matching ID, a confirmation code or a key (the migration store is opened without the payload
key, so its sealed activation codes cannot even be opened).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from esimflow.devices import DeviceRegistry
from esimflow.history import HistoryStore, StatusChange, open_history
from esimflow.machines.profile_status import Status
from esimflow.migration.store import MigrationStore, open_store
from rsplab.smdp.inventory import Inventory, ProfileNotFoundError
from sgp22.errors import BadInputError
from sgp22.taxonomy import result_codes

ENGINE, LAB = "engine", "lab SM-DP+"
SORT_KEYS = ("iccid", "status", "at", "eid", "operator", "smdp")
EXPORT_PAGE = 5_000
DEVICE_RECORDS = 200


@dataclass
class FleetRow:
    """One profile as the Fleet page lists it; the engine's record wins where both know it."""

    iccid: str
    status: Status
    at: datetime | None
    eid: str | None = None
    operation: str = ""
    workflow_id: str | None = None
    error_reason: str | None = None
    operator: str = ""  # service provider name, when the SM-DP+ inventory knows the profile
    smdp: str = ""
    sources: list[str] = field(default_factory=list)


@dataclass
class Record:
    """One status change record, from the engine's history or from the SM-DP+'s own."""

    at: datetime
    iccid: str
    from_status: str | None
    to_status: str | None
    operation: str
    source: str
    eid: str | None = None
    workflow_id: str | None = None
    error_reason: str | None = None
    drift: str | None = None  # the status model refused this move, the device made it: why

    @property
    def codes(self) -> tuple[str, str] | None:
        """(OpenHarmony ResultCode, Windows ESimOperationStatus) of the error, as ``NAME (value)``."""
        if not self.error_reason:
            return None
        oh, win = result_codes(self.error_reason)
        return f"{oh.name} ({int(oh)})", f"{win.name} ({int(win)})"


@dataclass
class FleetQuery:
    iccid: str = ""  # full or prefix
    eid: str = ""
    status: str = ""
    operator: str = ""
    smdp: str = ""
    sort: str = "iccid"
    descending: bool = False
    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        if self.status and self.status not in set(Status):
            raise BadInputError(f"{self.status!r} is not a profile status")
        if self.sort not in SORT_KEYS:
            raise BadInputError(f"cannot sort by {self.sort!r} ({', '.join(SORT_KEYS)})")
        self.page = max(1, self.page)
        self.per_page = min(max(1, self.per_page), 500)


@dataclass
class LogQuery:
    since: datetime | None = None
    until: datetime | None = None
    status: str = ""
    operation: str = ""
    errors_only: bool = False
    page: int = 1
    per_page: int = 100


@dataclass
class DeviceRow:
    eid: str
    card_host: str
    reader: str
    name: str
    workflow_task_queue: str
    enabled_iccid: str | None


def _lab_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Sources:
    def __init__(self, *, history: str | None, migrations: str | Path | None, registry: Path | None,
                 lab_inventory: Path | None) -> None:
        self.history_location = history
        self.migrations_path = migrations
        self.registry_path = registry
        self.lab_inventory_path = lab_inventory
        self._history: HistoryStore | None = None
        self._migrations: MigrationStore | None = None
        self._inventory: Inventory | None = None

    # --- opening on demand

    @staticmethod
    def _exists(location: str | Path | None) -> bool:
        if location is None:
            return False
        text = str(location)
        if "://" in text and not text.startswith("sqlite://"):
            return True  # a database server: the store says itself whether it can be reached
        return Path(text.removeprefix("sqlite://")).is_file()

    def history(self) -> HistoryStore | None:
        if self._history is None and self._exists(self.history_location):
            self._history = open_history(self.history_location)
        return self._history

    def migration_store(self) -> MigrationStore | None:
        if self._migrations is None and self._exists(self.migrations_path):
            self._migrations = open_store(self.migrations_path)
        return self._migrations

    def inventory(self) -> Inventory | None:
        if self._inventory is None and self._exists(self.lab_inventory_path):
            self._inventory = Inventory(self.lab_inventory_path)
        return self._inventory

    def registry(self) -> DeviceRegistry | None:
        return DeviceRegistry(self.registry_path) if self._exists(self.registry_path) else None

    def missing(self) -> list[str]:
        """What the console was pointed at but cannot find (shown on every page)."""
        named = [("profile status history", self.history_location), ("migration store", self.migrations_path),
                 ("device registry", self.registry_path), ("lab SM-DP+ inventory", self.lab_inventory_path)]
        return [f"{what}: nothing at {where}" for what, where in named if where is not None and not self._exists(where)]

    def close(self) -> None:
        for store in (self._history, self._migrations, self._inventory):
            if store is not None:
                store.close()

    # --- Profile -> Fleet

    def all_profiles(self) -> list[FleetRow]:
        rows: dict[str, FleetRow] = {}
        inventory = self.inventory()
        if inventory is not None:
            address = inventory.meta("address") or LAB
            for profile in inventory.profiles():
                rows[profile.iccid] = FleetRow(
                    profile.iccid, Status(str(profile.status)), _lab_time(profile.updated_at),
                    eid=profile.downloaded_eid or profile.eid, operation="SM-DP+", operator=profile.service_provider_name,
                    smdp=address, sources=[LAB])
        history = self.history()
        for record in history.profiles() if history is not None else []:
            row = rows.get(record.iccid)
            engine_row = FleetRow(record.iccid, record.status, record.at, record.eid, record.operation,
                                  record.workflow_id, record.error_reason, sources=[ENGINE])
            if row is not None:
                engine_row.operator, engine_row.smdp = row.operator, row.smdp
                engine_row.sources.append(LAB)
                engine_row.eid = engine_row.eid or row.eid
            rows[record.iccid] = engine_row
        return list(rows.values())

    def fleet(self, query: FleetQuery) -> tuple[list[FleetRow], int]:
        """One page of the matching profiles and how many match."""
        def keep(row: FleetRow) -> bool:
            return (row.iccid.startswith(query.iccid.strip())
                    and (not query.eid or (row.eid or "") == query.eid.strip())
                    and (not query.status or row.status == query.status)
                    and query.operator.strip().lower() in row.operator.lower()
                    and query.smdp.strip().lower() in row.smdp.lower())

        matching = [row for row in self.all_profiles() if keep(row)]

        def key(row: FleetRow):
            value = getattr(row, query.sort)
            return (value is None, value.timestamp() if isinstance(value, datetime) else str(value or ""), row.iccid)

        matching.sort(key=key, reverse=query.descending)
        start = (query.page - 1) * query.per_page
        return matching[start:start + query.per_page], len(matching)

    def profile_records(self, iccid: str) -> list[Record]:
        """Every status change record of one profile, oldest first, the engine's and the SM-DP+'s."""
        records = [_engine_record(change) for change in (self.history().history(iccid) if self.history() else [])]
        inventory = self.inventory()
        if inventory is not None:
            try:
                lab_history = inventory.history(iccid)
            except ProfileNotFoundError:  # a profile only the engine knows
                lab_history = []
            records += [Record(_lab_time(c.at), c.iccid, c.from_status, c.to_status, f"SM-DP+ {c.event}", LAB,
                               eid=c.eid, error_reason=c.error) for c in lab_history]
        records.sort(key=lambda record: record.at)
        return records

    def current(self, iccid: str) -> FleetRow | None:
        return next((row for row in self.all_profiles() if row.iccid == iccid), None)

    # --- Logs -> Profile Logs

    def logs(self, query: LogQuery) -> list[Record]:
        history = self.history()
        if history is None:
            return []
        changes = history.logs(since=query.since, until=query.until, status=query.status or None,
                               operation=query.operation or None, errors_only=query.errors_only,
                               limit=query.per_page, offset=(max(query.page, 1) - 1) * query.per_page)
        return [_engine_record(change) for change in changes]

    def all_logs(self, query: LogQuery, at_most: int) -> list[Record]:
        """Every record the query matches, newest first, up to ``at_most`` (the CSV export)."""
        records: list[Record] = []
        page = LogQuery(query.since, query.until, query.status, query.operation, query.errors_only, 1,
                        EXPORT_PAGE)
        while len(records) < at_most:
            batch = self.logs(page)
            records += batch
            if len(batch) < page.per_page:
                break
            page.page += 1
        return records[:at_most]

    def operations(self) -> list[str]:
        history = self.history()
        return history.operations() if history is not None else []

    # --- Devices

    def devices(self) -> list[DeviceRow]:
        registry = self.registry()
        if registry is None:
            return []
        return [DeviceRow(d.eid, d.card_host, d.reader, d.name, d.workflow_task_queue, enabled.get(d.eid))
                for enabled in [self._enabled_profiles()] for d in registry.all()]

    def device(self, eid: str) -> tuple[DeviceRow | None, list[FleetRow], list[Record], list[dict]]:
        """One card: its registry row, its profiles, its status records (newest first) and its
        place in every migration that listed it."""
        row = next((d for d in self.devices() if d.eid == eid), None)
        profiles, _ = self.fleet(FleetQuery(eid=eid, per_page=500))
        history = self.history()
        records = [_engine_record(c) for c in history.logs(eid=eid, limit=DEVICE_RECORDS)] if history else []
        store = self.migration_store()
        migrations = store.device_migrations(eid) if store else []
        return row, profiles, records, migrations

    def _enabled_profiles(self) -> dict[str, str]:
        """EID -> the ICCID last known enabled on it: the newest of the history's ENABLED records
        and what the card itself reported at the end of a migration (a device whose migration
        failed before any change keeps a profile the history never saw)."""
        newest: dict[str, tuple[datetime, str]] = {}

        def offer(eid: str | None, at: datetime, iccid: str) -> None:
            if eid and (eid not in newest or newest[eid][0] < at):
                newest[eid] = (at, iccid)

        history = self.history()
        for record in history.profiles(status=Status.ENABLED) if history else []:
            offer(record.eid, record.at, record.iccid)
        store = self.migration_store()
        for migration_id in store.migration_ids() if store else []:
            for device in store.devices(migration_id):
                if device["enabled_iccid"] and device["finished_at"]:
                    offer(device["eid"], datetime.fromisoformat(device["finished_at"]), device["enabled_iccid"])
        return {eid: iccid for eid, (_, iccid) in newest.items()}


def _engine_record(change: StatusChange) -> Record:
    return Record(change.at, change.iccid, str(change.from_status) if change.from_status else None,
                  str(change.to_status), change.operation, ENGINE, change.eid, change.workflow_id,
                  change.error_reason, change.drift)


LOG_CSV_COLUMNS = ("time_utc", "iccid", "eid", "from", "to", "operation", "workflow_id", "error_reason",
                   "openharmony_result", "windows_status", "drift")


def logs_csv(records: list[Record]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LOG_CSV_COLUMNS)
    for r in records:
        codes = r.codes or ("", "")
        writer.writerow((r.at.isoformat(), r.iccid, r.eid or "", r.from_status or "", r.to_status or "", r.operation,
                         r.workflow_id or "", r.error_reason or "", *codes, r.drift or ""))
    return out.getvalue()
