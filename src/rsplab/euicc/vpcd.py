"""Put a virtual eUICC into a vpcd virtual reader, so pcscd (and any PC/SC LPA) sees a card.

vsmartcard's vpcd driver listens on a TCP port per reader; the card connects as a client.
Every message is a 2-byte big-endian length and a payload. A 1-byte payload from vpcd is a
control: 0 power off, 1 power on, 2 reset (no answer), 4 get ATR (answer: the ATR). Anything
longer is a command APDU, answered with the response APDU. Closing the connection is pulling
the card out, which is what happens when fault injection removes the card.
"""
from __future__ import annotations

import logging
import socket
import struct
import threading

from sgp22.errors import BadInputError, CardRemovedError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
_POLL_S = 0.2


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (or just ``port``) -> (host, port)."""
    host, _, port = address.rpartition(":")
    try:
        number = int(port)
    except ValueError as exc:
        raise BadInputError(f"vpcd address {address!r} is not host:port") from exc
    if not 0 < number < 65536:
        raise BadInputError(f"vpcd port {number} out of range")
    return host or DEFAULT_HOST, number


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge at once: vpcd writes the length and the APDU separately, and with Nagle on its
    side and delayed ACKs on ours every APDU would wait ~40 ms. Linux resets the flag after each
    receive, so it is set before each one."""
    quick_ack = getattr(socket, "TCP_QUICKACK", None)
    if quick_ack is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, quick_ack, 1)
        except OSError:
            pass


class _Stopped(Exception):
    pass


class VpcdBridge:
    """Runs the card on one vpcd reader until :meth:`stop`; reconnects when pcscd goes away.

    ``reinsert_after`` (seconds): after fault injection pulls the card, put it back after this
    delay; None keeps it out until the bridge stops.
    """

    def __init__(self, card, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                 retry_interval: float = 0.5, reinsert_after: float | None = None) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.retry_interval = retry_interval
        self.reinsert_after = reinsert_after
        self.connected = threading.Event()
        self.apdus = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # --- lifecycle

    def start(self) -> "VpcdBridge":
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self.run, name=f"vpcd-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Take the card out of the reader and end the bridge thread."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> "VpcdBridge":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def run(self) -> None:
        """Blocking loop: connect, serve, reconnect, until stopped."""
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
            except OSError as error:
                log.debug("vpcd %s:%d not reachable (%s); retrying", self.host, self.port, error)
                self._stop.wait(self.retry_interval)
                continue
            try:
                self._serve(sock)
            except _Stopped:
                pass
            except CardRemovedError:
                log.info("virtual eUICC pulled out of vpcd %s:%d (fault injection)", self.host, self.port)
                self._close(sock)
                self._wait_for_reinsertion()
                continue
            except OSError as error:
                log.info("vpcd %s:%d connection lost: %s", self.host, self.port, error)
            self._close(sock)
            if not self._stop.is_set():
                self._stop.wait(self.retry_interval)
        self.connected.clear()

    def _wait_for_reinsertion(self) -> None:
        if self.reinsert_after is None:
            self._stop.wait()
            return
        if not self._stop.wait(self.reinsert_after):
            self.card.reinsert()

    def _close(self, sock: socket.socket) -> None:
        self.connected.clear()
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    # --- one connection

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(_POLL_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connected.set()
        log.info("virtual eUICC %s inserted in vpcd %s:%d", getattr(self.card, "eid", "?"), self.host, self.port)
        while True:
            message = self._receive(sock)
            if len(message) == 1:
                self._control(sock, message[0])
                continue
            response = self.card.transmit(message)
            self.apdus += 1
            self._send(sock, response)

    def _control(self, sock: socket.socket, code: int) -> None:
        if code in (CTRL_OFF, CTRL_ON, CTRL_RESET):
            self.card.reset()
        elif code == CTRL_ATR:
            self._send(sock, self.card.atr)
        else:
            log.warning("vpcd sent unknown control byte %02X", code)

    def _receive(self, sock: socket.socket) -> bytes:
        (length,) = struct.unpack(">H", self._read_exactly(sock, 2))
        return self._read_exactly(sock, length)

    def _read_exactly(self, sock: socket.socket, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            if self._stop.is_set():
                raise _Stopped()
            _quick_ack(sock)
            try:
                chunk = sock.recv(size - len(data))
            except socket.timeout:
                continue
            if not chunk:
                raise ConnectionError("vpcd closed the connection")
            data += chunk
        return bytes(data)

    @staticmethod
    def _send(sock: socket.socket, payload: bytes) -> None:
        sock.sendall(struct.pack(">H", len(payload)) + payload)


