"""How a command finds Temporal: flags first, then the engine's environment variables.

The same options reach a local dev server, a self-hosted cluster with mTLS and Temporal Cloud
(mTLS or API key). Secrets have no plain flag of their own where a file or the environment can
carry them, because a command line is visible to every user of the host (``ps``) and lands in
shell history: the API key flag exists for parity with ``temporal`` but the docs steer to the
environment.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig

from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure
from esimflow import config as engine_config
from esimflow.keys import Keyring
from sgp22.errors import EsimError
from sgp22.secret_text import shown_address

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

# (parameter name, flag, environment variable, click type, help)
_OPTIONS: list[tuple[str, str, str, Any, str]] = [
    ("address", "--address", engine_config.ENV_ADDRESS, str,
     f"Temporal frontend host:port (default {engine_config.DEFAULT_ADDRESS})."),
    ("namespace", "--namespace", engine_config.ENV_NAMESPACE, str,
     f"Temporal namespace (default {engine_config.DEFAULT_NAMESPACE})."),
    ("tls_cert", "--tls-cert", engine_config.ENV_TLS_CERT, _EXISTING_FILE,
     "Client certificate (PEM) for mTLS."),
    ("tls_key", "--tls-key", engine_config.ENV_TLS_KEY, _EXISTING_FILE,
     "Client private key (PEM) for mTLS."),
    ("tls_ca", "--tls-ca", engine_config.ENV_TLS_CA, _EXISTING_FILE,
     "CA that signed the server certificate (default: system roots when TLS is on)."),
    ("tls_server_name", "--tls-server-name", engine_config.ENV_TLS_SERVER_NAME, str,
     "Name to check in the server certificate (SNI)."),
    ("api_key", "--api-key", engine_config.ENV_API_KEY, str,
     "Temporal Cloud API key; prefer the environment variable, a flag is visible in `ps`."),
    ("codec_key_file", "--codec-key-file", engine_config.ENV_CODEC_KEY_FILE, _EXISTING_FILE,
     f"Payload key file, one key a line, the first encrypts (or set {engine_config.ENV_CODEC_KEY})."),
]


CONNECTION_PARAMETERS = tuple(name for name, *_ in _OPTIONS)


def temporal_options(command: Callable) -> Callable:
    """Add the connection flags to a command and hand it one ``connection`` keyword instead."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags = {name: kwargs.pop(name) for name, *_ in _OPTIONS}
        kwargs["connection"] = ConnectionFlags(flags)
        return command(*args, **kwargs)

    for name, flag, envvar, kind, help_text in reversed(_OPTIONS):
        wrapper = click.option(
            flag, name, type=kind, envvar=envvar, show_envvar=True, default=None,
            help=help_text, show_default=False,
        )(wrapper)
    return wrapper


class ConnectionFlags:
    """The connection flags as given; only :meth:`config` turns them into an engine config."""

    def __init__(self, flags: dict[str, Any]) -> None:
        self._flags = flags

    def __repr__(self) -> str:
        given = sorted(name for name, value in self._flags.items() if value is not None)
        return f"ConnectionFlags(given={given})"

    @property
    def api_key(self) -> str | None:
        return self._flags.get("api_key")

    def config(self) -> engine_config.TemporalConfig:
        overrides = {name: value for name, value in self._flags.items() if name != "codec_key_file"}
        try:
            key_file = self._flags.get("codec_key_file")
            if key_file is not None:
                overrides["codec_key"] = Keyring.from_file(key_file)
            return engine_config.TemporalConfig.from_env(**overrides)
        except EsimError as error:  # messages name the setting, never the key
            raise CliFailure(ExitCode.USAGE, error.kind, error.message) from None
        except (OSError, ValueError) as error:  # unreadable, or not text (UnicodeDecodeError)
            raise CliFailure(ExitCode.USAGE, "input.codec_key_file",
                             f"cannot read the payload key file: {type(error).__name__}") from None


def owned_runtime() -> Runtime:
    """A Temporal core runtime for this command alone.

    With the SDK's shared default runtime, a short-lived client process crashes at interpreter
    exit about one time in three (temporalio/sdk-python#300: its Tokio threads touch the GIL
    while Python finalizes). A runtime the command owns is dropped, threads and all, when the
    command lets go of it and its clients, before Python starts finalizing.
    """
    return Runtime(telemetry=TelemetryConfig())


async def connect(flags: ConnectionFlags, runtime: Runtime) -> Client:
    return await connect_config(flags.config(), runtime)


async def connect_config(config: engine_config.TemporalConfig, runtime: Runtime) -> Client:
    """A client, or a :class:`CliFailure` with exit code 3 that says which address failed.

    Same client as ``esimflow.config.connect`` (address, namespace, TLS, API key, the engine's
    encrypting data converter), on the command's own ``runtime``.
    """
    try:
        data_converter = config.data_converter()
        tls = config.tls_config()
    except EsimError as error:  # the payload key: named by its setting, never shown
        raise CliFailure(ExitCode.USAGE, error.kind, error.message) from None
    except (OSError, ValueError) as error:  # a key or certificate file that cannot be read as one
        raise CliFailure(ExitCode.USAGE, "input.file", f"cannot read a TLS or payload key file: "
                                                       f"{type(error).__name__}") from None
    shown = shown_address(config.address)
    try:
        return await Client.connect(
            config.address, namespace=config.namespace, tls=tls, api_key=config.api_key,
            data_converter=data_converter, runtime=runtime,
        )
    except ValueError as error:  # the SDK refuses the address itself
        raise CliFailure(ExitCode.USAGE, "input.temporal_address",
                         f"Temporal address {shown} is not host:port ({str(error).replace(config.address, shown)})",
                         ) from None
    except RuntimeError as error:
        # The SDK reports every connect failure (refused, TLS, DNS, auth) as RuntimeError.
        raise CliFailure(
            ExitCode.TEMPORAL_UNREACHABLE, "temporal.unreachable",
            f"cannot connect to Temporal at {shown}: "
            f"{str(error).replace(config.address, shown)}",
            retryable=True,
        ) from None
