"""Every lab server connection sends at once: Nagle's algorithm off (TCP_NODELAY) on the
connections the lab SM-DP+ and SM-DS accept, read from the kernel on the server's side of a
live connection, on each of the three ports. With Nagle on, each answer's last segment waited ~40 ms for a delayed ACK."""
from __future__ import annotations

import os
import socket
import ssl

from rsplab.sockets import listening_socket


def accepted_side(local_port: int, peer: tuple[str, int]) -> socket.socket:
    """This process's socket for the server end of the connection from ``peer`` to ``local_port``."""
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            candidate = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        try:
            if candidate.family == socket.AF_INET and candidate.type == socket.SOCK_STREAM \
                    and candidate.getsockname()[1] == local_port and candidate.getpeername() == peer:
                return candidate
        except OSError:
            pass
        candidate.close()
    raise AssertionError(f"no accepted connection from {peer} on port {local_port}")


def nagle_off(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_the_listening_socket_hands_out_connections_without_nagle():
    with listening_socket("127.0.0.1", 0) as listener:
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert nagle_off(accepted)
                assert accepted.proto == socket.IPPROTO_TCP  # so asyncio sets it on any platform too
                assert accepted.getpeername() == client.getsockname()


def test_every_lab_server_port_accepts_connections_without_nagle(smdp):
    context = ssl.create_default_context(cafile=str(smdp.ca_file))
    ports = {"SM-DP+ (ES9+)": ("127.0.0.1", smdp.port, smdp.address),
             "SM-DS (ES11)": ("127.0.0.1", smdp.smds_port, smdp.smds_address),
             "admin API": (smdp.admin_host, smdp.admin_port, f"{smdp.fqdn}:{smdp.admin_port}")}
    assert len({port for _, port, _ in ports.values()}) == 3
    for role, (host, port, address) in ports.items():
        with socket.create_connection((host, port)) as raw:
            with context.wrap_socket(raw, server_hostname=smdp.fqdn) as tls:
                # one complete exchange, so the server's side is a connection in use, not a backlog entry
                tls.sendall(f"GET / HTTP/1.1\r\nHost: {address}\r\n\r\n".encode())
                assert tls.recv(64).startswith(b"HTTP/1.1 ")
                server_side = accepted_side(port, tls.getsockname())
                with server_side:
                    assert nagle_off(server_side), f"{role} connection has Nagle's algorithm on"

