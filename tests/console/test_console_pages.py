"""The console's pages and rules, through Starlette's test client (the browser test drives the
same pages in Chromium on the real stack)."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from esimflow.history import SqlHistoryStore, StatusChange
from esimflow.machines import ProfileStatus
from esimflow.machines.profile_status import TRANSITIONS as PROFILE_TRANSITIONS
from esimflow.migration.fleet import parse_fleet
from esimflow.migration.model import DeviceOutcome, MigrationPolicy
from esimflow.migration.store import MigrationStore

from esimcli.console.accounts import AccountBook, LoginThrottle, hash_password, password_matches
from esimcli.console.charts import status_diagram

from tests.console.console_kit import (
    EID_A, EID_B, MATCHING_ID, OPERATOR, VIEWER, console_client, csrf_of, iccid, log_in, write_accounts,
)


@pytest.fixture
def client(tmp_path, database_location):
    """The console on a history in a SQLite file, then in a PostgreSQL database."""
    with console_client(tmp_path, history=database_location) as client:
        yield client


def test_every_page_needs_a_login(client):
    for path in ("/fleet", "/logs", "/devices", "/migrations", f"/profiles/{iccid(1)}"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path
    assert client.get("/logs.csv").status_code == 401
    assert client.get(f"/profiles/{iccid(1)}/detail").status_code == 401


def test_a_wrong_password_or_a_login_without_csrf_is_refused(client):
    assert log_in(client, OPERATOR[0], "not the password").status_code == 401
    assert log_in(client, "nobody", OPERATOR[1]).status_code == 401
    without = client.post("/login", data={"name": OPERATOR[0], "password": OPERATOR[1]})
    assert without.status_code == 403 and "CSRF" in without.text
    assert client.get("/fleet").status_code == 303


def test_the_session_cookie_is_secure_httponly_and_strict(client):
    answer = log_in(client, *OPERATOR)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_passwords_are_kept_as_scrypt_hashes(tmp_path):
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert password_matches("correct horse battery", stored)
    assert not password_matches("correct horse batterx", stored)
    text = write_accounts(tmp_path / "accounts").read_text()
    assert OPERATOR[1] not in text and VIEWER[1] not in text and text.count("scrypt$") == 2


def test_tokens_from_the_configuration_log_in_with_their_role():
    book = AccountBook.load(None, {"ESIMFLOW_CONSOLE_TOKEN": "o" * 30, "ESIMFLOW_CONSOLE_VIEWER_TOKEN": "v" * 30})
    assert book.token_login("v" * 30).role == "viewer"
    assert book.token_login("o" * 30).role == "operator"
    assert book.token_login("x" * 30) is None


def test_fleet_search_by_iccid_prefix_eid_and_status_with_paging_and_sorting(client):
    log_in(client, *VIEWER)
    everything = client.get("/fleet").text
    assert "61 profiles" in everything and "page 1 of 2" in everything  # 60 of the engine, 1 only the lab knows
    one = client.get("/fleet", params={"iccid": iccid(7)}).text
    assert "1 profile" in one and iccid(7) in one and iccid(8) not in one
    prefix = iccid(10)[:-3]
    assert f"{len([n for n in range(60) if iccid(n).startswith(prefix)])} profile" in client.get(
        "/fleet", params={"iccid": prefix}).text
    on_b = client.get("/fleet", params={"eid": EID_B, "per_page": 100}).text
    assert "30 profiles" in on_b and iccid(0) not in on_b
    disabled = client.get("/fleet", params={"status": "DISABLED"}).text
    assert "1 profile" in disabled and iccid(3) in disabled
    newest_first = client.get("/fleet", params={"sort": "at", "order": "desc"}).text
    assert newest_first.index(iccid(3)) < newest_first.index(iccid(59)) < newest_first.index(iccid(58))
    page_two = client.get("/fleet", params={"page": 2}).text
    assert iccid(59) in page_two and iccid(0) not in page_two


def test_fleet_rows_carry_the_lab_inventory_operator_and_smdp(client):
    log_in(client, *VIEWER)
    lab_only = client.get("/fleet", params={"operator": "lab telecom"}).text
    assert "1 profile" in lab_only and iccid(900) in lab_only and "smdp.lab.example" in lab_only
    both = client.get("/fleet", params={"iccid": iccid(0)}).text
    assert "Operator Zero" in both and "ENABLED" in both  # the engine's status, the SM-DP+'s operator


def test_detail_shows_every_record_and_the_diagram_with_the_current_status(client):
    log_in(client, *VIEWER)
    detail = client.get(f"/profiles/{iccid(3)}/detail").text
    assert detail.count("<tr") == 1 + 6  # header + 4 download steps, the disable, the failed download
    assert "es9.8.2.6/3.8" in detail and "download-3b" in detail
    assert 'class="state current" data-status="DISABLED"' in detail
    assert detail.count("state current") == 1


def test_logs_newest_first_filtered_to_errors_with_both_result_codes_and_csv(client):
    log_in(client, *VIEWER)
    newest = client.get("/logs").text
    assert newest.index("download-3b") < newest.index("disable-3")
    errors = client.get("/logs", params={"errors": "1"}).text
    assert errors.count('<tr class="error">') == 1
    assert "RESULT_ANALYZE_AUTHENTICATION_CLIENT_MATCHING_ID_REFUSED (231)" in errors
    assert "InvalidMatchingId (15)" in errors
    ranged = client.get("/logs", params={"since": "2026-11-02T09:10:00", "until": "2026-11-02T09:12:00"}).text
    assert ranged.count("<tr") == 1 + 8  # profiles 10 and 11, four records each
    switches = client.get("/logs", params={"operation": "Switch", "status": "ENABLED", "per_page": 1000}).text
    assert switches.count("<tr") == 1 + 60
    exported = client.get("/logs.csv", params={"errors": "1"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["iccid"], r["error_reason"], r["windows_status"]) for r in rows] == [
        (iccid(3), "es9.8.2.6/3.8", "InvalidMatchingId (15)")]


def test_no_page_shows_a_matching_id(client):
    log_in(client, *OPERATOR)
    pages = ["/fleet?per_page=500", f"/profiles/{iccid(900)}", f"/profiles/{iccid(900)}/detail", "/logs", "/devices",
             "/logs.csv"]
    for path in pages:
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert MATCHING_ID not in answer.text, path


def test_bad_input_gets_a_clear_page(client):
    log_in(client, *VIEWER)
    answer = client.get("/fleet", params={"status": "SLEEPING"})
    assert answer.status_code == 400 and "not a profile status" in answer.text
    assert client.get("/logs", params={"since": "yesterday"}).status_code == 400
    assert client.get("/profiles/12345/detail").status_code == 400


@pytest.fixture
def with_migration(tmp_path):
    store = MigrationStore(tmp_path / "migrations.sqlite3")
    rows = "eid,device,current_iccid,target_iccid\n" + "".join(
        f"{eid},lab/local:{eid},{iccid(n)},{iccid(100 + n)}\n" for n, eid in enumerate((EID_A, EID_B)))
    store.import_fleet("mig-test", parse_fleet(rows.encode(), "fleet.csv"), MigrationPolicy(canary_size=1))
    store.record_outcome(DeviceOutcome("mig-test", 1, EID_B, "rolled_back", reason="the target did not attach",
                                       old_iccid=iccid(1), target_iccid=iccid(101), finished_at="2026-11-02T10:00:00+00:00"))
    store.close()
    with console_client(tmp_path, migrations=tmp_path / "migrations.sqlite3") as client:
        yield client


def test_the_migration_page_shows_counts_and_reasons_and_a_viewer_no_buttons(with_migration):
    client = with_migration
    log_in(client, *VIEWER)
    listed = client.get("/migrations").text
    assert "mig-test" in listed
    page = client.get("/migrations/mig-test").text
    assert 'id="count-rolled_back" data-count="rolled_back">1<' in page
    assert "the target did not attach" in page
    assert 'id="controls"' not in page and "action-pause" not in page
    failed_only = client.get("/migrations/mig-test", params={"outcome": "rolled_back"}).text
    assert failed_only.count('class="outcome-rolled_back"') == 1 and "outcome-not_started" not in failed_only
    waiting = client.get("/migrations/mig-test", params={"outcome": "not_started"}).text
    assert waiting.count('class="outcome-not_started"') == 1 and iccid(0) in waiting
    assert client.get("/migrations/mig-test", params={"outcome": "lost"}).status_code == 400
    status = client.get("/migrations/mig-test/status.json").json()
    assert status["counts"]["rolled_back"] == 1 and status["total"] == 2 and "<svg" in status["chart"]
    refused = client.post("/migrations/mig-test/control", data={"csrf": csrf_of(page), "action": "pause"})
    assert refused.status_code == 403 and "operator role" in refused.text


def test_an_operator_sees_the_buttons_and_a_control_without_csrf_is_refused(with_migration):
    client = with_migration
    log_in(client, *OPERATOR)
    page = client.get("/migrations/mig-test").text
    for action in ("pause", "resume", "approve", "reject", "cancel", "cancel_rollback", "concurrency"):
        assert f'id="action-{action}"' in page
    assert client.post("/migrations/mig-test/control", data={"action": "pause"}).status_code == 403
    assert client.post("/migrations/mig-test/control", data={"action": "pause", "csrf": "forged"}).status_code == 403
    cross = client.post("/migrations/mig-test/control", data={"action": "pause", "csrf": csrf_of(page)},
                        headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
    sent = client.post("/migrations/mig-test/control", data={"action": "pause", "csrf": csrf_of(page)})
    assert sent.status_code == 303  # no Temporal here: the page says nothing was sent
    assert "not connected to Temporal" in client.get("/migrations/mig-test").text


def test_logging_out_ends_the_session(client):
    log_in(client, *VIEWER)
    page = client.get("/fleet").text
    assert client.post("/logout", data={"csrf": csrf_of(page)}).status_code == 303
    assert client.get("/fleet").status_code == 303


def test_a_device_page_shows_the_cards_profiles_and_records(client):
    log_in(client, *VIEWER)
    page = client.get(f"/devices/{EID_B}").text
    assert page.count('<tr data-iccid=') == 30 and iccid(3) in page and iccid(0) not in page
    assert page.count('<tr class="error">') == 1 and "es9.8.2.6/3.8" in page
    assert "no card host has registered this eUICC" in page  # this console has no registry
    assert client.get("/devices/1234").status_code == 400


def test_repeated_wrong_passwords_are_refused_for_a_while_even_with_the_right_one(tmp_path):
    with console_client(tmp_path) as client:
        for _ in range(5):
            assert log_in(client, OPERATOR[0], "a wrong guess!").status_code == 401
        refused = log_in(client, *OPERATOR)
        assert refused.status_code == 429 and "too many failed logins" in refused.text
        assert client.get("/fleet").status_code == 303
        assert log_in(client, *VIEWER).status_code == 303  # another account is not held up


def test_the_throttle_lets_a_key_try_again_after_its_window():
    now = [0.0]
    throttle = LoginThrottle(attempts=2, window=60, clock=lambda: now[0])
    throttle.failed("ops")
    now[0] = 10
    throttle.failed("ops")
    assert throttle.blocked("ops") == 50 and throttle.blocked("other") == 0
    now[0] = 61
    assert throttle.blocked("ops") == 0


def test_an_access_token_logs_in_through_the_form_with_its_role(tmp_path, monkeypatch):
    monkeypatch.setenv("ESIMFLOW_CONSOLE_VIEWER_TOKEN", "viewer-token-" + "v" * 20)
    with console_client(tmp_path) as client:
        form = client.get("/login").text
        wrong = client.post("/login", data={"csrf": csrf_of(form), "token": "viewer-token-" + "x" * 20})
        assert wrong.status_code == 401
        right = client.post("/login", data={"csrf": csrf_of(form), "token": "viewer-token-" + "v" * 20})
        assert right.status_code == 303
        page = client.get("/fleet").text
        assert "token (viewer)" in page and "role-viewer" in page


def test_a_refused_move_shows_as_drift_on_the_logs_and_profile_pages(tmp_path):
    with console_client(tmp_path) as client:
        log_in(client, *VIEWER)
        refused = ProfileStatus("ENABLED").drift("delete")
        with SqlHistoryStore(tmp_path / "history.sqlite3") as history:
            history.record(StatusChange.from_machine(refused, iccid=iccid(1), operation="DeleteProfile",
                                                     at=datetime(2027, 1, 1, tzinfo=UTC), workflow_id="drifted"))
        logs = client.get("/logs").text
        assert logs.count('class=" drift"') == 1
        assert "drift: ProfileStatus: cannot delete from ENABLED" in logs
        assert "drift: ProfileStatus: cannot delete from ENABLED" in client.get(f"/profiles/{iccid(1)}/detail").text
        exported = list(csv.DictReader(io.StringIO(client.get("/logs.csv").text)))
        assert [r["drift"] for r in exported if r["workflow_id"] == "drifted"] == [refused.drift]


def test_the_status_diagram_draws_one_arrow_per_move_naming_every_trigger():
    drawn = status_diagram("ENABLED")
    moves = {(str(s), str(t["dest"])) for t in PROFILE_TRANSITIONS
             for s in (t["source"] if isinstance(t["source"], list) else [t["source"]]) if s != t["dest"]}
    assert drawn.count('<path class="edge"') == len(moves)
    assert ">delete, reset</text>" in drawn and ">reset</text>" in drawn  # a memory reset deletes an enabled one
    assert drawn.count("state current") == 1
