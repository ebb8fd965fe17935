"""A throwaway HTTPS server on 127.0.0.1 for ES9+ client tests: its own CA made with
`cryptography`, a starlette app under uvicorn whose answers each test scripts, and a TLS
listener that answers garbage instead of HTTP."""
from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(directory: Path, label: str, hostnames: list[str]) -> Pki:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} test CA")).issuer_name(_name(f"{label} test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostnames[0])).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hostnames]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / f"{label}-ca.pem", directory / f"{label}-server.pem", directory / f"{label}-server.key")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pki


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes


class Delay:
    """An answer that never comes in time (the server waits until the client gave up)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def wait(self) -> None:
        await asyncio.sleep(self.seconds)


# an answer: (HTTP status, body bytes, content type) or a function of the request body giving one
Answer = tuple[int, bytes, str] | Callable[[bytes], tuple[int, bytes, str]] | Delay


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio then sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)


class ScriptedHttpsServer:
    """uvicorn in a thread; ``answers`` maps a path to its answer, ``requests`` records calls."""

    def __init__(self, pki: Pki) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[Recorded] = []
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["POST"])])
        self._socket = _bound_socket()
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app, ssl_certfile=str(pki.cert_file), ssl_keyfile=str(pki.key_file),
            log_level="warning", lifespan="off", access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append(Recorded(request.url.path, dict(request.headers), body))
        answer = self.answers.get(request.url.path)
        if answer is None:
            return Response(status_code=404)
        if callable(answer):
            answer = answer(body)
        if isinstance(answer, Delay):
            await answer.wait()
            return Response(status_code=500)
        status, content, content_type = answer
        return Response(content, status_code=status, media_type=content_type or None)

    def start(self) -> ScriptedHttpsServer:
        self._thread.start()
        _wait_until(lambda: self._server.started, "test HTTPS server")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


def _read_whole_request(tls: ssl.SSLSocket) -> None:
    """Reads headers and body, so closing afterwards cannot reset the client before it reads the answer."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = tls.recv(65536)
        if not chunk:
            return
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            return
        body += chunk


class RawTlsServer:
    """Completes the TLS handshake and answers each request with raw bytes that ``respond``
    chooses: a list of ``(bytes, pause_before)`` pieces, then the connection closes. Anything
    HTTP allows (and much it does not) can be sent: wrong lengths, drips, truncation, floods.
    Each connection gets its own thread, so a drip does not hold up the next case."""

    def __init__(self, pki: Pki) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(pki.cert_file, pki.key_file)
        self._socket = _bound_socket()
        self._socket.listen(64)
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self.respond: Callable[[], list[tuple[bytes, float]]] = lambda: []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._answer, args=(connection, self.respond), daemon=True).start()

    def _answer(self, connection: socket.socket, respond) -> None:
        try:
            connection.settimeout(5)
            with self._context.wrap_socket(connection, server_side=True) as tls:
                _read_whole_request(tls)
                for piece, pause in respond():
                    if pause:
                        time.sleep(pause)
                    if self._stop.is_set():
                        return
                    tls.sendall(piece)
        except (OSError, ssl.SSLError):
            pass

    def start(self) -> RawTlsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


class GarbageTlsServer(RawTlsServer):
    """Completes the TLS handshake, then answers every request with bytes that are not HTTP."""

    def __init__(self, pki: Pki, garbage: bytes = b"\x00\x01garbage that is not HTTP\r\n\r\n") -> None:
        super().__init__(pki)
        self.garbage = garbage
        self.respond = lambda: [(self.garbage, 0.0)]
