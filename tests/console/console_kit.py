"""What the console tests share: accounts, a seeded history and lab inventory, and a client
that logs in through the login form like a browser does."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.testclient import TestClient

from esimflow.history import SqlHistoryStore, StatusChange
from rsplab.smdp.inventory import Inventory
from rsplab.smdp.profiles import NewProfile
from sgp22.identifiers import Iccid

from esimcli.console import ConsoleSettings, create_app
from esimcli.console.accounts import AccountBook, Role, write_account
from esimcli.console.sources import Sources

OPERATOR, VIEWER = ("ops", "operator password 1"), ("watcher", "viewer password 1")
EID_A = "89049032000000000000000000000163"
EID_B = "89049032000000000000000000000260"
MATCHING_ID = "SECRET-MATCHING-7Q2W"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def iccid(number: int) -> str:
    return str(Iccid.with_check_digit(f"894400{number:012d}"))


def write_accounts(path: Path) -> Path:
    write_account(path, OPERATOR[0], Role.OPERATOR, OPERATOR[1])
    write_account(path, VIEWER[0], Role.VIEWER, VIEWER[1])
    return path


def seed_history(location: Path | str, profiles: int = 60) -> SqlHistoryStore:
    """``profiles`` profiles downloaded, installed and enabled on EID_A or EID_B; profile 3's
    second download failed with a matching ID refusal (an error record)."""
    store = SqlHistoryStore(str(location))
    for number in range(profiles):
        eid = EID_A if number % 2 == 0 else EID_B
        at = START + timedelta(minutes=number)
        steps = [(None, "AVAILABLE", "Download"), ("AVAILABLE", "DOWNLOADED", "Download"),
                 ("DOWNLOADED", "INSTALLED", "Download"), ("INSTALLED", "ENABLED", "Switch")]
        for sequence, (source, target, operation) in enumerate(steps):
            store.record(StatusChange(iccid=iccid(number), from_status=source, to_status=target, operation=operation,
                                      at=at + timedelta(seconds=sequence), eid=eid,
                                      workflow_id=f"download-{number}", sequence=sequence))
    store.record(StatusChange(iccid=iccid(3), from_status="ENABLED", to_status="DISABLED", operation="Disable",
                              at=START + timedelta(hours=2), eid=EID_B, workflow_id="disable-3"))
    store.record(StatusChange(iccid=iccid(3), from_status="DISABLED", to_status="DISABLED", operation="Download",
                              at=START + timedelta(hours=3), eid=EID_B, workflow_id="download-3b",
                              error_reason="es9.8.2.6/3.8"))
    return store


def seed_inventory(path: Path) -> Inventory:
    """The lab SM-DP+ knows profile 0 (so both sources know it) and one of its own, with a
    matching ID that no page may show."""
    inventory = Inventory(path)
    inventory.set_meta("address", "smdp.lab.example")
    inventory.add_profile(NewProfile(iccid=iccid(0), service_provider_name="Operator Zero"))
    inventory.add_profile(NewProfile(iccid=iccid(900), matching_id=MATCHING_ID, eid=EID_A,
                                     service_provider_name="Lab Telecom"))
    return inventory


def console_client(tmp_path: Path, *, history: str | None = None, migrations: Path | None = None) -> TestClient:
    """A console on a seeded history (a SQLite file in ``tmp_path`` unless ``history`` names
    another location, e.g. a PostgreSQL database) and lab inventory."""
    history = history or str(tmp_path / "history.sqlite3")
    seed_history(history).close()
    seed_inventory(tmp_path / "smdp.db").close()
    sources = Sources(history=history, migrations=migrations,
                      registry=None, lab_inventory=tmp_path / "smdp.db")
    settings = ConsoleSettings(sources=sources, accounts=AccountBook.load(write_accounts(tmp_path / "accounts")),
                               temporal=None, session_secret="test-secret-" + "x" * 20)
    # https: the session cookie is Secure, a client sends it over TLS only
    return TestClient(create_app(settings), base_url="https://testserver", follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def log_in(client: TestClient, name: str, password: str):
    form = client.get("/login")
    return client.post("/login", data={"csrf": csrf_of(form.text), "name": name, "password": password,
                                       "next": "/fleet"})
