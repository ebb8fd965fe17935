"""The CLI against a real Temporal dev server: `esimflow lab up --with-temporal` (dev server, lab
SM-DP+, an in-process virtual eUICC and a worker), then `esimflow` verbs as separate processes,
as an operator would type them."""
from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from esimflow.workers.devstack import start_dev_server
from sgp22.activation_code import ActivationCode

pytestmark = [pytest.mark.temporal, pytest.mark.slow]

ESIMFLOW = str(Path(sys.executable).parent / "esimflow")
CODEC_KEY = "5a" * 32


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("cli-e2e")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TEMPORAL_", "ESIMFLOW_"))}
    env.update(ESIMFLOW_CODEC_KEY=CODEC_KEY, XDG_STATE_HOME=str(home / "xdg"), PYTHONUNBUFFERED="1",
               ESIMFLOW_DEVICE_REGISTRY=str(home / "devices.sqlite3"))
    return env


@pytest.fixture(scope="module")
def lab(tmp_path_factory, environment):
    state = tmp_path_factory.mktemp("lab")
    process = subprocess.Popen(
        [ESIMFLOW, "lab", "up", "--state", str(state), "--vpcd", "0", "--local", "1", "--smdp-port", "0", "--smds-port", "0",
         "--with-temporal", "--temporal-port", "0", "--ui-port", "0", "--json", "--show-secrets"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    text = ""
    for line in process.stdout:
        text += line
        if line.startswith("}"):
            break
    else:
        raise AssertionError(f"lab up printed no summary: {process.stderr.read()}")
    summary = json.loads(text)
    yield summary, process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)


def esimflow(environment: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([ESIMFLOW, *args], env=environment, capture_output=True, text=True, timeout=timeout)


def test_lab_up_reports_temporal_and_serves_its_euicc(lab):
    summary, _ = lab
    temporal = summary["temporal"]
    assert temporal["ui"].startswith("http://127.0.0.1:")
    assert temporal["served_eids"] == [summary["euiccs"][0]["eid"]]


def test_download_list_and_a_refused_delete_through_the_cli(lab, environment):
    summary, _ = lab
    address, eid = summary["temporal"]["address"], summary["euiccs"][0]["eid"]
    code = summary["profiles"][0]["activation_code"]
    matching_id = ActivationCode.parse(code).matching_id
    common = ["--address", address, "--eid", eid, "--json"]

    listed = esimflow(environment, "profiles", *common)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["data"]["profiles"] == []

    downloaded = esimflow(environment, "download", *common, "--switch", code)
    assert downloaded.returncode == 0, downloaded.stderr
    result = json.loads(downloaded.stdout)
    assert result["ok"] and result["result_code"]["openharmony"]["name"] == "RESULT_OK"
    iccid = result["data"]["iccid"]
    assert iccid == summary["profiles"][0]["iccid"]
    assert matching_id not in downloaded.stdout + downloaded.stderr
    # stdout is the one JSON result scripts parse (json.loads above): progress, if the download
    # lasts long enough to show any, went to stderr

    profiles = json.loads(esimflow(environment, "profiles", *common).stdout)["data"]["profiles"]
    assert [(p["iccid"], p["state"]) for p in profiles] == [(iccid, 1)]

    refused = esimflow(environment, "delete", *common, iccid)
    assert refused.returncode == 1
    refusal = json.loads(refused.stdout)
    assert refusal["ok"] is False and refusal["error"]["kind"]
    assert refusal["result_code"]["openharmony"]["value"] != 0

    human = esimflow(environment, "profiles", "--address", address, "--eid", eid)
    assert iccid in human.stdout and "enabled" in human.stdout


def test_without_a_worker_the_cli_gives_up_with_exit_code_4(environment):
    with start_dev_server(ui=False) as server:
        outcome = esimflow(environment, "profiles", "--address", server.address, "--json", "--timeout", "2",
                           "--eid", "89049032000000000000000000000163")
    assert outcome.returncode == 4, outcome.stderr
    document = json.loads(outcome.stdout)
    assert document["error"]["kind"] == "cli.timeout"
    assert document["error"]["retryable"] is True


def test_a_submit_no_worker_takes_fails_in_bounded_time_as_one_line_naming_the_queue(environment):
    stranded = {**environment, "ESIMFLOW_ACCEPT_TIMEOUT": "2"}
    with start_dev_server(ui=False) as server:
        as_json = esimflow(stranded, "profiles", "--address", server.address, "--json", "--timeout", "60",
                           "--eid", "89049032000000000000000000000260")
        human = esimflow(stranded, "profiles", "--address", server.address, "--timeout", "60",
                         "--eid", "89049032000000000000000000000260")
    assert as_json.returncode == 5, as_json.stderr
    error = json.loads(as_json.stdout)["error"]
    assert (error["kind"], error["retryable"]) == ("engine.queue_unpolled", False)
    assert "'esimflow'" in error["message"]
    assert human.returncode == 5
    assert "Traceback" not in human.stderr and "never retrieved" not in human.stderr
    assert [line for line in human.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {error['message']}"]


def test_an_operator_sees_the_entity_and_is_told_when_there_is_nothing_to_skip(lab, environment):
    summary, _ = lab
    address, eid = summary["temporal"]["address"], summary["euiccs"][0]["eid"]
    assert esimflow(environment, "profiles", "--address", address, "--eid", eid).returncode == 0
    shown = esimflow(environment, "admin", "entity", "show", eid, "--address", address, "--json")
    assert shown.returncode == 0, shown.stderr
    entity = json.loads(shown.stdout)["entity"]
    assert (entity["eid"], entity["task_queue"], entity["running"]) == (eid, "esimflow", None)
    assert entity["completed"] >= 1
    skipped = esimflow(environment, "admin", "entity", "skip", eid, "--reason", "stuck", "--address", address)
    assert skipped.returncode == 1 and "nothing is running" in skipped.stderr
    assert "Traceback" not in skipped.stderr


def run_on_a_terminal(command: list[str], environment: dict, answers: dict[bytes, bytes],
                      timeout: float = 120) -> tuple[int, bytes]:
    """Run ``command`` with a pseudo-terminal as stdin/stdout/stderr, typing each answer when its
    prompt appears; returns the exit code and everything the terminal showed."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: becomes the command
        os.execve(command[0], command, environment)
    shown, pending = b"", dict(answers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([terminal], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the child closed the terminal: it has exited
                break
            if not chunk:
                break
            shown += chunk
        for prompt in [p for p in pending if p in shown]:
            os.write(terminal, pending.pop(prompt))
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    return os.waitstatus_to_exitcode(status), shown


def test_the_confirmation_code_is_asked_through_the_workflow_update_without_echo(lab, environment):
    summary, _ = lab
    confirmation_code = "40961234"
    added = esimflow(environment, "lab", "smdp", "add-profile", "--db", str(Path(summary["state_dir"]) / "smdp.sqlite3"),
                     "--iccid", "8999900000000009999", "--confirmation-code", confirmation_code, "--json",
                     "--show-secrets")
    assert added.returncode == 0, added.stderr
    activation_code = json.loads(added.stdout)["activationCode"]
    matching_id = ActivationCode.parse(activation_code).matching_id

    code, shown = run_on_a_terminal(
        [ESIMFLOW, "download", "--address", summary["temporal"]["address"], "--eid", summary["euiccs"][0]["eid"],
         activation_code],
        environment, {b"Confirmation code": confirmation_code.encode() + b"\n"})
    assert code == 0, shown.decode(errors="replace")
    assert b"Confirmation code" in shown
    assert b"8999900000000009999" in shown
    assert confirmation_code.encode() not in shown  # not echoed, not printed
    assert matching_id.encode() not in shown


DIALER_HASH = "A1" * 32
SHA1_HASH = "B2" * 20


def test_access_rules_given_to_add_profile_reach_the_metadata_preview_and_profiles_json(lab, environment):
    summary, _ = lab
    common = ["--address", summary["temporal"]["address"], "--eid", summary["euiccs"][0]["eid"], "--json"]
    added = esimflow(environment, "lab", "smdp", "add-profile", "--db", str(Path(summary["state_dir"]) / "smdp.sqlite3"),
                     "--iccid", "8999900000000008884", "--access-rule", f"{DIALER_HASH}:com.example.dialer:1",
                     "--access-rule", SHA1_HASH, "--json", "--show-secrets")
    assert added.returncode == 0, added.stderr
    activation_code = json.loads(added.stdout)["activationCode"]
    expected = [{"certificate_hash": DIALER_HASH, "package_name": "com.example.dialer", "access_type": 1},
                {"certificate_hash": SHA1_HASH, "package_name": "", "access_type": 0}]

    preview = esimflow(environment, "metadata", *common, activation_code)
    assert preview.returncode == 0, preview.stderr
    assert json.loads(preview.stdout)["data"]["metadata"]["access_rules"] == expected

    downloaded = esimflow(environment, "download", *common, activation_code)
    assert downloaded.returncode == 0, downloaded.stderr
    profiles = json.loads(esimflow(environment, "profiles", *common).stdout)["data"]["profiles"]
    (installed,) = [p for p in profiles if p["iccid"] == "8999900000000008884"]
    assert installed["access_rules"] == expected


def test_ctrl_c_stops_the_lab_and_its_worker_without_leaking_a_secret(lab):
    """Last in this module: it stops the shared lab."""
    summary, lab_process = lab
    lab_process.send_signal(signal.SIGINT)
    _, lab_stderr = lab_process.communicate(timeout=60)
    assert lab_process.returncode == 0, lab_stderr
    assert "lab stopped" in lab_stderr
    for profile in summary["profiles"]:  # the worker's logs name no matching ID
        assert ActivationCode.parse(profile["activation_code"]).matching_id not in lab_stderr
