"""Where the engine finds Temporal, its payload key and its device registry.

One configuration drives a local dev server, a self-hosted cluster (mTLS) or Temporal Cloud
(mTLS or API key): values come from explicit arguments first, then from the environment.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from esimflow.keys import ENV_KEY, ENV_KEY_FILE, CodecKeyError, Keyring, parse_key, previous_from_env
from sgp22.errors import BadInputError

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.converter import DataConverter
    from temporalio.service import TLSConfig

ENV_ADDRESS = "TEMPORAL_ADDRESS"
ENV_NAMESPACE = "TEMPORAL_NAMESPACE"
ENV_TLS_CERT = "TEMPORAL_TLS_CERT"
ENV_TLS_KEY = "TEMPORAL_TLS_KEY"
ENV_TLS_CA = "TEMPORAL_TLS_CA"
ENV_TLS_SERVER_NAME = "TEMPORAL_TLS_SERVER_NAME"
ENV_API_KEY = "TEMPORAL_API_KEY"
ENV_CODEC_KEY = ENV_KEY  # the payload key's variables are the keyring's (esimflow.keys)
ENV_CODEC_KEY_FILE = ENV_KEY_FILE
ENV_DEVICE_REGISTRY = "ESIMFLOW_DEVICE_REGISTRY"
ENV_HISTORY = "ESIMFLOW_HISTORY"
TEMPORAL_REGISTRY = "temporal"
"""``ESIMFLOW_DEVICE_REGISTRY`` value: card hosts announce their cards to Temporal (esimflow.devices)."""

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Per-user state directory (XDG), shared by the registry and the history by default."""
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "esimflow"


@dataclass(frozen=True)
class TemporalConfig:
    address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    tls_cert: Path | None = None  # client certificate (mTLS)
    tls_key: Path | None = None
    tls_ca: Path | None = None  # server CA; None = system roots (when TLS is on)
    tls_server_name: str | None = None  # SNI / name checked in the server certificate
    api_key: str | None = None
    codec_key: bytes | Keyring | None = None  # active key (or a whole keyring); None: codec_key_file,
    # else the codec's own rule (environment, then a key file in the state directory)
    codec_key_file: Path | None = None  # one key per line, first encrypts (esimflow.keys format)
    codec_previous_keys: tuple[bytes, ...] = ()  # older keys that still decrypt (with codec_key or codec_key_file)
    device_registry: Path | str | None = None  # a SQLite file, or "temporal" (esimflow.devices)
    history_path: Path | str | None = None  # a SQLite file, or a postgresql:// URL (esimflow.history)

    def __repr__(self) -> str:  # the API key and the codec key never show
        return (
            f"TemporalConfig(address={self.address!r}, namespace={self.namespace!r}, "
            f"tls={self.tls_enabled}, api_key={'set' if self.api_key else None}, "
            f"codec_key={'set' if self.codec_key else None})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> TemporalConfig:
        """Environment values, with any non-None keyword argument taking precedence."""
        env = os.environ if env is None else env

        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        config = cls(
            address=env.get(ENV_ADDRESS) or DEFAULT_ADDRESS,
            namespace=env.get(ENV_NAMESPACE) or DEFAULT_NAMESPACE,
            tls_cert=path(ENV_TLS_CERT),
            tls_key=path(ENV_TLS_KEY),
            tls_ca=path(ENV_TLS_CA),
            tls_server_name=env.get(ENV_TLS_SERVER_NAME) or None,
            api_key=env.get(ENV_API_KEY) or None,
            codec_key=_parse_key(env[ENV_CODEC_KEY], ENV_CODEC_KEY) if env.get(ENV_CODEC_KEY) else None,
            codec_key_file=path(ENV_CODEC_KEY_FILE),
            codec_previous_keys=tuple(_codec_keys(lambda: previous_from_env(env))),
            device_registry=_registry(env.get(ENV_DEVICE_REGISTRY)) or state_dir(env) / "devices.sqlite3",
            history_path=env.get(ENV_HISTORY) or None,
        )
        config = config.with_overrides(**overrides)
        config.validate()
        return config

    def with_overrides(self, **overrides) -> TemporalConfig:
        given = {name: value for name, value in overrides.items() if value is not None}
        for name in ("tls_cert", "tls_key", "tls_ca", "codec_key_file"):
            if name in given:
                given[name] = Path(given[name])
        if "device_registry" in given:
            given["device_registry"] = _registry(given["device_registry"])
        if isinstance(given.get("codec_key"), str):
            given["codec_key"] = _parse_key(given["codec_key"], "codec_key")
        return replace(self, **given)

    def validate(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise BadInputError("TLS client certificate and key must be given together")
        for name in ("tls_cert", "tls_key", "tls_ca", "codec_key_file"):
            value = getattr(self, name)
            if value is not None and not value.is_file():
                raise BadInputError(f"{name} file not found: {value}")

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls_cert or self.tls_ca or self.tls_server_name or self.api_key)

    def tls_config(self) -> TLSConfig | bool:
        from temporalio.service import TLSConfig

        if not self.tls_enabled:
            return False
        return TLSConfig(
            server_root_ca_cert=self.tls_ca.read_bytes() if self.tls_ca else None,
            domain=self.tls_server_name,
            client_cert=self.tls_cert.read_bytes() if self.tls_cert else None,
            client_private_key=self.tls_key.read_bytes() if self.tls_key else None,
        )

    def data_converter(self) -> DataConverter:
        """Every payload (inputs, results, failure messages) encrypted with the configured key;
        ``codec_previous_keys`` still decrypt. With neither key nor key file, the codec's own rule
        (``Keyring.from_env``) finds the keys."""
        from esimflow.codec import data_converter

        if isinstance(self.codec_key, Keyring):
            return data_converter(self.codec_key)
        if self.codec_key is not None:
            return data_converter(Keyring(self.codec_key).with_previous(self.codec_previous_keys))
        if self.codec_key_file is not None:
            keyring = Keyring.from_file(self.codec_key_file)
            return data_converter(keyring.with_previous(self.codec_previous_keys))
        return data_converter(None)


def _registry(value: Path | str | None) -> Path | str | None:
    """``temporal`` stays a name; anything else is the SQLite registry file."""
    if not value:
        return None
    return TEMPORAL_REGISTRY if str(value) == TEMPORAL_REGISTRY else Path(value)


def _codec_keys(read: Callable[[], list[bytes]]) -> list[bytes]:
    """The keyring's parsing, its errors as BadInputError (a configuration mistake)."""
    try:
        return read()
    except CodecKeyError as error:
        raise BadInputError(error.message) from None


def _parse_key(text: str, source: str) -> bytes:
    """The codec's key format (64 hex digits or base64 of 32 bytes), as a BadInputError."""
    return _codec_keys(lambda: [parse_key(text, source)])[0]


async def connect(config: TemporalConfig | None = None) -> Client:
    """A Temporal client with the engine's data converter."""
    from temporalio.client import Client

    config = config or TemporalConfig.from_env()
    return await Client.connect(
        config.address,
        namespace=config.namespace,
        tls=config.tls_config(),
        api_key=config.api_key,
        data_converter=config.data_converter(),
    )
