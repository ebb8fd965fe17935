"""The virtual modem's port: a pseudo-terminal whose other end answers AT commands for a card.

Any program that opens the terminal (``/dev/pts/N``, or the ``link`` made to it) sees a modem's
AT port: pyserial, minicom, lpac's AT driver, ``esimflow worker --reader at:/dev/pts/N``.
The terminal stays open on this side while the modem runs, so clients may close and reopen it.
"""
from __future__ import annotations

import logging
import os
import select
import threading
import time
import tty
from pathlib import Path

from rsplab.modem.at_server import AtInterpreter
from rsplab.modem.faults import ModemFaults

log = logging.getLogger(__name__)


class VirtualModem:
    def __init__(self, card, *, cgla: bool = True, max_apdu_data: int = 255, faults: ModemFaults | None = None,
                 link: str | os.PathLike | None = None) -> None:
        self.at = AtInterpreter(card, cgla=cgla, max_apdu_data=max_apdu_data, faults=faults)
        self.link = Path(link) if link else None
        self.device = ""
        self._master = self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> ModemFaults:
        return self.at.faults

    def start(self) -> VirtualModem:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)
        if self.link is not None:
            self.link.unlink(missing_ok=True)
            self.link.symlink_to(self.device)
        self._thread = threading.Thread(target=self._serve, name=f"virtual-modem {self.device}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()

    def __enter__(self) -> VirtualModem:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _serve(self) -> None:
        pending = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.2)
            if not ready:
                continue
            try:
                pending += os.read(self._master, 4096)
            except OSError:
                continue  # no client has the terminal open right now
            while True:
                ends = [index for index in (pending.find(b"\r"), pending.find(b"\n")) if index >= 0]
                if not ends:
                    break
                line = bytes(pending[:min(ends)]).decode("ascii", "replace").strip()
                del pending[:min(ends) + 1]
                if line:
                    self._answer(line)

    def _answer(self, line: str) -> None:
        echo = self.at.echo
        try:
            answer = self.at.handle(line)
        except Exception:  # a modem says ERROR instead of dying; the log keeps the bug visible
            log.exception("virtual modem failed on %r", line)
            answer = None
        if echo:
            self._write(line + "\r")
        if answer is None:
            self._write("\r\nERROR\r\n")
            return
        if answer.delay_s:
            time.sleep(answer.delay_s)
        if not answer.lost:
            self._write("".join(f"\r\n{text}\r\n" for text in answer.lines))

    def _write(self, text: str) -> None:
        try:
            os.write(self._master, text.encode("ascii"))
        except OSError as error:
            log.debug("virtual modem could not write: %s", error)
