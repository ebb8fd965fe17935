"""Encrypts every Temporal payload (workflow and activity inputs, results, failure messages)
with AES-256-GCM, so matching IDs and confirmation codes never rest in plain text in Temporal's
history, whoever runs the server (a self-hosted cluster, Temporal Cloud).

Keys and where they come from: ``esimflow.keys``.

A payload this process cannot decrypt because it was not given that key (a client or worker
configured with another key) does not fail the codec, which would fail the whole workflow task
again and again and wedge the eUICC's entity: it decodes to a marker that the payload converter
turns into a non-retryable ``codec.unknown_key`` error naming the key it needed, where the input
is used. An update with such input is rejected (it never reaches the entity's state), a workflow
started with it fails at once, an activity fails without retries.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace

import temporalio.converter
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload

from esimflow.json_types import DataclassFields
from sgp22.errors import EsimError
from sgp22.results import OhResultCode, WinStatus

from esimflow.keys import (
    ENV_KEY,
    ENV_KEY_FILE,
    ENV_PREVIOUS_KEYS,
    CodecKeyError,
    Keyring,
    key_id,
    previous_from_env,
)

log = logging.getLogger(__name__)

ENCODING = b"binary/encrypted"
UNDECODABLE_ENCODING = b"binary/esimflow-unknown-key"
"""The marker a payload decodes to when this process lacks its key (see the module docstring)."""
METADATA_KNOWN_KEY_IDS = "known-key-ids"
UNKNOWN_KEY = "codec.unknown_key"
METADATA_ENCODING = "encoding"
METADATA_KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class UnknownKeyError(CodecKeyError):
    """A payload encrypted with a key this process was not given."""

    kind = UNKNOWN_KEY


class PayloadTamperedError(EsimError):
    """A payload whose authentication tag does not verify: changed in storage or in transit."""

    kind = "codec.tampered"
    retryable = False
    oh_result = OhResultCode.RESULT_SGP_22_OTHER
    win_status = WinStatus.Other


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
        keyring = Keyring(bytes(key)).with_previous(previous_from_env(env))
    else:
        keyring = Keyring.from_env(env)
    return replace(
        temporalio.converter.default(),
        payload_converter_class=PayloadConverter,
        payload_codec=AesGcmCodec(keyring),
        failure_converter_class=FailureConverter,
    )
