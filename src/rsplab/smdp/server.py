"""Serving the lab SM-DP+ over TLS with uvicorn, in the foreground or in a background thread.

TLS uses the DPtls certificate and key of the identities directory, TLS 1.2 or newer. Python's
``ssl`` only loads keys from files, so the key is written to a private temporary directory
for the moment it takes to load it, then removed. The listening socket is opened before the
server starts, so ``port=0`` yields a free port that is known, and connectable, at once.

The lab SM-DS has an address of its own: a second listening socket served by the same server,
requests told apart by the local port they arrived on. So has the admin API (loopback only,
``admin_port``), behind a bearer token generated at every start (``admin_token``, also written
0600 to ``admin_token_file``): whoever can reach ES9+ cannot read activation codes, reissue
orders or inject faults.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import shutil
import ssl
import tempfile
import threading
from pathlib import Path

try:
    import uvicorn
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(f"the lab SM-DP+ needs {missing.name} from the [lab] extra: "
                              "pip install 'esimflow[lab]'", name=missing.name) from missing
from cryptography.hazmat.primitives import serialization

from sgp22.errors import EsimError

from rsplab import pki
from rsplab.smdp.admin import SmdpAdmin
from rsplab.private_files import write_private
from rsplab.smdp.app import build_admin_app, build_app, build_smds_app, by_local_port
from rsplab.smdp.config import DEFAULT_HOST_ID, DEFAULT_SESSION_TTL, SmdpConfig, load_config
from rsplab.smdp.faults import FaultPlan
from rsplab.smdp.inventory import Inventory
from rsplab.smdp.profiles import NewProfile, Profile, StatusChange
from rsplab.smdp.sessions import SessionStore
from rsplab.smdp.status import ProfileStatus
from rsplab.sockets import listening_socket

STARTUP_TIMEOUT = 20.0


class LabSmdpError(EsimError):
    kind = "lab.smdp.server"


def tls_context(config: SmdpConfig, workdir: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    keydir = Path(tempfile.mkdtemp(prefix="tls-", dir=workdir))
    try:
        cert_path, key_path = keydir / "cert.pem", keydir / "key.pem"
        cert_path.write_bytes(config.tls_certificate.public_bytes(serialization.Encoding.PEM))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(config.tls_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
        context.load_cert_chain(cert_path, key_path)
    finally:
        shutil.rmtree(keydir, ignore_errors=True)
    return context


class LabSmdp:
    """A lab SM-DP+ on 127.0.0.1 for tests, benchmarks and ``esimflow lab up``.

    ``address`` is what activation codes carry (``localhost:PORT`` with the generated PKI);
    clients trust ``ca_file`` and connect to ``127.0.0.1:PORT`` (see ``connect_overrides`` when
    the certificate's name does not resolve, as with the SGP.26 set). ``smds_address`` is the
    lab SM-DS (same name and certificate, port ``smds_port``), where eUICCs' root SM-DS points.
    """

    def __init__(
        self,
        identities_dir: str | os.PathLike,
        db_path: str | os.PathLike | None = None,
        *,
        port: int = 0,
        smds_port: int = 0,
        fqdn: str | None = None,
        faults: FaultPlan | str | os.PathLike | None = None,
        host_id: bytes = DEFAULT_HOST_ID,
        session_ttl: float = DEFAULT_SESSION_TTL,
        allow_rebinding: bool = True,
        admin_port: int = 0,
        admin_host: str = "127.0.0.1",
        admin_token_file: str | os.PathLike | None = None,
    ) -> None:
        self.identities_dir = Path(identities_dir)
        self._workdir = Path(tempfile.mkdtemp(prefix="esimflow-smdp-"))
        self._sockets = []
        for host, wanted in (("127.0.0.1", port), ("127.0.0.1", smds_port), (admin_host, admin_port)):
            try:
                self._sockets.append(listening_socket(host, wanted))
            except OSError as exc:
                self._cleanup()
                raise LabSmdpError(f"cannot listen on {host}:{wanted}: {exc.strerror}") from None
        self.port, self.smds_port, self.admin_port = (sock.getsockname()[1] for sock in self._sockets)
        self.admin_host = admin_host
        self.admin_token = secrets.token_urlsafe(32)
        self.admin_token_file = Path(admin_token_file) if admin_token_file is not None else None
        try:
            self.config = load_config(self.identities_dir, port=self.port, fqdn=fqdn, host_id=host_id,
                                      session_ttl=session_ttl, allow_rebinding=allow_rebinding)
            self.smds_config = dataclasses.replace(self.config, port=self.smds_port)
            self.inventory = Inventory(db_path or self._workdir / "smdp.db")
        except BaseException:
            self._cleanup()
            raise
        if self.admin_token_file is not None:
            write_private(self.admin_token_file, self.admin_token.encode() + b"\n")
        self.inventory.set_meta("address", self.config.address)
        self.inventory.set_meta("oid", self.config.oid)
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan.from_file(faults) if faults else FaultPlan()
        self.sessions = SessionStore(session_ttl)
        self.admin = SmdpAdmin(self.inventory, self.config.address)
        self.ca_file = self._write_ca_file()
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    # --- facts clients need ------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.config.address

    @property
    def smds_address(self) -> str:
        return self.smds_config.address

    @property
    def fqdn(self) -> str:
        return self.config.fqdn

    @property
    def smdp_oid(self) -> str:
        return self.config.oid

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    @property
    def admin_url(self) -> str:
        """Where the admin API answers (TLS with the DPtls certificate, so ``fqdn`` as the name)."""
        return f"https://{self.fqdn}:{self.admin_port}/lab/admin"

    @property
    def admin_connect(self) -> str:
        return f"{self.admin_host}:{self.admin_port}"

    @property
    def connect_overrides(self) -> dict[str, str]:
        """Where to connect while checking the certificate for ``fqdn``: the SM-DP+ by name, the SM-DS
        by its address (``fqdn:SMDS_PORT``)."""
        return {self.fqdn: f"127.0.0.1:{self.port}", self.smds_address: f"127.0.0.1:{self.smds_port}"}

    def _write_ca_file(self) -> Path:
        ca_file = pki.load(self.identities_dir).ca_file
        if ca_file is not None:
            return Path(ca_file)
        path = self._workdir / "ca.pem"
        path.write_bytes(b"".join(ci.public_bytes(serialization.Encoding.PEM) for ci in self.config.trusted_cis))
        return path

    # --- running -------------------------------------------------------------------------------------

    def _uvicorn(self) -> uvicorn.Server:
        app = by_local_port({
            self.port: build_app(self.config, self.inventory, faults=self.faults, sessions=self.sessions),
            self.smds_port: build_smds_app(self.smds_config, self.config.address, self.inventory, faults=self.faults,
                                           sessions=self.sessions),
            self.admin_port: build_admin_app(self.config, self.inventory, faults=self.faults, sessions=self.sessions,
                                             token=self.admin_token),
        })
        context = tls_context(self.config, self._workdir)
        config = uvicorn.Config(app, http="h11", lifespan="off", log_level="warning", access_log=False,
                                ssl_context_factory=lambda _config, _default: context,
                                timeout_graceful_shutdown=5)
        return uvicorn.Server(config)

    def start(self) -> "LabSmdp":
        """Serve in a background thread; returns once the server accepts connections."""
        if self._thread is not None:
            raise LabSmdpError("the lab SM-DP+ is already running")
        self._server = self._uvicorn()
        self._thread = threading.Thread(target=self._run, name=f"lab-smdp-{self.port}", daemon=True)
        self._thread.start()
        pause = threading.Event()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < STARTUP_TIMEOUT:
            pause.wait(0.01)
            waited += 0.01
        if not self._server.started:
            self.stop()
            raise LabSmdpError(f"the lab SM-DP+ did not start: {self._failure or 'timeout'}")
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start(); the thread must not die silently
            self._failure = exc

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._server.serve(sockets=self._sockets)

    async def _drop_idle_connections(self) -> None:
        """While shutting down, cut keep-alive connections at once.

        uvicorn closes idle connections gracefully, and a TLS close waits for the client's
        close_notify, which an idle client never sends: stopping would hang until timeouts.
        """
        while True:
            for protocol in list(self._server.server_state.connections):
                cycle = getattr(protocol, "cycle", None)
                transport = getattr(protocol, "transport", None)
                if transport is not None and (cycle is None or cycle.response_complete):
                    transport.abort()
            await asyncio.sleep(0.02)

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C or SIGTERM (uvicorn's signal handling)."""
        self._server = self._uvicorn()
        try:
            self._server.run(sockets=self._sockets)
        except KeyboardInterrupt:
            pass  # uvicorn re-raises the Ctrl-C it handled; the shutdown is complete
        finally:
            self.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._loop is not None and self._thread is not None and self._thread.is_alive():
                try:
                    asyncio.run_coroutine_threadsafe(self._drop_idle_connections(), self._loop)
                except RuntimeError:  # the loop closed meanwhile: nothing left to drop
                    pass
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.close()

    def close(self) -> None:
        if hasattr(self, "inventory"):
            self.inventory.close()
        self._cleanup()

    def _cleanup(self) -> None:
        for sock in self._sockets:
            sock.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> "LabSmdp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- admin -------------------------------------------------------------------------------------

    def add_profile(self, iccid: str | None = None, **options) -> str:
        """Add a profile (options as :class:`NewProfile`, ``package`` for an operator's package);
        returns its activation code."""
        _, code = self.admin.add_profile(NewProfile(iccid=iccid, **options))
        return code

    def profile(self, iccid: str) -> Profile:
        return self.inventory.get(iccid)

    def status(self, iccid: str) -> ProfileStatus:
        return self.inventory.get(iccid).status

    def history(self, iccid: str) -> list[StatusChange]:
        return self.inventory.history(iccid)

    def expire(self, iccid: str) -> ProfileStatus:
        return self.admin.change_status(iccid, "expire").status

    def cancel(self, iccid: str) -> ProfileStatus:
        return self.admin.change_status(iccid, "cancel").status

    def remove(self, iccid: str) -> ProfileStatus:
        return self.admin.change_status(iccid, "remove").status

    def release(self, iccid: str, released: bool = True) -> None:
        self.admin.release(iccid, released)

    def reissue(self, iccid: str, **options) -> str:
        return self.admin.reissue(iccid, **options)[1]

    def add_fault(self, endpoint: str, kind: str, **params) -> int:
        return self.faults.add({"endpoint": endpoint, "kind": kind, **params}).id

    def clear_faults(self) -> None:
        self.faults.clear()
