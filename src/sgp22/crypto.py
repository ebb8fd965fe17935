"""SGP.22 cryptography: TR-03111 plain ECDSA signatures, ECKA + X9.63 KDF, SCP03t (BSP), hashCc.

Every primitive comes from ``cryptography``; this module only arranges the bytes the way SGP.22
(and GlobalPlatform SCP03t as profiled by SGP.22 section 2.6.4) prescribe. Keys are never put
into a repr or an error message.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import cmac, hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sgp22 import tlv
from sgp22.errors import (
    BadInputError,
    InvalidSignatureError,
    MalformedDataError,
    Scp03tSecurityError,
    Scp03tStructureError,
    UnsupportedCurveError,
)

SUPPORTED_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp256r1": ec.SECP256R1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
}
_CURVE_ALIASES = {"nist": "secp256r1", "p-256": "secp256r1", "p256": "secp256r1", "prime256v1": "secp256r1",
                  "brp": "brainpoolP256r1", "brainpoolp256r1": "brainpoolP256r1"}

MAX_SEGMENT_SIZE = 1020
"""SGP.22 caps every BPP segment (tag, length, payload and MAC) at 1020 bytes."""
MAX_SEGMENT_PLAINTEXT = 1007
"""1007 plaintext bytes pad to 1008, plus an 8-byte MAC and a 4-byte tag+length header = 1020."""
MAX_MAC_ONLY_PAYLOAD = 1008
"""A MAC-only segment carries its payload unpadded: 4 + 1008 + 8 = 1020."""

KEY_TYPE_AES = 0x88
KEY_LENGTH_AES128 = 0x10
_MAC_LENGTH = 8
_BLOCK = 16

EcPrivateKey = ec.EllipticCurvePrivateKey
EcPublicKey = ec.EllipticCurvePublicKey
KeySource = x509.Certificate | EcPrivateKey | EcPublicKey
"""Where a public key can be taken from."""
CurveSource = KeySource | ec.EllipticCurve | type[ec.EllipticCurve] | str
"""Where a curve can be taken from: a certificate, a key, a curve (class) or its name."""


# --- curves ------------------------------------------------------------------------------------


def curve_of(source: CurveSource) -> ec.EllipticCurve:
    """The curve of a certificate, key or curve name, refusing anything SGP.22 does not allow.

    The eUICC makes its one-time key on the curve of CERT.DPpb, so callers pass that certificate.
    """
    if isinstance(source, x509.Certificate):
        source = _public_key_of(source)
    if isinstance(source, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        curve = source.curve
    elif isinstance(source, ec.EllipticCurve):
        curve = source
    elif isinstance(source, type) and issubclass(source, ec.EllipticCurve):
        curve = source()
    elif isinstance(source, str):
        name = _CURVE_ALIASES.get(source.lower(), source)
        if name not in SUPPORTED_CURVES:
            raise UnsupportedCurveError(f"curve {source!r} is not one SGP.22 allows (NIST P-256, brainpoolP256r1)")
        return SUPPORTED_CURVES[name]()
    else:
        raise UnsupportedCurveError(f"no elliptic curve in a {type(source).__name__}")
    if curve.name not in SUPPORTED_CURVES:
        raise UnsupportedCurveError(f"curve {curve.name} is not one SGP.22 allows (NIST P-256, brainpoolP256r1)")
    return curve


def _public_key_of(key: KeySource) -> EcPublicKey:
    found: object = key.public_key() if isinstance(key, (x509.Certificate, ec.EllipticCurvePrivateKey)) else key
    if not isinstance(found, ec.EllipticCurvePublicKey):
        raise UnsupportedCurveError(f"expected an EC public key, got {type(found).__name__}")
    return found


def _coordinate_size(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


# --- signatures (BSI TR-03111 plain r||s) ---------------------------------------------------------


def der_to_plain(der_signature: bytes, curve: CurveSource = "NIST") -> bytes:
    """X9.62 DER ECDSA signature -> r||s, each padded to the curve's coordinate size."""
    size = _coordinate_size(curve_of(curve))
    try:
        r, s = decode_dss_signature(der_signature)
    except ValueError as exc:
        raise MalformedDataError("ECDSA signature is not valid DER") from exc
    if r.bit_length() > size * 8 or s.bit_length() > size * 8:
        raise MalformedDataError("ECDSA signature values are larger than the curve allows")
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def plain_to_der(signature: bytes) -> bytes:
    """r||s (TR-03111) -> X9.62 DER, as ``cryptography`` verifies it."""
    if not isinstance(signature, (bytes, bytearray)) or len(signature) == 0 or len(signature) % 2:
        raise InvalidSignatureError(f"plain ECDSA signature must be r||s of even length, got {len(signature or b'')} bytes")
    half = len(signature) // 2
    return encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))


def sign_plain(private_key: EcPrivateKey, data: bytes) -> bytes:
    """ECDSA-SHA256 over ``data``, as the 64-byte r||s that goes into a ``5F37`` TLV."""
    curve = curve_of(private_key)
    return der_to_plain(private_key.sign(bytes(data), ec.ECDSA(hashes.SHA256())), curve)


def verify_plain(public_key: KeySource, signature: bytes, data: bytes) -> None:
    """Check a TR-03111 signature; ``public_key`` may also be a certificate or a private key."""
    key = _public_key_of(public_key)
    size = _coordinate_size(curve_of(key))
    if not isinstance(signature, (bytes, bytearray)) or len(signature) != 2 * size:
        length = len(signature) if isinstance(signature, (bytes, bytearray)) else 0
        raise InvalidSignatureError(f"plain ECDSA signature must be {2 * size} bytes, got {length}")
    try:
        key.verify(plain_to_der(bytes(signature)), bytes(data), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise InvalidSignatureError("ECDSA signature does not verify") from exc


# --- key agreement -----------------------------------------------------------------------------


def generate_ephemeral(curve: CurveSource) -> EcPrivateKey:
    """A one-time ECKA key pair (otSK/otPK) on the curve of a certificate, key or curve name."""
    return ec.generate_private_key(curve_of(curve))


def public_point(key: KeySource) -> bytes:
    """The 65-byte uncompressed point ``04||X||Y`` carried in ``5F49``."""
    return _public_key_of(key).public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def load_public_point(curve: CurveSource, point: bytes) -> EcPublicKey:
    """Parse an uncompressed point received from the peer, refusing points off the curve."""
    resolved = curve_of(curve)
    size = _coordinate_size(resolved)
    if not isinstance(point, (bytes, bytearray)) or len(point) != 1 + 2 * size or point[0] != 0x04:
        length = len(point) if isinstance(point, (bytes, bytearray)) else 0
        raise MalformedDataError(f"EC point must be uncompressed 04||X||Y of {1 + 2 * size} bytes, got {length}")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(resolved, bytes(point))
    except ValueError as exc:
        raise MalformedDataError(f"EC point is not on {resolved.name}") from exc


def ecka(private_key: EcPrivateKey, peer_point: bytes) -> bytes:
    """ECKA-EG/DH shared secret Z: the x coordinate of otSK * otPK(peer)."""
    peer = load_public_point(curve_of(private_key), peer_point)
    return private_key.exchange(ec.ECDH(), peer)


# --- session keys ------------------------------------------------------------------------------


def _mask(secret: bytes) -> str:
    return f"{secret[:2].hex().upper()}…({len(secret)})"


@dataclass(frozen=True)
class SessionKeys:
    """Output of the BSP key derivation; keys stay out of the repr."""

    initial_mcv: bytes = field(repr=False)
    s_enc: bytes = field(repr=False)
    s_mac: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"SessionKeys(initial_mcv={_mask(self.initial_mcv)}, s_enc=<hidden>, s_mac=<hidden>)"


def shared_info(host_id: bytes, eid: str | bytes) -> bytes:
    """X9.63 SharedInfo of SGP.22: key type, key length, hostId and EID, each length-prefixed."""
    if not isinstance(host_id, (bytes, bytearray)) or not 1 <= len(host_id) <= 16:
        raise BadInputError("hostId must be 1..16 bytes")
    eid_bytes = _eid_bytes(eid)
    return bytes([KEY_TYPE_AES, KEY_LENGTH_AES128, len(host_id)]) + bytes(host_id) + bytes([len(eid_bytes)]) + eid_bytes


def _eid_bytes(eid: str | bytes) -> bytes:
    if isinstance(eid, str):
        if len(eid) != 32 or not eid.isdigit():
            raise BadInputError("EID must be 32 decimal digits")
        return bytes.fromhex(eid)
    if not isinstance(eid, (bytes, bytearray)) or len(eid) != 16:
        raise BadInputError("EID must be 16 bytes")
    return bytes(eid)


def derive_session_keys(z: bytes, host_id: bytes, eid: str | bytes) -> SessionKeys:
    """ANSI X9.63 KDF (SHA-256, 48 bytes) -> initial MCV | S-ENC | S-MAC."""
    if not isinstance(z, (bytes, bytearray)) or len(z) == 0:
        raise BadInputError("shared secret Z must be non-empty bytes")
    material = X963KDF(algorithm=hashes.SHA256(), length=48, sharedinfo=shared_info(host_id, eid)).derive(bytes(z))
    return SessionKeys(initial_mcv=material[0:16], s_enc=material[16:32], s_mac=material[32:48])


# --- SCP03t ------------------------------------------------------------------------------------


def _split_tlv(segment: bytes) -> tuple[int, bytes]:
    """One complete single-byte-tag TLV with a DER-minimal length -> (tag, value); anything else
    is malformed."""
    if not isinstance(segment, (bytes, bytearray)) or len(segment) < 2:
        raise MalformedDataError("BSP segment is shorter than a tag and a length")
    length, offset = tlv.read_length(segment, 1, what="BSP segment", minimal=True)
    if len(segment) != offset + length:
        raise MalformedDataError(f"BSP segment declares {length} value bytes but carries {len(segment) - offset}")
    return segment[0], bytes(segment[offset:])


def _pad(data: bytes) -> bytes:
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % _BLOCK)


def _unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= _BLOCK:
        raise Scp03tStructureError("SCP03t padding is not 80 00..")
    return stripped[:-1]


class BspSession:
    """One SCP03t key set (session keys or PPKs): a MAC chain and a block counter starting at 1.

    Every segment, MAC-only ones included, consumes one counter value. State only advances on
    success, so a refused segment leaves the session as it was.
    """

    def __init__(self, s_enc: bytes, s_mac: bytes, initial_mcv: bytes) -> None:
        for name, value in (("S-ENC", s_enc), ("S-MAC", s_mac), ("MCV", initial_mcv)):
            if not isinstance(value, (bytes, bytearray)) or len(value) != 16:
                raise BadInputError(f"{name} must be 16 bytes")
        self._s_enc = bytes(s_enc)
        self._s_mac = bytes(s_mac)
        self._mcv = bytes(initial_mcv)
        self._counter = 1

    @classmethod
    def from_keys(cls, keys: SessionKeys) -> "BspSession":
        return cls(keys.s_enc, keys.s_mac, keys.initial_mcv)

    def __repr__(self) -> str:
        return f"BspSession(counter={self._counter}, keys=<hidden>)"

    @property
    def counter(self) -> int:
        return self._counter

    # --- primitives

    def _icv(self) -> bytes:
        encryptor = Cipher(algorithms.AES(self._s_enc), modes.ECB()).encryptor()
        return encryptor.update(self._counter.to_bytes(_BLOCK, "big")) + encryptor.finalize()

    def _mac(self, tag: int, header_and_payload_len: int, payload: bytes) -> bytes:
        mac = cmac.CMAC(algorithms.AES(self._s_mac))
        mac.update(self._mcv + bytes([tag]) + tlv.encode_length(header_and_payload_len) + payload)
        return mac.finalize()

    @staticmethod
    def _check_tag(tag: int) -> None:
        if not isinstance(tag, int) or not 0 <= tag <= 0xFF or tag & 0x1F == 0x1F:
            raise BadInputError("BSP segment tag must be a single-byte tag")

    # --- wrapping (SM-DP+ side)

    def wrap_encrypted(self, payload: bytes, tag: int = 0x86) -> bytes:
        """Encrypt and MAC one segment (``87`` for BSP commands, ``86`` for profile elements)."""
        self._check_tag(tag)
        payload = bytes(payload)
        if len(payload) > MAX_SEGMENT_PLAINTEXT:
            raise BadInputError(f"encrypted segment payload is {len(payload)} bytes, at most {MAX_SEGMENT_PLAINTEXT}")
        encryptor = Cipher(algorithms.AES(self._s_enc), modes.CBC(self._icv())).encryptor()
        ciphertext = encryptor.update(_pad(payload)) + encryptor.finalize()
        return self._commit_mac(tag, ciphertext)

    def wrap_mac_only(self, payload: bytes, tag: int = 0x88) -> bytes:
        """MAC one readable segment (``88`` StoreMetadata)."""
        self._check_tag(tag)
        payload = bytes(payload)
        if len(payload) > MAX_MAC_ONLY_PAYLOAD:
            raise BadInputError(f"MAC-only segment payload is {len(payload)} bytes, at most {MAX_MAC_ONLY_PAYLOAD}")
        return self._commit_mac(tag, payload)

    def _commit_mac(self, tag: int, body: bytes) -> bytes:
        length = len(body) + _MAC_LENGTH
        full_mac = self._mac(tag, length, body)
        self._mcv = full_mac
        self._counter += 1
        return bytes([tag]) + tlv.encode_length(length) + body + full_mac[:_MAC_LENGTH]

    def wrap_encrypted_segments(self, data: bytes, tag: int = 0x86) -> list[bytes]:
        """Cut ``data`` at arbitrary byte boundaries into full-size encrypted segments."""
        data = bytes(data)
        return [self.wrap_encrypted(data[i : i + MAX_SEGMENT_PLAINTEXT], tag) for i in range(0, len(data), MAX_SEGMENT_PLAINTEXT)]

    def wrap_mac_only_segments(self, data: bytes, tag: int = 0x88) -> list[bytes]:
        data = bytes(data)
        return [self.wrap_mac_only(data[i : i + MAX_MAC_ONLY_PAYLOAD], tag) for i in range(0, len(data), MAX_MAC_ONLY_PAYLOAD)]

    # --- unwrapping (eUICC side)

    def unwrap_encrypted(self, segment: bytes, tag: int | None = None) -> bytes:
        """Verify the MAC and decrypt one ``86``/``87`` segment; ``tag`` pins the expected tag."""
        body, full_mac = self._verified_body(segment, tag if tag is not None else (0x86, 0x87))
        if len(body) == 0 or len(body) % _BLOCK:
            raise Scp03tStructureError(f"encrypted segment body is {len(body)} bytes, not a positive multiple of 16")
        decryptor = Cipher(algorithms.AES(self._s_enc), modes.CBC(self._icv())).decryptor()
        plaintext = _unpad(decryptor.update(body) + decryptor.finalize())
        self._advance(full_mac)
        return plaintext

    def unwrap_mac_only(self, segment: bytes, tag: int | None = 0x88) -> bytes:
        """Verify the MAC of one readable segment and return its payload."""
        body, full_mac = self._verified_body(segment, tag)
        self._advance(full_mac)
        return body

    def _verified_body(self, segment: bytes, expected: int | tuple[int, ...] | None) -> tuple[bytes, bytes]:
        seg_tag, value = _split_tlv(segment)
        allowed = (expected,) if isinstance(expected, int) else expected
        if allowed is not None and seg_tag not in allowed:
            wanted = "/".join(f"{t:02X}" for t in allowed)
            raise Scp03tStructureError(f"BSP segment tag {seg_tag:02X}, expected {wanted}")
        if len(value) < _MAC_LENGTH:
            raise Scp03tStructureError("BSP segment is too short to carry a MAC")
        body, received_mac = value[:-_MAC_LENGTH], value[-_MAC_LENGTH:]
        full_mac = self._mac(seg_tag, len(value), body)
        if not hmac.compare_digest(full_mac[:_MAC_LENGTH], received_mac):
            raise Scp03tSecurityError("SCP03t MAC verification failed")
        return body, full_mac

    def _advance(self, full_mac: bytes) -> None:
        self._mcv = full_mac
        self._counter += 1


# --- confirmation code ---------------------------------------------------------------------------


def hash_confirmation_code(code: str, transaction_id: bytes) -> bytes:
    """hashCc = SHA256(SHA256(code) || transactionId): binds the code to one session."""
    if not isinstance(code, str) or not code:
        raise BadInputError("confirmation code must be a non-empty string")
    if not isinstance(transaction_id, (bytes, bytearray)) or not 1 <= len(transaction_id) <= 16:
        raise BadInputError("transactionId must be 1..16 bytes")
    inner = hashlib.sha256(code.encode("utf-8")).digest()
    return hashlib.sha256(inner + bytes(transaction_id)).digest()
