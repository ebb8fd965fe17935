"""Test support for the whole-stack lab tests: a virtual eUICC in a vpcd reader (a separate
``esimflow lab euicc`` process, or a bridge thread), the protocol library on pyscard, and ES9+
clients of a lab SM-DP+ over TLS.

pcscd is shared (``ensure_pcscd`` reuses a running one); each vpcd reader holds one card, so a
card goes in only under the reader's ``vpcd_slot`` lock (the CLI takes it itself). Nothing here
skips: when pcscd or a reader is missing, the fixture errors and the test fails.
"""
from __future__ import annotations

import itertools
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from sgp22 import lpa
from sgp22.apdu import IsdrChannel
from sgp22.es9 import Es9Client, Es9Config
from carddrivers.pcsc import PcscTransport

from rsplab.euicc.vpcd import VpcdBridge
from rsplab.pcscd import VPCD_PORTS, PcscdError, ensure_pcscd, vpcd_slot, wait_for_card

from tests.lab.test_lab_smdp_kit import SGP26, iccid_for

SGP26_EID = "89049032123451234512345678901235"
INVALID_CERTS = SGP26 / "InvalidTestCases"
PORT_PREFERENCE = tuple(reversed(VPCD_PORTS))
"""Other test areas mostly use the first reader, so the second one is tried first."""
READER_WAIT = 240.0
"""How long a test waits for a reader that other runs hold."""
CARD_START_TIMEOUT = READER_WAIT + 20.0

_iccid_numbers = itertools.count(7000)


def new_iccid() -> str:
    """An ICCID no other whole-stack test of this process uses (inventories refuse duplicates)."""
    return iccid_for(next(_iccid_numbers))


@pytest.fixture(scope="session")
def stack_pcscd():
    """pcscd with the vpcd readers; errors (never skips) when it cannot be started."""
    handle = ensure_pcscd()
    yield handle
    handle.stop()


def esimflow_executable() -> str:
    return shutil.which("esimflow") or str(Path(sys.executable).parent / "esimflow")


# --- vpcd readers ----------------------------------------------------------------------------------------


def _try_slot(port: int) -> tuple[ExitStack, str] | None:
    stack = ExitStack()
    try:
        reader = stack.enter_context(vpcd_slot(port, timeout=0))
    except PcscdError:
        return None
    return stack, reader


@contextmanager
def free_vpcd_slot() -> Iterator[tuple[int, str]]:
    """Hold whichever vpcd reader is free first; yields (port, reader name)."""
    deadline = time.monotonic() + READER_WAIT
    while True:
        for port in PORT_PREFERENCE:
            taken = _try_slot(port)
            if taken is not None:
                stack, reader = taken
                with stack:
                    yield port, reader
                return
        if time.monotonic() > deadline:
            raise PcscdError(f"every vpcd reader stayed busy for {READER_WAIT:.0f}s")
        time.sleep(0.1)


def free_vpcd_port() -> int:
    """A vpcd port nobody holds right now, for a process that takes the reader's lock itself
    (it waits if another run takes the reader first)."""
    for port in PORT_PREFERENCE:
        taken = _try_slot(port)
        if taken is not None:
            taken[0].close()
            return port
    return PORT_PREFERENCE[0]


# --- cards in vpcd readers ---------------------------------------------------------------------------


@dataclass
class CliCard:
    """A virtual eUICC served by ``esimflow lab euicc`` in its own process."""

    eid: str
    reader: str
    process: subprocess.Popen
    log_path: Path


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


@contextmanager
def cli_card(identities: Path, state: Path) -> Iterator[CliCard]:
    """Run ``esimflow lab euicc --vpcd 127.0.0.1:PORT`` until the block ends; the card is in the
    reader (the CLI holds the reader's lock) when the block starts, and the process must exit 0
    on SIGTERM."""
    log_path = state.with_suffix(".log")
    command = [esimflow_executable(), "lab", "euicc", "--vpcd", f"127.0.0.1:{free_vpcd_port()}",
               "--identities", str(identities), "--state", str(state), "--wait-reader", f"{READER_WAIT:.0f}",
               "--no-start-pcscd"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        banner = _banner(lines, log_path)
        card = CliCard(eid=banner[0].removeprefix("virtual eUICC "), reader=banner[1].split(":", 1)[1].strip(),
                       process=process, log_path=log_path)
        wait_for_card(card.reader)
    except BaseException:
        process.kill()
        process.wait()
        raise
    try:
        yield card
    except BaseException:
        process.kill()
        process.wait()
        raise
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0, log_path.read_text()


def _banner(lines: queue.Queue, log_path: Path) -> list[str]:
    """The CLI's banner up to "Ctrl-C ...", printed once its card sits in the reader."""
    banner = []
    while True:
        try:
            line = lines.get(timeout=CARD_START_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"esimflow lab euicc printed no banner: {banner}") from None
        if line is None:
            raise AssertionError(f"esimflow lab euicc ended early: {banner}\n{log_path.read_text()}")
        if "waiting for vpcd" in line:
            raise AssertionError("esimflow lab euicc could not reach vpcd: is pcscd running with the vpcd driver?")
        banner.append(line)
        if line.startswith("Ctrl-C"):
            return banner


@contextmanager
def bridged_card(card) -> Iterator[str]:
    """Put ``card`` (a VirtualEuicc of this process) into a free vpcd reader; yields the reader
    name. The card is out of the reader again before the reader's lock is released."""
    with free_vpcd_slot() as (port, reader):
        with VpcdBridge(card, port=port) as bridge:
            assert bridge.wait_connected(10), f"vpcd on port {port} did not take the card"
            wait_for_card(reader)
            yield reader
        wait_for_card(reader, present=False)


@contextmanager
def isdr_over_pcsc(reader: str, *, block_size: int = 120) -> Iterator[IsdrChannel]:
    """The protocol library's ISD-R session on the card in ``reader``, through pyscard and pcscd."""
    with PcscTransport(reader) as transport, IsdrChannel(transport, block_size=block_size) as isdr:
        yield isdr


# --- the lab SM-DP+ from the LPA side ---------------------------------------------------------------------


def es9_config(smdp) -> Es9Config:
    """Trust exactly the lab's CA; reach its TLS name through 127.0.0.1."""
    return Es9Config(ca_file=smdp.ca_file, connect_overrides=smdp.connect_overrides, timeout=30)


async def download(isdr: IsdrChannel, smdp, activation_code: str, confirmation_code: str | None = None):
    """The protocol library's whole download (sgp22.lpa.download) against ``smdp``."""
    async with Es9Client(smdp.address, es9_config(smdp)) as es9:
        return await lpa.download(isdr, es9, activation_code, confirmation_code)


async def deliver_notifications(isdr: IsdrChannel, smdp) -> list[lpa.NotificationOutcome]:
    """The protocol library's notification loop: handleNotification, then RemoveNotificationFromList."""
    config = es9_config(smdp)
    return await lpa.process_notifications(isdr, lambda address: Es9Client(address, config))


def statuses(smdp, iccid: str) -> list[str]:
    """The status path the SM-DP+ recorded for a profile (rows that changed nothing left out)."""
    return [change.to_status for change in smdp.history(iccid) if change.to_status != change.from_status]
