"""Listening sockets for the lab's servers (SM-DP+, SM-DS, admin).

Every lab answer is a small request/response exchange; with Nagle's algorithm on, the last
segment of an answer waits for the client's delayed ACK (about 40 ms on Linux), which was half
of every lab download. asyncio turns Nagle off on accepted connections only when the listening
socket says ``IPPROTO_TCP``; a socket made with ``proto=0`` skips that silently. So the
protocol is named, and the option is also set on the listener, which Linux copies to every
connection it accepts.
"""
from __future__ import annotations

import socket

BACKLOG = 128
"""Connections queue here until the server accepts them."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket whose accepted connections send at once (TCP_NODELAY)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock
