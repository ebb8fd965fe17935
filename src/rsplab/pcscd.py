"""pcscd with the vpcd virtual readers, for tests and ``esimflow lab up``.

A vpcd reader holds one card at a time, and several test runs may share this machine, so a
run takes an exclusive lock on the reader's port (:func:`vpcd_slot`) before it puts a virtual
eUICC there. pcscd itself is shared: :func:`ensure_pcscd` reuses a running one and only starts
(and later stops) its own when there is none. Whether a vpcd port listens is read from
``/proc/net/tcp``, never by connecting: a connection to vpcd *is* a card insertion.
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

try:
    from smartcard.scard import (
        SCARD_S_SUCCESS,
        SCARD_SCOPE_USER,
        SCARD_STATE_PRESENT,
        SCARD_STATE_UNAWARE,
        SCardEstablishContext,
        SCardGetStatusChange,
        SCardReleaseContext,
    )
    from smartcard.System import readers
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(f"the lab's PC/SC readers need {missing.name} from the [pcsc] extra: "
                              "pip install 'esimflow[pcsc]'", name=missing.name) from missing

from sgp22.errors import EsimError

log = logging.getLogger(__name__)

VPCD_PORTS = (35963, 35964)
READER_NAMES = {35963: "Virtual PCD 00 00", 35964: "Virtual PCD 00 01"}
LOCK_DIR = Path("/tmp")
_LISTEN = "0A"


class PcscdError(EsimError):
    kind = "lab.pcscd"


def reader_name(port: int) -> str:
    """The PC/SC reader name vpcd gives the reader on ``port``."""
    try:
        return READER_NAMES[port]
    except KeyError:
        raise PcscdError(f"no vpcd reader is configured on port {port} (known: {sorted(READER_NAMES)})") from None


def listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == _LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def pcscd_running() -> bool:
    if shutil.which("pidof"):
        if subprocess.run(["pidof", "pcscd"], stdout=subprocess.DEVNULL, check=False).returncode == 0:
            return True
    return bool(set(VPCD_PORTS) & listening_ports())


@dataclass
class PcscdHandle:
    """A pcscd that is up; ``process`` is set only when this handle started it."""

    process: subprocess.Popen | None = None

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the pcscd this handle started (a shared one is left running)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def ensure_pcscd(timeout: float = 15.0, ports: tuple[int, ...] = VPCD_PORTS) -> PcscdHandle:
    """A running pcscd whose vpcd readers listen; starts ``pcscd -f`` as a child if there is none."""
    handle = PcscdHandle()
    if not pcscd_running():
        binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
        if not os.path.exists(binary):
            raise PcscdError("pcscd is not installed")
        log.info("starting %s -f", binary)
        handle.process = subprocess.Popen([binary, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True)
    deadline = time.monotonic() + timeout
    while not set(ports) <= listening_ports():
        if handle.process is not None and handle.process.poll() is not None:
            raise PcscdError(f"pcscd exited with status {handle.process.returncode}")
        if time.monotonic() > deadline:
            handle.stop()
            raise PcscdError(f"vpcd readers on ports {ports} did not come up within {timeout:.0f}s")
        time.sleep(0.05)
    wait_for_readers([reader_name(port) for port in ports], deadline - time.monotonic())
    return handle


def wait_for_readers(names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        try:
            present = {str(reader) for reader in readers()}
        except Exception:  # pcscd still starting: pyscard raises its own errors
            present = set()
        if all(any(p.startswith(name) for p in present) for name in names):
            return
        if time.monotonic() > deadline:
            raise PcscdError(f"PC/SC does not list readers {names} (has {sorted(present)})")
        time.sleep(0.05)


@contextmanager
def vpcd_slot(port: int = VPCD_PORTS[0], timeout: float = 300.0) -> Iterator[str]:
    """Hold the vpcd reader on ``port`` for this process; yields its PC/SC reader name.

    The lock (``/tmp/esimflow-vpcd-<port>.lock``, fcntl) is released when the block ends or the
    process dies, so a crashed run never blocks the next one.
    """
    name = reader_name(port)
    path = LOCK_DIR / f"esimflow-vpcd-{port}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PcscdError(f"vpcd reader {name} stayed busy for {timeout:.0f}s") from None
                time.sleep(0.1)
        try:
            _wait_until_empty(name)
            yield name
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _wait_until_empty(name: str, timeout: float = 10.0) -> None:
    """Wait until pcscd has seen the previous holder's card leave the reader.

    A card put in before that (the last holder exited, or was killed, just now) is taken by
    pcscd for the old one, still powered, and its first APDU fails with SCARD_E_NOT_TRANSACTED.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            atr = card_atr(name)
        except PcscdError:
            return  # pcscd or this reader is not up yet: no earlier card can be in the way
        if atr is None:
            return
        if time.monotonic() > deadline:
            raise PcscdError(f"reader {name} still shows a card {timeout:.0f}s after its last holder left")
        time.sleep(0.05)


def card_atr(name: str) -> bytes | None:
    """The ATR of the card in reader ``name``, or None when the slot is empty."""
    result, context = SCardEstablishContext(SCARD_SCOPE_USER)
    if result != SCARD_S_SUCCESS:
        raise PcscdError(f"cannot talk to pcscd (SCardEstablishContext {result:#x})")
    try:
        result, states = SCardGetStatusChange(context, 0, [(name, SCARD_STATE_UNAWARE)])
        if result != SCARD_S_SUCCESS:
            raise PcscdError(f"PC/SC has no reader {name!r} (SCardGetStatusChange {result:#x})")
        _, event_state, atr = states[0]
        return bytes(atr) if event_state & SCARD_STATE_PRESENT and atr else None
    finally:
        SCardReleaseContext(context)


def wait_for_card(name: str, *, present: bool = True, timeout: float = 10.0) -> bytes | None:
    """Wait until reader ``name`` has a card (returns its ATR) or, with ``present=False``, none."""
    deadline = time.monotonic() + timeout
    while True:
        atr = card_atr(name)
        if (atr is not None) == present:
            return atr
        if time.monotonic() > deadline:
            state = "a card" if present else "no card"
            raise PcscdError(f"reader {name} did not show {state} within {timeout:.0f}s")
        time.sleep(0.05)
