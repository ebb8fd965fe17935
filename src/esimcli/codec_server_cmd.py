"""``esimflow codec-server``: serve Temporal's remote codec protocol with the payload key, so
the Temporal UI and the ``temporal`` CLI show decrypted (and still masked) inputs and results."""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import click

from esimflow.codec import AesGcmCodec
from esimflow.keys import ENV_KEY, ENV_KEY_FILE, CodecKeyError, Keyring
from esimflow.codec_server import create_app

ENV_AUTH_FILE = "ESIMFLOW_CODEC_SERVER_AUTH_FILE"
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _accepted_authorizations(path: Path | None) -> list[str]:
    if path is None:
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("codec-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8888, show_default=True)
@click.option("--auth-file", type=_FILE, envvar=ENV_AUTH_FILE, show_envvar=True,
              help="Accepted Authorization header values, one a line (e.g. `Bearer <token>`).")
@click.option("--allow-unauthenticated", is_flag=True,
              help="Answer requests without Authorization (loopback addresses only).")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="URL",
              help="Origin of a Temporal UI allowed to call from the browser (repeatable), e.g. http://localhost:8233.")
@click.option("--codec-key-file", type=_FILE, envvar=ENV_KEY_FILE, show_envvar=True,
              help=f"Payload key file, one key a line, the first encrypts (or set {ENV_KEY}).")
@click.option("--tls-cert", type=_FILE, help="Serve HTTPS with this certificate (PEM), for a UI served over HTTPS.")
@click.option("--tls-key", type=_FILE, help="The certificate's private key (PEM).")
def codec_server(host: str, port: int, auth_file: Path | None, allow_unauthenticated: bool,
                 cors_origins: tuple[str, ...], codec_key_file: Path | None, tls_cert: Path | None,
                 tls_key: Path | None) -> None:
    """Decrypt payloads for the Temporal UI and CLI (matching IDs and codes stay masked)."""
    import uvicorn

    authorizations = _accepted_authorizations(auth_file)
    if not authorizations and not allow_unauthenticated:
        raise click.UsageError(f"give accepted Authorization values with --auth-file (or {ENV_AUTH_FILE}), "
                               "or --allow-unauthenticated on a loopback address")
    if allow_unauthenticated and not _is_loopback(host):
        raise click.UsageError("--allow-unauthenticated only on a loopback address: the server decrypts for anyone")
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        env = dict(os.environ)
        if codec_key_file is not None:
            env[ENV_KEY_FILE] = str(codec_key_file)
            env.pop(ENV_KEY, None)
        keyring = Keyring.from_env(env)
    except CodecKeyError as error:
        raise click.UsageError(error.message) from None
    app = create_app(AesGcmCodec(keyring), authorizations=authorizations, cors_origins=cors_origins,
                     allow_unauthenticated=allow_unauthenticated)
    scheme = "https" if tls_cert else "http"
    click.echo(f"codec server for key {keyring.active_id} on {scheme}://{host}:{port}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", ssl_certfile=tls_cert, ssl_keyfile=tls_key)
