"""The payload keys: their format, their fingerprints and where a process finds them.

Kept apart from the codec (``esimflow.codec``) so that reading the configuration
(``esimflow.config``, which every CLI command does) needs neither Temporal nor the cipher, and so
that the environment is read by one rule, here.

Keys: one *active* key encrypts; any number of older keys still decrypt, so a key can be rotated
without making existing histories unreadable. Each payload names its key by a fingerprint (a
hash of the key, never the key), so a worker given the wrong key fails with an error naming the
missing fingerprint instead of a decryption error.

Where the keys come from (``Keyring.from_env``):
- ``ESIMFLOW_CODEC_KEY``: the active key, 32 bytes as 64 hex digits or base64;
- ``ESIMFLOW_CODEC_KEY_FILE``: a file, one key per line (``#`` comments); the first is active,
  the others decrypt only. Used when ``ESIMFLOW_CODEC_KEY`` is not set;
- ``ESIMFLOW_CODEC_PREVIOUS_KEYS``: comma-separated older keys that decrypt only;
- nothing configured: the process refuses to start. A key made up on the spot would encrypt
  what no other host can read (the lab and ``make demo`` provide their key explicitly).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sgp22.errors import EsimError
from sgp22.results import OhResultCode, WinStatus

log = logging.getLogger(__name__)

ENV_KEY = "ESIMFLOW_CODEC_KEY"
ENV_KEY_FILE = "ESIMFLOW_CODEC_KEY_FILE"
ENV_PREVIOUS_KEYS = "ESIMFLOW_CODEC_PREVIOUS_KEYS"

KEY_BYTES = 32


class CodecKeyError(EsimError):
    """No usable key: none configured where one was required, a malformed key, or a payload
    encrypted with a key this process was not given."""

    kind = "codec.key"
    retryable = False
    oh_result = OhResultCode.RESULT_SGP_22_OTHER
    win_status = WinStatus.Other


def key_id(key: bytes) -> str:
    """A fingerprint that names a key in payload metadata without revealing it."""
    return "k" + hashlib.sha256(b"esimflow payload key id\x00" + key).hexdigest()[:16]


def parse_key(text: str, source: str) -> bytes:
    """A 32-byte key from 64 hex digits or base64 (standard or URL-safe). ``source`` names where
    the text came from, for the error message; the text itself is never shown."""
    text = text.strip()
    key: bytes | None = None
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        key = bytes.fromhex(text)
    else:
        try:
            key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            key = None
    if key is None or len(key) != KEY_BYTES:
        raise CodecKeyError(
            f"{source}: a payload key must be {KEY_BYTES} bytes (AES-256) written as 64 hex digits "
            f"or base64; got {len(text)} characters that are neither"
        )
    return key


@dataclass(frozen=True)
class Keyring:
    """The active key and the older keys that may still be needed to read old histories."""

    active: bytes
    previous: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for key in (self.active, *self.previous):
            if len(key) != KEY_BYTES:
                raise CodecKeyError(f"a payload key must be {KEY_BYTES} bytes (AES-256), got {len(key)}")

    def __repr__(self) -> str:  # fingerprints only, never key material
        return f"Keyring(active={self.active_id}, previous={[key_id(k) for k in self.previous]})"

    @property
    def active_id(self) -> str:
        return key_id(self.active)

    @classmethod
    def generate(cls) -> Keyring:
        return cls(os.urandom(KEY_BYTES))

    def rotated(self, new_active: bytes) -> Keyring:
        """``new_active`` encrypts from now on; the current active key keeps decrypting."""
        return Keyring(new_active, (self.active, *self.previous))

    def with_previous(self, keys: Iterable[bytes]) -> Keyring:
        known = {self.active, *self.previous}
        return replace(self, previous=self.previous + tuple(k for k in keys if k not in known))

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        try:
            lines = path.read_text().splitlines()
        except OSError as error:
            raise CodecKeyError(f"{path}: cannot read the payload key file ({error.strerror})") from None
        keys = [parse_key(line, f"{path} line {number}") for number, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")]
        if not keys:
            raise CodecKeyError(f"{path}: the payload key file holds no key")
        return cls(keys[0], tuple(keys[1:]))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Keyring:
        env = os.environ if env is None else env
        if env.get(ENV_KEY):
            ring = cls(parse_key(env[ENV_KEY], ENV_KEY))
        elif env.get(ENV_KEY_FILE):
            ring = cls.from_file(Path(env[ENV_KEY_FILE]))
        else:
            raise CodecKeyError(
                f"no payload key configured: set {ENV_KEY} (64 hex digits) or {ENV_KEY_FILE}; every client "
                f"and worker of one deployment needs the same key (`esimflow lab up` and `make demo` bring "
                f"their own)")
        return ring.with_previous(previous_from_env(env))


def previous_from_env(env: Mapping[str, str]) -> list[bytes]:
    return [parse_key(part, ENV_PREVIOUS_KEYS) for part in env.get(ENV_PREVIOUS_KEYS, "").split(",") if part.strip()]


def ensure_key_file(path: Path) -> Path:
    """Create ``path`` with a fresh key unless it exists, readable by the owner only: the lab's
    own key, which its clients are pointed to explicitly."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path
    with os.fdopen(descriptor, "w") as file:
        file.write("# esimflow payload key (AES-256, hex); first line encrypts, later lines decrypt\n")
        file.write(Keyring.generate().active.hex() + "\n")
    log.info("created payload key file %s", path)
    return path
