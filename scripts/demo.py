"""The README's main command (`make demo`): esimflow end to end on the lab.

Starts the Temporal dev server, the lab (SM-DP+ over TLS, a virtual eUICC in a vpcd reader that
already has a working profile) and a worker that reaches the card through pcscd like any
reader, then, with the `esimflow` CLI as an operator would use it: downloads a second profile by
activation code, switches to it, lists the profiles and deletes the old one. Prints each result
and the Temporal UI address, then starts the operator console (`esimflow console`) on the demo's
data and prints its address; exits 0 when every step succeeded, 1 naming the step that failed.
Everything it started is stopped at the end (with --keep, after Ctrl-C, to browse the UI and the
console).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from esimcli import render
from esimflow.contract import OperationResult
from esimflow.workers.devstack import start_dev_server
from rsplab.up import Lab, LabOptions, StopSignals
from sgp22.activation_code import ActivationCode

WORKER_READY_TIMEOUT = 60.0
CONSOLE_READY_TIMEOUT = 30.0
STEP_TIMEOUT = 300.0


class DemoFailed(Exception):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.detail = detail


def esimflow_command() -> str:
    found = shutil.which("esimflow")
    return found or str(Path(sys.executable).parent / "esimflow")


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.number = 0
        # A fresh payload key, registry and state for this run only: nothing of the user's own
        # esimflow setup is read or touched.
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith(("TEMPORAL_", "ESIMFLOW_"))}
        self.env.update(ESIMFLOW_CODEC_KEY=secrets.token_hex(32), XDG_STATE_HOME=str(workdir / "state"),
                        ESIMFLOW_DEVICE_REGISTRY=str(workdir / "devices.sqlite3"), PYTHONUNBUFFERED="1")

    def step(self, title: str) -> str:
        self.number += 1
        print(f"\n[{self.number}] {title}", flush=True)
        return title

    def cli(self, step: str, *args: str, shown: list[str] | None = None) -> dict:
        """Run one `esimflow` verb; its progress goes straight to the terminal (stderr)."""
        print("  $ esimflow " + shlex.join(shown or args), flush=True)
        started = time.monotonic()
        try:
            done = subprocess.run([esimflow_command(), *args, "--json"], env=self.env, stdout=subprocess.PIPE,
                                  text=True, timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise DemoFailed(step, f"no answer within {STEP_TIMEOUT:.0f} s") from None
        try:
            document = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise DemoFailed(step, f"exit code {done.returncode}, no JSON result: {done.stdout[-500:]!r}") from None
        if document["result_code"] is None:
            raise DemoFailed(step, f"exit code {done.returncode}: {document['error']['message']}")
        result = _as_result(document)
        print(f"  ({time.monotonic() - started:.1f} s)")
        for line in render.status_lines(result) + render.result_lines(result):
            print("  " + line)
        if done.returncode != 0:
            raise DemoFailed(step, f"exit code {done.returncode}: {result.message}")
        return document


def _as_result(document: dict) -> OperationResult:
    codes, error = document["result_code"], document["error"] or {}
    return OperationResult(
        operation=document["operation"], eid=document["eid"] or "", ok=document["ok"],
        oh_result=codes["openharmony"]["value"], oh_result_name=codes["openharmony"]["name"],
        win_status=codes["windows"]["value"], win_status_name=codes["windows"]["name"],
        error_kind=error.get("kind"), message=error.get("message", ""), data=document["data"] or {},
        workflow_id=document["workflow_id"] or "",
    )


def start_worker(demo: Demo, stack: contextlib.ExitStack, *, address: str, reader: str, lab: Lab) -> Path:
    """`esimflow worker` serving the vpcd reader: the card is reached through pcscd, as a real one."""
    log_path = demo.workdir / "worker.log"
    command = [esimflow_command(), "worker", "--address", address, "--reader", reader,
               "--ca-file", str(lab.smdp.ca_file)]
    for fqdn, target in lab.smdp.connect_overrides.items():
        command += ["--connect", f"{fqdn}={target}"]
    print("  $ esimflow " + shlex.join(command[1:]), flush=True)
    log = stack.enter_context(open(log_path, "w"))
    process = subprocess.Popen(command, env=demo.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack.callback(_stop_process, process)
    deadline = time.monotonic() + WORKER_READY_TIMEOUT
    while "Ctrl-C stops it" not in log_path.read_text():
        if process.poll() is not None:
            raise DemoFailed("start a worker", f"the worker exited ({process.returncode}):\n{log_path.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise DemoFailed("start a worker", f"not ready within {WORKER_READY_TIMEOUT:.0f} s; see {log_path}")
        time.sleep(0.2)
    served = [line.strip() for line in log_path.read_text().splitlines() if line.strip().startswith("eUICC ")]
    if not served:
        raise DemoFailed("start a worker", f"the worker serves no eUICC:\n{log_path.read_text()[-2000:]}")
    for line in served:
        print(f"  worker serves {line}")
    return log_path


def start_console(demo: Demo, stack: contextlib.ExitStack, *, server, lab: Lab) -> tuple[str, str]:
    """`esimflow console` on the demo's history, registry and lab inventory; (address, token).
    The demo logs in with a one-off operator token; an operator's own console uses accounts
    (`esimflow console account`)."""
    token = secrets.token_urlsafe(24)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [esimflow_command(), "console", "--port", str(port), "--address", server.address,
               "--lab-inventory", str(lab.smdp.inventory.path), "--temporal-ui", server.ui_url]
    print("  $ esimflow " + shlex.join(command[1:]), flush=True)
    log_path = demo.workdir / "console.log"
    log = stack.enter_context(open(log_path, "w"))
    process = subprocess.Popen(command, env={**demo.env, "ESIMFLOW_CONSOLE_TOKEN": token}, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    stack.callback(_stop_process, process)
    address = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + CONSOLE_READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise DemoFailed("start the console", f"it exited ({process.returncode}):\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(address + "login", timeout=2).status_code == 200:
                return address, token
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise DemoFailed("start the console", f"no answer within {CONSOLE_READY_TIMEOUT:.0f} s; see {log_path}")
        time.sleep(0.2)


def console_fleet(address: str, token: str, iccid: str) -> str:
    """The console's Fleet page searched for ``iccid``, logged in as an operator would. The
    session cookie is Secure: a browser sends it to a loopback console, httpx's cookie jar only
    over TLS, so it is carried by hand."""
    with httpx.Client(base_url=address, timeout=10) as browser:
        form = browser.get("login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        session = {"cookie": f"esimflow_console={form.cookies['esimflow_console']}"}
        login = browser.post("login", data={"csrf": csrf, "token": token}, headers=session)
        session = {"cookie": f"esimflow_console={login.cookies['esimflow_console']}"}
        return browser.get("fleet", params={"iccid": iccid}, headers=session).text


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_stack(demo: Demo, stack: contextlib.ExitStack):
    """Steps 1-3: the dev server, the lab and a worker for its reader; returns the server, the lab,
    the CLI arguments that name the demo's eUICC and the activation code of the profile it offers."""
    demo.step("start the Temporal dev server")
    server = stack.enter_context(start_dev_server(log_file=demo.workdir / "temporal.log"))
    print(f"  Temporal at {server.address}, UI {server.ui_url}")

    title = demo.step("start the lab: SM-DP+, a virtual eUICC in a vpcd reader with a working profile")
    lab = stack.enter_context(Lab(LabOptions(state_dir=demo.workdir / "lab", vpcd_cards=1, profiles=1, smdp_port=0,
                                             smds_port=0, install_first_profile=True, reader_wait=300.0)))
    card = lab.cards[0]
    offered = lab.available_profiles()
    if not offered or card.reader is None:
        raise DemoFailed(title, "the lab has no profile to offer or no card in a reader")
    print(f"  SM-DP+ {lab.smdp.address}, CA {lab.smdp.ca_file}")
    print(f"  eUICC {card.eid} in reader \"{card.reader}\"")

    demo.step("start a worker for the reader")
    start_worker(demo, stack, address=server.address, reader=card.reader, lab=lab)
    return server, lab, ["--address", server.address, "--eid", card.eid], offered[0]["activation_code"]


def replace_profile(demo: Demo, device: list[str], code: str) -> tuple[str, str]:
    """The operator's steps with the CLI: download a second profile by ``code``, switch to it,
    delete the old one, checking the card's profiles after each; returns (old, new) ICCIDs."""
    title = demo.step("list the profiles: the first one is enabled")
    profiles = demo.cli(title, "profiles", *device)["data"]["profiles"]
    enabled = [p["iccid"] for p in profiles if p["state"] == 1]
    if len(enabled) != 1:
        raise DemoFailed(title, f"expected one enabled profile, found {len(enabled)}")
    old_iccid = enabled[0]

    title = demo.step("download a second profile by activation code")
    shown_code = str(ActivationCode.parse(code))  # the matching ID masked on screen
    new_iccid = demo.cli(title, "download", *device, code, shown=["download", *device, shown_code])["data"]["iccid"]

    title = demo.step("switch to it")
    demo.cli(title, "switch", *device, new_iccid, "--force-disable")

    title = demo.step("list the profiles")
    profiles = demo.cli(title, "profiles", *device)["data"]["profiles"]
    states = {p["iccid"]: p["state"] for p in profiles}
    if states.get(new_iccid) != 1 or states.get(old_iccid) != 0:
        raise DemoFailed(title, f"expected {new_iccid} enabled and {old_iccid} disabled, got {states}")

    title = demo.step("delete the old profile")
    demo.cli(title, "delete", *device, old_iccid)
    remaining = [p["iccid"] for p in demo.cli(title, "profiles", *device)["data"]["profiles"]]
    if remaining != [new_iccid]:
        raise DemoFailed(title, f"expected only {new_iccid} left, found {remaining}")
    return old_iccid, new_iccid


def show_results(demo: Demo, stack: contextlib.ExitStack, *, server, lab: Lab, old_iccid: str, new_iccid: str,
                 keep: bool) -> None:
    """The last step: the SM-DP+'s view, then the operator console on the demo's data showing the
    new profile enabled; with ``keep``, everything stays up until Ctrl-C."""
    print("\nSM-DP+ view (operator platform status):")
    for iccid in (old_iccid, new_iccid):
        print(f"  {iccid}  {lab.smdp.status(iccid)}")
    demo.step("start the operator console on the demo's data")
    console, token = start_console(demo, stack, server=server, lab=lab)
    shown = console_fleet(console, token, new_iccid)
    if "ENABLED" not in shown:
        raise DemoFailed("start the operator console", f"its Fleet page does not show {new_iccid} enabled")
    print(f"  the console's Fleet page shows {new_iccid} ENABLED")
    print(f"\ndemo finished: every step succeeded. Temporal UI: {server.ui_url}")
    print(f"operator console: {console} (log in with the access token {token})")
    if keep:
        print("everything keeps running for you to look around; Ctrl-C stops it", flush=True)
        with StopSignals() as stop:
            stop.wait()
    else:
        print("(run `python scripts/demo.py --keep` to keep the console and the UI running)")


def run(demo: Demo, stack: contextlib.ExitStack, keep: bool) -> None:
    server, lab, device, code = start_stack(demo, stack)
    old_iccid, new_iccid = replace_profile(demo, device, code)
    show_results(demo, stack, server=server, lab=lab, old_iccid=old_iccid, new_iccid=new_iccid, keep=keep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep everything running until Ctrl-C at the end")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="esimflow-demo-"))
    demo = Demo(workdir)
    failure: DemoFailed | None = None
    try:
        with contextlib.ExitStack() as stack:
            run(demo, stack, args.keep)
    except DemoFailed as error:
        failure = error
    except Exception as error:  # a step's machinery broke: still report which step
        failure = DemoFailed(f"step {demo.number}", f"{type(error).__name__}: {error}")
    except KeyboardInterrupt:
        failure = DemoFailed(f"step {demo.number}", "interrupted")
    if failure is not None:
        print(f"\ndemo FAILED at step {demo.number} ({failure.step}): {failure.detail}", file=sys.stderr)
        print(f"logs kept in {workdir}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("stopped everything the demo started")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
