"""The fleet's virtual eUICCs in a process of their own (the lab), reached by the card host over
a Unix socket, so a benchmark measures the engine worker's memory without the cards': 10,000
virtual eUICCs hold about 90 KB each (their certificates and keys), which is the lab's
footprint, not the engine's. A real card host reaches real cards through its readers; this is
its stand-in.

    python -m tests.migration.card_lab '{"root": ..., "devices": N, "socket": PATH}'

prints ``ready`` once the cards answer. Each frame is a 4-byte big-endian length and a body:
a request is the 16-byte EID and an APDU (an empty APDU asks for the ATR); an answer is a
status byte (0 answer, 1 the card is out of the device, 2 the card failed) and the answer or
the error's text.
"""
from __future__ import annotations

import json
import signal
import socket
import socketserver
import struct
import sys
import threading
from pathlib import Path

from sgp22.errors import CardRemovedError, TransportError

ANSWER, REMOVED, FAILED = 0, 1, 2
EID_BYTES = 16


def _send(connection: socket.socket, body: bytes) -> None:
    connection.sendall(struct.pack(">I", len(body)) + body)


def _receive(connection: socket.socket) -> bytes | None:
    header = _exactly(connection, 4)
    if header is None:
        return None
    body = _exactly(connection, struct.unpack(">I", header)[0])
    if body is None:
        raise TransportError("the card lab closed the connection mid-frame")
    return body


def _exactly(connection: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = connection.recv(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class RemoteCard:
    """One card of the lab, for the card host's ``local_cards``: each card thread keeps its own
    connection (requests on one connection are answered in order)."""

    def __init__(self, socket_path: Path, eid: str, connections: threading.local) -> None:
        self.socket_path = str(socket_path)
        self.eid = bytes.fromhex(eid)
        self._connections = connections

    def _connection(self) -> socket.socket:
        connection = getattr(self._connections, "socket", None)
        if connection is None:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(self.socket_path)
            self._connections.socket = connection
        return connection

    def _ask(self, apdu: bytes) -> bytes:
        connection = self._connection()
        try:
            _send(connection, self.eid + apdu)
            answer = _receive(connection)
        except OSError as error:
            self._connections.socket = None
            raise TransportError(f"the card lab is unreachable: {error}") from None
        if answer is None:
            self._connections.socket = None
            raise TransportError("the card lab closed the connection")
        status, body = answer[0], answer[1:]
        if status == REMOVED:
            raise CardRemovedError(body.decode())
        if status == FAILED:
            raise TransportError(body.decode())
        return body

    @property
    def atr(self) -> bytes:
        return self._ask(b"")

    def transmit(self, apdu: bytes) -> bytes:
        return self._ask(bytes(apdu))


def remote_cards(socket_path: Path, eids: list[str]) -> dict[str, RemoteCard]:
    connections = threading.local()
    return {eid: RemoteCard(socket_path, eid, connections) for eid in eids}


def serve(arguments: dict) -> None:
    from tests.migration.fleet_lab import FleetLab, serve_cards

    lab = FleetLab.attach(Path(arguments["root"]), arguments["devices"], "", {})
    serve_cards(lab)
    cards = {bytes.fromhex(device.eid): device.pullable for device in lab.devices}

    class Connection(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            while (request := _receive(self.request)) is not None:
                card, apdu = cards.get(request[:EID_BYTES]), request[EID_BYTES:]
                try:
                    if card is None:
                        raise CardRemovedError(f"no card {request[:EID_BYTES].hex().upper()} in the lab")
                    _send(self.request, bytes([ANSWER]) + (card.transmit(apdu) if apdu else card.atr))
                except CardRemovedError as error:
                    _send(self.request, bytes([REMOVED]) + error.message.encode())
                except Exception as error:  # the card's own failure, told to the card host as a transport fault
                    _send(self.request, bytes([FAILED]) + f"{type(error).__name__}: {error}".encode())

    server = socketserver.ThreadingUnixStreamServer(arguments["socket"], Connection)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("ready", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        lab.close()


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))
