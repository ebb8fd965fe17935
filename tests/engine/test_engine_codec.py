"""The payload codec: what is written to Temporal cannot be read or changed without the key, and
keys can be rotated without losing old histories."""
import base64
import stat

import pytest
import temporalio.converter
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from esimflow.config import TemporalConfig
from esimflow.codec import AesGcmCodec, PayloadTamperedError, UnknownKeyError, data_converter
from esimflow.keys import (
    ENV_KEY,
    ENV_KEY_FILE,
    ENV_PREVIOUS_KEYS,
    CodecKeyError,
    Keyring,
    ensure_key_file,
    key_id,
    parse_key,
)

SECRET = b"MATCHING-ID-7Q2X-CONFIRM-424242"
KEY_1 = bytes(range(32))
KEY_2 = bytes(range(100, 132))


def payload(data: bytes = b'"' + SECRET + b'"') -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


async def test_round_trip_restores_every_payload_and_hides_the_plaintext():
    codec = AesGcmCodec(Keyring(KEY_1))
    originals = [payload(), payload(b""), Payload(metadata={"encoding": b"binary/null"})]
    encoded = await codec.encode(originals)
    for sealed in encoded:
        assert sealed.metadata["encoding"] == b"binary/encrypted"
        assert sealed.metadata["encryption-key-id"] == key_id(KEY_1).encode()
        assert SECRET not in sealed.SerializeToString()
    assert await codec.decode(encoded) == originals


async def test_same_payload_encrypts_differently_each_time():
    codec = AesGcmCodec(Keyring(KEY_1))
    first, second = await codec.encode([payload(), payload()])
    assert first.data != second.data


@pytest.mark.parametrize("tamper", ["flip a ciphertext bit", "truncate", "swap the key id"])
async def test_tampering_is_detected(tamper):
    codec = AesGcmCodec(Keyring(KEY_1, (KEY_2,)))
    (sealed,) = await codec.encode([payload()])
    if tamper == "flip a ciphertext bit":
        data = bytearray(sealed.data)
        data[20] ^= 0x01
        sealed.data = bytes(data)
    elif tamper == "truncate":
        sealed.data = sealed.data[:-1]
    else:
        sealed.metadata["encryption-key-id"] = key_id(KEY_2).encode()
    with pytest.raises(PayloadTamperedError) as error:
        await codec.decode([sealed])
    assert error.value.kind == "codec.tampered" and not error.value.retryable


async def test_rotation_keeps_old_payloads_readable_and_encrypts_with_the_new_key():
    old_codec = AesGcmCodec(Keyring(KEY_1))
    (old,) = await old_codec.encode([payload()])
    rotated = AesGcmCodec(Keyring(KEY_1).rotated(KEY_2))
    (new,) = await rotated.encode([payload()])
    assert new.metadata["encryption-key-id"] == key_id(KEY_2).encode()
    assert await rotated.decode([old, new]) == [payload(), payload()]
    with pytest.raises(UnknownKeyError) as error:
        old_codec.decrypt_strict(new)
    message = str(error.value)
    assert key_id(KEY_2) in message and ENV_PREVIOUS_KEYS in message
    assert KEY_2.hex() not in message and KEY_1.hex() not in repr(old_codec)


async def test_unencrypted_payloads_pass_through_decode():
    codec = AesGcmCodec(Keyring(KEY_1))
    assert await codec.decode([payload()]) == [payload()]


def test_keys_parse_from_hex_and_base64_and_bad_ones_are_not_echoed():
    assert parse_key(KEY_1.hex(), "test") == KEY_1
    assert parse_key(base64.b64encode(KEY_1).decode(), "test") == KEY_1
    assert parse_key(base64.urlsafe_b64encode(KEY_2).decode(), "test") == KEY_2
    for bad in ["not a key", KEY_1.hex()[:32], base64.b64encode(b"short-key-secret").decode()]:
        with pytest.raises(CodecKeyError) as error:
            parse_key(bad, ENV_KEY)
        assert error.value.kind == "codec.key"
        assert ENV_KEY in str(error.value) and bad not in str(error.value)
    with pytest.raises(CodecKeyError, match="32 bytes"):
        Keyring(b"\x00" * 16)


def test_env_key_with_previous_keys():
    ring = Keyring.from_env({ENV_KEY: KEY_2.hex(), ENV_PREVIOUS_KEYS: f"{KEY_1.hex()}, "})
    assert ring == Keyring(KEY_2, (KEY_1,))


@pytest.mark.parametrize("where", ["key", "key file"])
async def test_the_configuration_reads_previous_keys_from_the_environment_it_was_given(where, tmp_path, monkeypatch):
    """One reading of the environment: a configuration built from a mapping does not go back to
    the process environment for the older keys."""
    monkeypatch.delenv(ENV_PREVIOUS_KEYS, raising=False)
    (tmp_path / "keys").write_text(KEY_2.hex() + "\n")
    active = {ENV_KEY: KEY_2.hex()} if where == "key" else {ENV_KEY_FILE: str(tmp_path / "keys")}
    config = TemporalConfig.from_env({**active, ENV_PREVIOUS_KEYS: KEY_1.hex()})
    written_before_rotation = await AesGcmCodec(Keyring(KEY_1)).encode([payload()])
    assert await config.data_converter().payload_codec.decode(written_before_rotation) == [payload()]


def test_key_file_first_line_encrypts_later_lines_decrypt(tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated 2026-11\n{base64.b64encode(KEY_2).decode()}\n\n{KEY_1.hex()}\n")
    assert Keyring.from_env({ENV_KEY_FILE: str(key_file)}) == Keyring(KEY_2, (KEY_1,))
    with pytest.raises(CodecKeyError, match="cannot read the payload key file"):
        Keyring.from_env({ENV_KEY_FILE: str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(CodecKeyError, match="holds no key"):
        Keyring.from_env({ENV_KEY_FILE: str(tmp_path / "empty")})


def test_without_a_configured_key_nothing_starts(tmp_path):
    """A key made up per host would encrypt what no other host can read."""
    env = {"XDG_STATE_HOME": str(tmp_path)}
    with pytest.raises(CodecKeyError) as error:
        Keyring.from_env(env)
    assert ENV_KEY in error.value.message and ENV_KEY_FILE in error.value.message
    with pytest.raises(CodecKeyError):
        data_converter(None, env=env)
    assert list(tmp_path.iterdir()) == []  # and no key file appeared


def test_lab_key_file_is_private_and_made_once(tmp_path):
    key_file = ensure_key_file(tmp_path / "lab" / "codec.key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = Keyring.from_file(key_file)
    assert Keyring.from_file(ensure_key_file(key_file)) == first


async def test_a_payload_under_an_unknown_key_decodes_to_an_error_naming_that_key():
    (sealed,) = await AesGcmCodec(Keyring(KEY_2)).encode([payload()])
    converter = data_converter(KEY_1, env={})
    (marker,) = await converter.payload_codec.decode([sealed])
    assert SECRET not in marker.SerializeToString()
    with pytest.raises(ApplicationError) as error:
        converter.payload_converter.from_payloads([marker])
    assert error.value.type == "codec.unknown_key" and error.value.non_retryable
    assert key_id(KEY_2) in error.value.message and key_id(KEY_1) in error.value.message
    assert KEY_1.hex() not in error.value.message and KEY_2.hex() not in error.value.message
    with pytest.raises(UnknownKeyError, match=key_id(KEY_2)):
        converter.payload_codec.decrypt_strict(sealed)


def test_an_unknown_key_failure_stays_readable_without_the_key_other_failures_do_not():
    converter = data_converter(KEY_1, env={})
    unknown, other = Failure(), Failure()
    converter.failure_converter.to_failure(
        ApplicationError(f"needs key {key_id(KEY_2)}", type="codec.unknown_key"), converter.payload_converter, unknown)
    converter.failure_converter.to_failure(
        ApplicationError(SECRET.decode(), type="download.refused"), converter.payload_converter, other)
    assert unknown.message == f"needs key {key_id(KEY_2)}" and not unknown.HasField("encoded_attributes")
    assert other.message == "Encoded failure" and other.HasField("encoded_attributes")  # the codec seals them


def test_data_converter_encrypts_payloads_and_failure_messages():
    converter = data_converter(KEY_1, env={})
    assert isinstance(converter.payload_codec, AesGcmCodec)
    assert converter.payload_codec.keyring == Keyring(KEY_1)
    assert isinstance(converter.failure_converter, temporalio.converter.DefaultFailureConverterWithEncodedAttributes)
    assert data_converter(KEY_2, env={ENV_PREVIOUS_KEYS: KEY_1.hex()}).payload_codec.keyring == Keyring(KEY_2, (KEY_1,))
