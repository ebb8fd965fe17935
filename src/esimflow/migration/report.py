"""The per-device report of a migration: outcome and reason for every device of the fleet.

Read from the migration store, so it can be written while the migration runs (devices not
finished yet show ``in_progress`` or ``not_started``) and long after its workflows left
Temporal's retention. Never contains an activation code (``by_activation_code`` says whether
the fleet gave one).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from esimflow.migration.model import NOT_STARTED
from esimflow.migration.store import MigrationStore

IN_PROGRESS = "in_progress"
COLUMNS = ("index", "line", "eid", "device", "current_iccid", "fleet_target_iccid", "by_activation_code",
           "outcome", "reason", "target_iccid", "enabled_iccid", "old_deleted", "dry_run", "error_kind",
           "workflow_id", "started_at", "finished_at", "attempts")
FORMATS = ("csv", "json")


def report(store: MigrationStore, migration_id: str) -> dict:
    """``{"migration": {...}, "devices": [...], "line_errors": [...]}``."""
    migration = store.migration(migration_id)
    devices = store.devices(migration_id)
    final = migration["state"] is not None
    for device in devices:
        if device["outcome"] is None:
            device["outcome"] = NOT_STARTED if final else IN_PROGRESS
    summary: dict[str, int] = {}
    for device in devices:
        summary[device["outcome"]] = summary.get(device["outcome"], 0) + 1
    migration["outcomes"] = summary
    errors = [{"line": e.line, "column": e.column, "message": e.message} for e in store.line_errors(migration_id)]
    return {"migration": migration, "devices": [{name: d[name] for name in COLUMNS} for d in devices],
            "line_errors": errors}


def format_of(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    return "json" if path.suffix.lower() == ".json" else "csv"


def render(document: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for device in document["devices"]:
        writer.writerow({key: ("" if value is None else value) for key, value in device.items()})
    return buffer.getvalue()


def write_report(store: MigrationStore, migration_id: str, out: Path, fmt: str | None = None) -> dict:
    document = report(store, migration_id)
    out.write_text(render(document, format_of(out, fmt)), encoding="utf-8")
    return document
