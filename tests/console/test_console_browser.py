"""The console in Debian's Chromium (selenium, chromedriver from the chromium-driver package;
nothing is downloaded) against ``esimflow console`` on the real stack: a Temporal dev server,
the lab SM-DP+ with a fleet of virtual eUICCs, the engine's and the migration's workers, and a
small migration with a canary batch. One stack for the module; the tests run in file order and
build on each other (the migration's data is what the Fleet and Logs pages show). Screenshots of
each page land in a temporary directory, or in ``ESIMFLOW_SCREENSHOTS`` (``docs/console`` to
refresh the documentation's pictures): a test run leaves the work tree as it found it."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from temporalio.client import Client

from esimflow import search_attributes
from esimflow.codec import data_converter
from esimflow.migration.client import start_migration
from esimflow.migration.model import MigrationPolicy
from esimflow.workers.devstack import start_dev_server
from sgp22.activation_code import ActivationCode

from tests.conftest import TEST_PAYLOAD_KEY
from tests.console.console_kit import OPERATOR, VIEWER, write_accounts
from tests.migration.fleet_lab import build_fleet_lab, fleet_workers, open_lab_store
from tests.migration.migration_helpers import write_csv

pytestmark = [pytest.mark.temporal, pytest.mark.browser, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = Path(os.environ.get("ESIMFLOW_SCREENSHOTS") or Path(tempfile.gettempdir()) / "esimflow-console-shots")
FLEET_SIZE = 8
CANARY = 2
CANNOT_INSTALL = {5}  # (fleet index) its target profile is too large for the card: rolled back, an error record
EXTRA = 4  # two more small migrations at the end: one rejected at its canary, one cancelled
FIRST_DEVICE = 700  # numbers of its own on the shared machine (entity workflows outlive tests)
WAIT = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """The dev server, the lab fleet and the workers, in a thread with its own event loop (the
    browser calls block)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lab = build_fleet_lab(root / "lab", FLEET_SIZE + EXTRA, first=FIRST_DEVICE,
                                   cannot_install={FIRST_DEVICE + n for n in CANNOT_INSTALL})
        self.store = open_lab_store(self.lab)
        suffix = uuid.uuid4().hex[:8]
        self.queues = dict(engine_queue=f"console-engine-{suffix}", migration_queue=f"console-migration-{suffix}")
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="console-stack", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported by start()
            self.failure = error
            self.ready.set()

    async def _main(self) -> None:
        with start_dev_server(log_file=self.root / "temporal.log") as server:
            self.server = server
            self.client = await Client.connect(server.address, data_converter=data_converter(TEST_PAYLOAD_KEY))
            assert await search_attributes.ensure_registered(self.client)
            self.loop = asyncio.get_running_loop()
            self.stop = asyncio.Event()
            async with fleet_workers(self.client, self.lab, self.store, **self.queues):
                self.ready.set()
                await self.stop.wait()

    def start(self) -> Stack:
        self.thread.start()
        assert self.ready.wait(WAIT), "the stack did not start"
        if self.failure is not None:
            raise self.failure
        return self

    def run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        if self.ready.is_set() and self.failure is None:
            self.loop.call_soon_threadsafe(self.stop.set)
            self.thread.join(60)
        self.store.close()
        self.lab.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("console-stack")).start()
    yield running
    running.close()


@pytest.fixture(scope="module")
def console(stack, tmp_path_factory):
    """``esimflow console`` as an operator starts it, reading the stack's stores and Temporal."""
    root = tmp_path_factory.mktemp("console")
    accounts = write_accounts(root / "accounts")
    port = _free_port()
    lab = stack.lab
    command = [str(Path(sys.executable).parent / "esimflow"), "console", "--port", str(port),
               "--accounts", str(accounts), "--history", str(lab.history_path),
               "--migrations", str(lab.root / "migrations.sqlite3"), "--device-registry", str(lab.registry_path),
               "--lab-inventory", str(lab.root / "smdp.db"), "--address", stack.server.address,
               "--temporal-ui", stack.server.ui_url]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TEMPORAL_", "ESIMFLOW_"))}
    env["ESIMFLOW_CODEC_KEY"] = TEST_PAYLOAD_KEY.hex()
    log = open(root / "console.log", "w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (root / "console.log").read_text()
        try:
            if httpx.get(url + "/login", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the console did not answer"
        time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(20)
    log.close()


@pytest.fixture(scope="module")
def browser():
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must not fetch anything (the paths are explicit anyway)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000",
                     "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def secrets_of_the_fleet(stack) -> list[str]:
    return [ActivationCode.parse(device.activation_code).matching_id for device in stack.lab.devices]


def wait_for(driver, condition, timeout: float = WAIT, message: str = ""):
    """``condition`` true, while pages come and go (an element of the page being left is stale)."""
    return WebDriverWait(driver, timeout, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(
        lambda d: condition(d), message)


def text_of(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def shoot(driver, name: str, secrets: list[str], height: int | None = None) -> None:
    """Every page the test looks at is checked for secrets before its picture is kept (the
    whole page, or ``height`` pixels of the window: a pop-up is as tall as the window)."""
    source = driver.page_source
    for secret in secrets:
        assert secret not in source, f"a matching ID is on the {name} page"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = height or driver.execute_script(
        "return Math.max(document.documentElement.scrollHeight, 700) + window.outerHeight - window.innerHeight")
    driver.set_window_size(1440, min(height, 2400))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1440, 1000)


def log_in(driver, url: str, name: str, password: str) -> None:
    driver.get(url + "/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "who"), 20, "not logged in")
    assert name in text_of(driver, "who")


def log_out(driver) -> None:
    driver.find_element(By.CSS_SELECTOR, "form.who button").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "login-form"), 20)


def click_action(driver, action: str) -> str:
    """Press a control button; the migration's answer (or refusal) on the page it leads to."""
    driver.execute_script("window.leftBehind = true")  # gone once the answer's page has loaded
    driver.find_element(By.ID, f"action-{action}").click()
    wait_for(driver, lambda d: d.execute_script("return document.readyState === 'complete' && !window.leftBehind"),
             60, f"no answer to {action}")
    flash = wait_for(driver, lambda d: d.find_elements(By.ID, "flash"), 20, f"no answer to {action}")[0]
    return flash.text


def counts(driver) -> tuple[int, str]:
    return int(driver.find_element(By.CSS_SELECTOR, '[data-field="finished"]').text), text_of(driver, "state")


def test_an_operator_logs_in_and_steers_a_live_migration(stack, console, browser, secrets_of_the_fleet, tmp_path):
    driver = browser
    driver.get(console + "/login")
    shoot(driver, "login", secrets_of_the_fleet)
    log_in(driver, console, *OPERATOR)

    fleet = write_csv(tmp_path / "fleet.csv", stack.lab.fleet_rows()[:FLEET_SIZE])
    policy = MigrationPolicy(max_concurrency=2, max_starts_per_second=1.0, canary_size=CANARY, canary_approval=True,
                             failure_window=20, failure_threshold=0.9)
    started = stack.run(start_migration(stack.client, fleet, policy, migration_id=f"console-{uuid.uuid4().hex[:6]}",
                                        task_queue=stack.queues["migration_queue"],
                                        engine_task_queue=stack.queues["engine_queue"]))
    def listed(d):  # the migration's first activity imports the fleet into the store
        d.get(console + "/migrations")
        return d.find_elements(By.LINK_TEXT, started.migration_id)

    wait_for(driver, listed, 30, "the migration is not listed")[0].click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "migration"), 20)
    driver.execute_script("window.notReloaded = true")
    # the canary batch finishes and the page follows it without a reload
    wait_for(driver, lambda d: counts(d)[1] == "awaiting_approval", message="the canary batch did not finish")
    assert driver.execute_script("return window.notReloaded") is True
    assert counts(driver)[0] == CANARY
    assert "2 devices, finished" in text_of(driver, "canary")

    assert "Approve canary accepted" in click_action(driver, "approve")
    driver.execute_script("window.notReloaded = true")
    wait_for(driver, lambda d: counts(d)[0] >= CANARY + 2, message="the counts did not move after the approval")
    assert driver.execute_script("return window.notReloaded") is True
    shoot(driver, "migration", secrets_of_the_fleet)

    answer = click_action(driver, "pause")
    assert "Pause accepted; the migration answered: paused" in answer, answer
    wait_for(driver, lambda d: text_of(d, "in-flight") == "0" and counts(d)[1] == "paused",
             message="the devices in flight did not finish after the pause")
    held = counts(driver)[0]
    assert held < FLEET_SIZE, "the migration ended before the pause could be seen"
    time.sleep(3)
    assert counts(driver) == (held, "paused")  # nothing new starts while paused

    driver.find_element(By.ID, "concurrency-value").clear()
    driver.find_element(By.ID, "concurrency-value").send_keys("1")
    answer = click_action(driver, "concurrency")
    assert "Concurrency 1 accepted" in answer and "concurrency 1" in answer, answer
    assert "Resume accepted" in click_action(driver, "resume")
    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, '[data-field="concurrency"]').text == "1", 20)
    wait_for(driver, lambda d: counts(d) == (FLEET_SIZE, "completed"), message="the migration did not complete")
    outcomes = {name: int(text_of(driver, f"count-{name}")) for name in ("migrated", "rolled_back", "failed", "skipped")}
    assert outcomes == {"migrated": FLEET_SIZE - 1, "rolled_back": 1, "failed": 0, "skipped": 0}, outcomes

    # the devices table, filtered to the failure, with its reason
    driver.get(driver.current_url.split("?")[0])
    Select(driver.find_element(By.ID, "outcome")).select_by_visible_text("rolled_back")
    driver.find_element(By.ID, "filter-outcome").click()
    wait_for(driver, lambda d: "outcome=rolled_back" in d.current_url, 20)
    rows = driver.find_elements(By.CSS_SELECTOR, "#migration-devices tbody tr")
    assert len(rows) == 1 and "rolled_back" in rows[0].get_attribute("class")
    assert rows[0].find_element(By.CSS_SELECTOR, "td.reason").text.strip()
    # a control the migration can no longer take is refused, and the page says so
    refusal = click_action(driver, "pause")
    assert "refused" in refusal.lower() and "refused" in driver.find_element(By.ID, "flash").get_attribute("class")


def test_search_the_fleet_by_iccid_and_read_the_detail(stack, console, browser, secrets_of_the_fleet):
    driver = browser
    device = stack.lab.devices[0]
    driver.get(console + "/fleet")
    total = int(text_of(driver, "fleet-count").split()[0])
    # every target (the SM-DP+ holds them) and every old profile the migration changed (the
    # failed device kept its old profile untouched: nothing knows of it but the card)
    assert total == 2 * FLEET_SIZE - len(CANNOT_INSTALL) + EXTRA
    shoot(driver, "fleet", secrets_of_the_fleet)

    driver.find_element(By.ID, "search-iccid").send_keys(device.target_iccid)
    driver.find_element(By.ID, "search").click()
    wait_for(driver, lambda d: text_of(d, "fleet-count").startswith("1 profile"), 20)
    row = driver.find_element(By.CSS_SELECTOR, f'#fleet tr[data-iccid="{device.target_iccid}"]')
    assert "ENABLED" in row.text and device.eid in row.text
    row.find_element(By.CSS_SELECTOR, "a.detail").click()
    dialog = wait_for(driver, lambda d: [e for e in d.find_elements(By.ID, "detail-dialog") if e.get_attribute("open")],
                      20, "the Detail pop-up did not open")[0]
    records = [r.text for r in dialog.find_elements(By.CSS_SELECTOR, "#records tbody tr")]
    engine = [r for r in records if r.endswith("engine")]
    assert [r.split()[3] for r in engine][-3:] == ["DOWNLOADED", "INSTALLED", "ENABLED"], records
    assert any("SM-DP+" in r for r in records)  # the SM-DP+'s own records of the same profile
    current = dialog.find_element(By.CSS_SELECTOR, "svg.status-diagram g.state.current")
    assert current.get_attribute("data-status") == "ENABLED"
    link = dialog.find_element(By.CSS_SELECTOR, "#records a[href*='/workflows/']")
    assert link.get_attribute("href").startswith(stack.server.ui_url)
    shoot(driver, "detail", secrets_of_the_fleet, height=1300)
    driver.find_element(By.ID, "detail-close").click()

    driver.find_element(By.ID, "search-iccid").clear()
    driver.find_element(By.ID, "search-iccid").send_keys(device.target_iccid[:12])  # a prefix: the fleet's targets
    driver.find_element(By.ID, "search").click()
    wait_for(driver, lambda d: "profile" in text_of(d, "fleet-count"), 20)
    shown = [r.get_attribute("data-iccid") for r in driver.find_elements(By.CSS_SELECTOR, "#fleet tbody tr")]
    assert shown and all(i.startswith(device.target_iccid[:12]) for i in shown)


def test_the_logs_filtered_to_errors_give_each_reason_and_both_codes(stack, console, browser, secrets_of_the_fleet):
    driver = browser
    driver.get(console + "/logs")
    everything = driver.find_elements(By.CSS_SELECTOR, "#logs tbody tr")
    driver.find_element(By.ID, "errors-only").click()
    driver.find_element(By.ID, "filter").click()
    wait_for(driver, lambda d: "errors=1" in d.current_url, 20)
    errors = driver.find_elements(By.CSS_SELECTOR, "#logs tbody tr")
    assert 0 < len(errors) < len(everything)
    faulty = stack.lab.devices[sorted(CANNOT_INSTALL)[0]].target_iccid
    assert any(faulty in row.text for row in errors)
    for row in errors:
        assert "error" in row.get_attribute("class")
        assert row.find_element(By.CSS_SELECTOR, "td.error-reason").text
        oh, win = [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td.code")]
        assert oh.startswith("RESULT_") and "(" in win
    shoot(driver, "logs", secrets_of_the_fleet)


def test_the_devices_page_lists_every_card_with_its_enabled_profile(stack, console, browser, secrets_of_the_fleet):
    driver = browser
    driver.get(console + "/devices")
    rows = {r.get_attribute("data-eid"): r.text for r in driver.find_elements(By.CSS_SELECTOR, "#devices tbody tr")}
    assert set(rows) == {device.eid for device in stack.lab.devices}
    failed = {stack.lab.devices[number].eid for number in CANNOT_INSTALL}
    for device in stack.lab.devices[:FLEET_SIZE]:
        expected = device.old_iccid if device.eid in failed else device.target_iccid
        assert expected in rows[device.eid], rows[device.eid]
    for device in stack.lab.devices[FLEET_SIZE:]:  # in no migration yet: nothing says what is enabled
        assert device.old_iccid not in rows[device.eid] and device.target_iccid not in rows[device.eid]
    shoot(driver, "devices", secrets_of_the_fleet)

    # the failed card's page: its profiles, its migration with the reason, its error record
    failed_device = stack.lab.devices[sorted(CANNOT_INSTALL)[0]]
    driver.find_element(By.CSS_SELECTOR, f'#devices tr[data-eid="{failed_device.eid}"] a.device-link').click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "device-profiles"), 20)
    assert failed_device.old_iccid in text_of(driver, "device-facts")
    assert failed_device.target_iccid in text_of(driver, "device-profiles")
    assert "rolled_back" in text_of(driver, "device-migrations")
    assert driver.find_elements(By.CSS_SELECTOR, "#device-records tr.error")
    shoot(driver, "device", secrets_of_the_fleet)


def test_a_viewer_sees_no_operator_buttons_and_cannot_steer(stack, console, browser, secrets_of_the_fleet):
    driver = browser
    log_out(driver)
    log_in(driver, console, *VIEWER)
    driver.get(console + "/migrations")
    driver.find_element(By.CSS_SELECTOR, "#migrations tbody a").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "migration"), 20)
    assert driver.find_elements(By.ID, "controls") == []
    assert driver.find_elements(By.CSS_SELECTOR, "button[id^='action-']") == []
    status = driver.execute_async_script(_POST_CONTROL, True)
    assert status == 403  # the viewer's own session and CSRF token, still no
    shoot(driver, "migration-viewer", secrets_of_the_fleet)


def test_a_request_without_session_or_csrf_token_is_refused(console, browser):
    driver = browser
    log_out(driver)
    log_in(driver, console, *OPERATOR)
    driver.get(console + "/migrations")
    driver.find_element(By.CSS_SELECTOR, "#migrations tbody a").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "controls"), 20)
    assert driver.execute_async_script(_POST_CONTROL, False) == 403  # logged in, no CSRF token
    path = driver.current_url.split(console)[1]
    without_session = httpx.post(f"{console}{path}/control", data={"action": "pause", "csrf": "x"})
    assert without_session.status_code == 401
    assert httpx.get(f"{console}{path}/status.json").status_code == 401
    assert httpx.get(f"{console}/fleet").status_code == 303


def _canary_waiting(stack, driver, console, tmp_path, rows: list[dict], name: str) -> str:
    """A migration of ``rows`` with a one-device canary, open on its page, waiting for approval."""
    fleet = write_csv(tmp_path / f"{name}.csv", rows)
    policy = MigrationPolicy(max_concurrency=1, max_starts_per_second=5.0, canary_size=1, canary_approval=True)
    started = stack.run(start_migration(stack.client, fleet, policy, migration_id=f"{name}-{uuid.uuid4().hex[:6]}",
                                        task_queue=stack.queues["migration_queue"],
                                        engine_task_queue=stack.queues["engine_queue"]))
    wait_for(driver, lambda d: d.get(f"{console}/migrations/{started.migration_id}") or d.find_elements(
        By.ID, "migration"), 30)
    wait_for(driver, lambda d: counts(d)[1] == "awaiting_approval", message="the canary did not finish")
    return started.migration_id


def test_rejecting_the_canary_from_the_page_aborts_the_migration(stack, console, browser, tmp_path):
    driver = browser
    _canary_waiting(stack, driver, console, tmp_path, stack.lab.fleet_rows()[FLEET_SIZE:FLEET_SIZE + 2], "rejected")
    assert "Reject canary accepted" in click_action(driver, "reject")
    wait_for(driver, lambda d: counts(d)[1] == "aborted", 60, "the rejection did not abort the migration")
    assert "canary batch was rejected" in text_of(driver, "abort-reason")
    assert counts(driver)[0] == 1 and text_of(driver, "count-migrated") == "1"  # the canary, nothing after it


def test_cancelling_from_the_page_ends_the_migration_with_the_rest_not_started(stack, console, browser, tmp_path):
    driver = browser
    _canary_waiting(stack, driver, console, tmp_path, stack.lab.fleet_rows()[FLEET_SIZE + 2:], "cancelled")
    assert "Cancel with rollback accepted" in click_action(driver, "cancel_rollback")
    wait_for(driver, lambda d: counts(d)[1] == "cancelled", 60, "the cancel did not end the migration")
    driver.get(driver.current_url.split("?")[0] + "?outcome=not_started")
    rows = driver.find_elements(By.CSS_SELECTOR, "#migration-devices tbody tr.outcome-not_started")
    assert len(rows) == 1


# POST the pause control from the page itself (with the page's CSRF token if arguments[0]);
# the answer's status code goes back (redirects not followed).
_POST_CONTROL = """
const withToken = arguments[0], done = arguments[arguments.length - 1];
const body = new URLSearchParams({action: "pause"});
if (withToken) body.set("csrf", document.querySelector("input[name=csrf]").value);
fetch(window.location.pathname + "/control", {method: "POST", body, redirect: "manual", credentials: "same-origin"})
  .then((r) => done(r.type === "opaqueredirect" ? 303 : r.status), () => done(-1));
"""
