"""``lab up`` as an operator runs it: a process that prints the lab, serves it, and stops cleanly
on Ctrl-C, taking its card out of the reader."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import ssl

import httpx
import pytest

from rsplab import pcscd
from sgp22.activation_code import ActivationCode

ESIMFLOW = str(Path(sys.executable).parent / "esimflow")


def start(command: list[str], tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg"), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)


def read_json_document(process: subprocess.Popen) -> dict:
    """The lab's JSON summary: lines until they parse (the process keeps running after it)."""
    text = ""
    for line in process.stdout:
        text += line
        if line.startswith("}"):
            return json.loads(text)
    raise AssertionError(f"lab up printed no summary; stderr: {process.stderr.read()}")


def interrupt(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("lab up did not stop within 60 s of Ctrl-C") from None
    return process.returncode, stderr


def smdp_answers(summary: dict) -> bool:
    """A TLS connection verified with the printed CA file reaches the SM-DP+."""
    context = ssl.create_default_context(cafile=summary["smdp"]["ca_file"])
    _, port = summary["smdp"]["connect"].split(":")
    with httpx.Client(verify=context, timeout=10) as client:
        response = client.post(f"https://localhost:{port}/gsma/rsp2/es9plus/initiateAuthentication",
                               json={}, headers={"X-Admin-Protocol": "gsma/rsp/v2.2.0"})
    return response.status_code < 500


@pytest.mark.pcsc
@pytest.mark.slow
def test_lab_up_puts_a_card_in_a_vpcd_reader_and_takes_it_out_on_ctrl_c(tmp_path):
    pcscd.ensure_pcscd()
    state = tmp_path / "lab"
    process = start([sys.executable, "-m", "rsplab.up", "--state", str(state), "--vpcd", "1", "--local", "1",
                     "--smdp-port", "0", "--smds-port", "0", "--reader-wait", "240", "--json"], tmp_path)
    try:
        summary = read_json_document(process)
        vpcd_card, local_card = summary["euiccs"]
        assert vpcd_card["reader"] == pcscd.reader_name(pcscd.VPCD_PORTS[0])
        assert local_card["reader"] is None and local_card["in_process"]
        assert len(vpcd_card["eid"]) == 32 and vpcd_card["eid"] != local_card["eid"]
        assert pcscd.card_atr(vpcd_card["reader"]) is not None
        assert Path(summary["smdp"]["ca_file"]).is_file()
        assert len(summary["profiles"]) == 3
        for profile in summary["profiles"]:
            assert ActivationCode.parse(profile["activation_code"]).smdp_address == summary["smdp"]["address"]
        assert smdp_answers(summary)
    finally:
        code, stderr = interrupt(process)
    assert code == 0, stderr
    assert "lab stopped" in stderr
    assert "Traceback" not in stderr
    with pcscd.vpcd_slot(pcscd.VPCD_PORTS[0]):  # the lab let go of the reader; nobody else is in it now
        pcscd.wait_for_card(vpcd_card["reader"], present=False, timeout=10)
    assert (state / "pki" / "ca.pem").is_file()


@pytest.mark.slow
def test_the_lab_comes_back_as_it_was(tmp_path):
    """Second start: same PKI, same eUICCs, the same available profiles (topped up, not doubled)."""
    command = [ESIMFLOW, "lab", "up", "--state", str(tmp_path / "lab"), "--vpcd", "0", "--local", "2",
               "--smdp-port", "0", "--smds-port", "0", "--profiles", "2", "--json"]
    summaries = []
    for _ in range(2):
        process = start(command, tmp_path)
        try:
            summaries.append(read_json_document(process))
        finally:
            code, stderr = interrupt(process)
        assert code == 0, stderr
    first, second = summaries
    assert [e["eid"] for e in first["euiccs"]] == [e["eid"] for e in second["euiccs"]]
    assert [p["iccid"] for p in first["profiles"]] == [p["iccid"] for p in second["profiles"]]
    assert first["smdp"]["ca_file"] == second["smdp"]["ca_file"]


def test_a_bad_lab_request_is_refused_before_anything_starts(tmp_path):
    process = start([ESIMFLOW, "lab", "up", "--state", str(tmp_path / "lab"), "--vpcd", "0", "--local", "0"],
                    tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "at least one eUICC" in stderr
    assert not (tmp_path / "lab").exists()
