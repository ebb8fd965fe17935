"""Durability: the virtual eUICC killed with SIGKILL at any moment keeps every acknowledged
change and never shows half an installation."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sgp22 import codec
from sgp22.profile_package import encode_iccid

from rsplab.euicc import StateFileError, VirtualEuicc
from rsplab.euicc.state import EuiccState, StateStore
from tests.lab.euicc_kit import Lpa, Smdp, iccid_for

REPO = Path(__file__).resolve().parents[2]
EID = "89049032123451234512345678901235"


def test_state_survives_a_restart(identity, tmp_path):
    path = tmp_path / "card.json"
    card = VirtualEuicc(identity, path)
    Lpa(card).install(Smdp(), iccid_for(1))
    card.close()
    again = VirtualEuicc(identity, path)
    listed = codec.decode("ProfileInfoListResponse", Lpa(again).es10(bytes.fromhex("BF2D00")))[1]
    assert [p["iccid"] for p in listed] == [encode_iccid(iccid_for(1))]


def test_a_state_file_serves_one_card_at_a_time(identity, tmp_path):
    path = tmp_path / "card.json"
    with VirtualEuicc(identity, path):
        with pytest.raises(StateFileError, match="in use"):
            VirtualEuicc(identity, path)
    VirtualEuicc(identity, path).close()


def test_a_state_file_of_another_eid_is_refused(identity, tmp_path):
    path = tmp_path / "card.json"
    StateStore(path, "89049032123451234512345678901299").close()
    with pytest.raises(StateFileError, match="belongs to EID"):
        VirtualEuicc(identity, path)


def test_a_failed_transaction_leaves_the_committed_state(tmp_path):
    store = StateStore(tmp_path / "s.json", EID)
    with pytest.raises(RuntimeError):
        with store.transaction() as state:
            state.take_seq()
            raise RuntimeError("half way")
    assert store.state.next_seq == 1
    assert json.loads((tmp_path / "s.json").read_text())["next_seq"] == 1


def _run_until_killed(state: Path, first: int, acks_before_kill: int, extra_delay: float) -> list[str]:
    path = os.pathsep.join((str(REPO / "src"), str(REPO)))  # this checkout's code, not an installed copy
    worker = subprocess.Popen([sys.executable, "-m", "tests.lab.euicc_crash_worker", str(state), str(first)],
                              cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": path})
    lines = []
    try:
        assert worker.stdout.readline().strip() == "READY"
        while len(lines) < acks_before_kill:
            line = worker.stdout.readline()
            assert line, "worker died on its own"
            lines.append(line.split())
        time.sleep(extra_delay)  # lands the kill at an arbitrary point of the next step
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    lines += [line.split() for line in worker.stdout.read().splitlines() if line.strip()]
    worker.stdout.close()
    return lines


def test_sigkill_at_any_moment_loses_nothing_acknowledged(identity, tmp_path):
    state_path = tmp_path / "durable.json"
    rng = random.Random(20261121)
    installed: set[int] = set()
    deleted: set[int] = set()
    last_enabled: int | None = None
    for round_number in range(8):
        acks = _run_until_killed(state_path, 100 * round_number, rng.randint(0, 7), rng.uniform(0, 0.04))
        for step, number, result in acks:
            number = int(number)
            if step == "INSTALLED":
                assert result == "successResult"
                installed.add(number)
            elif step == "ENABLED":
                assert result == "0"
                last_enabled = number
            elif step == "DELETED":
                assert result == "0"
                deleted.add(number)
        card = VirtualEuicc(identity, state_path)
        state: EuiccState = card.store.state
        present = {p.iccid for p in state.profiles}
        # the step after the last acknowledgement may have committed before the kill: after
        # "ENABLED n" the worker deletes n - 2 (from the third profile of its round on), so that
        # profile may be gone without an ack
        first = 100 * round_number
        in_flight_delete = {int(acks[-1][1]) - 2} if acks and acks[-1][0] == "ENABLED" else set()
        in_flight_delete = {number for number in in_flight_delete if number >= first}
        deleted |= {number for number in in_flight_delete
                    if encode_iccid(iccid_for(number)).hex().upper() not in present}
        for number in installed - deleted - in_flight_delete:
            assert encode_iccid(iccid_for(number)).hex().upper() in present, f"acknowledged install {number} lost"
        for number in deleted:
            assert encode_iccid(iccid_for(number)).hex().upper() not in present, f"acknowledged delete {number} lost"
        enabled = [p for p in state.profiles if p.enabled]
        assert len(enabled) <= 1
        if last_enabled is not None and encode_iccid(iccid_for(last_enabled)).hex().upper() in present:
            # only a later enable (committed, maybe not yet acknowledged) may have replaced it
            assert enabled and int(_number_of(enabled[0].iccid)) >= last_enabled
        success_pirs = {n.iccid for n in state.notifications if n.event == "install"}
        for profile in state.profiles:
            assert profile.iccid in success_pirs, "a profile without its installation result"
            assert profile.size > 0 and profile.isdp_aid
        numbers = [n.seq for n in state.notifications]
        assert numbers == sorted(set(numbers)) and state.next_seq > max(numbers, default=0)
        card.close()
    assert installed, "the worker never got an installation acknowledged"


def _number_of(coded_iccid: str) -> int:
    digits = "".join(coded_iccid[i + 1] + coded_iccid[i] for i in range(0, 20, 2)).rstrip("F")
    return int(digits[15:19])
