"""Encrypts every Temporal payload (workflow and activity inputs, results, failure messages)
with AES-256-GCM, so matching IDs and confirmation codes never rest in plain text in Temporal's
history, whoever runs the server (a self-hosted cluster, Temporal Cloud).

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

A payload this process cannot decrypt because it was not given that key (a client or worker
configured with another key) does not fail the codec, which would fail the whole workflow task
again and again and wedge the eUICC's entity: it decodes to a marker that the payload converter
turns into a non-retryable ``codec.unknown_key`` error naming the key it needed, where the input
is used. An update with such input is rejected (it never reaches the entity's state), a workflow
started with it fails at once, an activity fails without retries.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import temporalio.converter
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload

from esimflow.json_types import DataclassFields
from sgp22.errors import EsimError
from sgp22.results import OhResultCode, WinStatus

log = logging.getLogger(__name__)

ENV_KEY = "ESIMFLOW_CODEC_KEY"
ENV_KEY_FILE = "ESIMFLOW_CODEC_KEY_FILE"
ENV_PREVIOUS_KEYS = "ESIMFLOW_CODEC_PREVIOUS_KEYS"

ENCODING = b"binary/encrypted"
UNDECODABLE_ENCODING = b"binary/esimflow-unknown-key"
"""The marker a payload decodes to when this process lacks its key (see the module docstring)."""
METADATA_KNOWN_KEY_IDS = "known-key-ids"
UNKNOWN_KEY = "codec.unknown_key"
METADATA_ENCODING = "encoding"
METADATA_KEY_ID = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12


class CodecKeyError(EsimError):
    """No usable key: none configured where one was required, a malformed key, or a payload
    encrypted with a key this process was not given."""

    kind = "codec.key"
    retryable = False
    oh_result = OhResultCode.RESULT_SGP_22_OTHER
    win_status = WinStatus.Other


class UnknownKeyError(CodecKeyError):
    """A payload encrypted with a key this process was not given."""

    kind = UNKNOWN_KEY


class PayloadTamperedError(EsimError):
    """A payload whose authentication tag does not verify: changed in storage or in transit."""

    kind = "codec.tampered"
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
        return cls(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

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
        return ring.with_previous(_previous_from_env(env))


def _previous_from_env(env: Mapping[str, str]) -> list[bytes]:
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


class AesGcmCodec(temporalio.converter.PayloadCodec):
    """Each payload becomes ``nonce || AES-256-GCM(serialized payload)``; the key id and the
    encoding are authenticated as associated data, so swapping metadata is detected too."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._active_id = keyring.active_id
        self._active = AESGCM(keyring.active)
        self._by_id = {key_id(key): AESGCM(key) for key in (keyring.active, *keyring.previous)}

    def __repr__(self) -> str:
        return f"AesGcmCodec({self.keyring!r})"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._active.encrypt(nonce, payload.SerializeToString(), _associated(self._active_id))
        return Payload(
            metadata={METADATA_ENCODING: ENCODING, METADATA_KEY_ID: self._active_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """Payloads that were never encrypted pass through unchanged (histories written before
        the codec was switched on stay readable). A payload under a key this process lacks
        becomes the unknown-key marker (see the module docstring)."""
        if payload.metadata.get(METADATA_ENCODING) != ENCODING:
            return payload
        wanted = payload.metadata.get(METADATA_KEY_ID, b"").decode("ascii", "replace")
        if wanted not in self._by_id:
            return Payload(metadata={METADATA_ENCODING: UNDECODABLE_ENCODING, METADATA_KEY_ID: wanted.encode(),
                                     METADATA_KNOWN_KEY_IDS: ",".join(self._by_id).encode()})
        return self.decrypt_strict(payload)

    def decrypt_strict(self, payload: Payload) -> Payload:
        """Like :meth:`decrypt`, but a payload under an unknown key raises :class:`UnknownKeyError`."""
        if payload.metadata.get(METADATA_ENCODING) != ENCODING:
            return payload
        wanted = payload.metadata.get(METADATA_KEY_ID, b"").decode("ascii", "replace")
        cipher = self._by_id.get(wanted)
        if cipher is None:
            raise UnknownKeyError(unknown_key_message(wanted, list(self._by_id)))
        if len(payload.data) < NONCE_BYTES + 16:
            raise PayloadTamperedError(f"encrypted payload too short ({len(payload.data)} bytes)")
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], _associated(wanted))
        except InvalidTag:
            raise PayloadTamperedError(
                f"encrypted payload (key {wanted}) failed authentication: changed after it was written"
            ) from None
        return Payload.FromString(plain)


def _associated(identifier: str) -> bytes:
    return ENCODING + b"\x00" + identifier.encode()


def unknown_key_message(wanted: str, known: Sequence[str]) -> str:
    """Fingerprints only: which key the payload needs, which this process has."""
    return (f"payload encrypted with key {wanted or '(none named)'}, which the process reading it was not "
            f"given (it has {', '.join(known) or 'none'}); give clients and workers the same key in {ENV_KEY} or "
            f"{ENV_KEY_FILE} (older keys in {ENV_PREVIOUS_KEYS})")


DATACLASS_FIELDS = DataclassFields()


class UnknownKeyPayloadConverter(temporalio.converter.EncodingPayloadConverter):
    """Turns the unknown-key marker into a non-retryable ``codec.unknown_key`` error where the
    value is used: inside a workflow that rejects the update or fails the run, never the task."""

    @property
    def encoding(self) -> str:
        return UNDECODABLE_ENCODING.decode()

    def to_payload(self, value: object) -> Payload | None:
        return None  # only ever decoded

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> object:
        from temporalio.exceptions import ApplicationError

        wanted = payload.metadata.get(METADATA_KEY_ID, b"").decode("ascii", "replace")
        known = [k for k in payload.metadata.get(METADATA_KNOWN_KEY_IDS, b"").decode("ascii", "replace").split(",") if k]
        raise ApplicationError(unknown_key_message(wanted, known), type=UNKNOWN_KEY, non_retryable=True)


class PayloadConverter(temporalio.converter.CompositePayloadConverter):
    """Temporal's default converters (JSON decoding dataclasses with their field types resolved
    once, ``esimflow.json_types``) plus the unknown-key marker's."""

    def __init__(self) -> None:
        super().__init__(*[_with_dataclass_fields(converter) for converter in
                           temporalio.converter.DefaultPayloadConverter.default_encoding_payload_converters],
                         UnknownKeyPayloadConverter())


def _with_dataclass_fields(
        converter: temporalio.converter.EncodingPayloadConverter) -> temporalio.converter.EncodingPayloadConverter:
    if type(converter) is temporalio.converter.JSONPlainPayloadConverter:
        return temporalio.converter.JSONPlainPayloadConverter(custom_type_converters=[DATACLASS_FIELDS])
    return converter


class FailureConverter(temporalio.converter.DefaultFailureConverterWithEncodedAttributes):
    """Failure messages and stack traces encrypted, except an unknown-key failure's: it names
    fingerprints only, and the party that must read it is the one without the other's key."""

    _in_clear = temporalio.converter.DefaultFailureConverter()

    def to_failure(self, exception: BaseException, payload_converter, failure) -> None:
        from temporalio.exceptions import ApplicationError

        if isinstance(exception, ApplicationError) and exception.type == UNKNOWN_KEY:
            self._in_clear.to_failure(exception, payload_converter, failure)
        else:
            super().to_failure(exception, payload_converter, failure)


def data_converter(key: bytes | Keyring | None = None, *, env: Mapping[str, str] | None = None
                   ) -> temporalio.converter.DataConverter:
    """Temporal's default converter with every payload encrypted and failure messages and stack
    traces moved into encrypted attributes.

    ``key``: a Keyring; or the active key as bytes (older keys from ``ESIMFLOW_CODEC_PREVIOUS_KEYS``
    still decrypt); or None to load the keyring from the environment (see the module docstring).
    """
    env = os.environ if env is None else env
    if isinstance(key, Keyring):
        keyring = key
    elif key is not None:
        keyring = Keyring(bytes(key)).with_previous(_previous_from_env(env))
    else:
        keyring = Keyring.from_env(env)
    return replace(
        temporalio.converter.default(),
        payload_converter_class=PayloadConverter,
        payload_codec=AesGcmCodec(keyring),
        failure_converter_class=FailureConverter,
    )
