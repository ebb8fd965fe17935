"""The card side of the OS-update vendor commands (``docs/osu.md``), and the lab's image signer.

The image header is signed by the EUM, so the card can refuse a forged image before a single
payload block is sent; the payload is then checked against the SHA-256 in the header. Each
OsuStatus outcome is reachable: in progress (while loading, and for ``osu_apply_polls`` polls
after a good image), failed (bad signature, hash or length, or the ``osu_fail`` fault),
successful, already latest (image version not above the running one), service unavailable
(the ``osu_unavailable`` fault). Only the OS version and the last outcome are durable; a reset
in the middle of a transfer drops it, as on a card.
"""
from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric import ec

from sgp22.crypto import sign_plain, verify_plain
from sgp22.errors import InvalidSignatureError, MalformedDataError
from sgp22.es10_enums import OsuStatus
from sgp22.osu import (
    INS_OS_INFO,
    INS_OS_LOAD_BLOCK,
    INS_OS_UPDATE,
    P1_BEGIN,
    P1_FINISH,
    TAG_HASH,
    TAG_LENGTH,
    TAG_NEXT_BLOCK,
    TAG_OSU_STATUS,
    TAG_SIGNATURE,
    TAG_STATUS,
    TAG_VERSION,
    header_tlv,
    parse_header,
)
from sgp22.tlv import build, read_tlv

from rsplab.euicc.apdu_io import (
    SW_CONDITIONS_NOT_SATISFIED,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    ApduStatus,
    CommandApdu,
)
from rsplab.euicc.config import EuiccConfig
from rsplab.euicc.faults import Faults
from rsplab.euicc.identity import EuiccIdentity
from rsplab.euicc.state import StateStore


def build_os_image(version: tuple[int, int, int], payload: bytes, eum_key: ec.EllipticCurvePrivateKey,
                   label: str | None = None) -> bytes:
    """An OS image as the eUICC manufacturer ships it: header, EUM signature, payload."""
    header = header_tlv(version, payload, label)
    return header + build(TAG_SIGNATURE, sign_plain(eum_key, header)) + bytes(payload)


class _Transfer:
    def __init__(self, version: bytes, length: int, digest: bytes) -> None:
        self.version = version
        self.length = length
        self.digest = digest
        self.hasher = hashlib.sha256()
        self.received = 0
        self.next_block = 0


class OsuService:
    INSTRUCTIONS = (INS_OS_INFO, INS_OS_UPDATE, INS_OS_LOAD_BLOCK)

    def __init__(self, identity: EuiccIdentity, store: StateStore, config: EuiccConfig, faults: Faults) -> None:
        self.identity = identity
        self.store = store
        self.config = config
        self.faults = faults
        self._transfer: _Transfer | None = None
        self._polls_left = 0

    def handles(self, ins: int) -> bool:
        return ins in self.INSTRUCTIONS

    def reset(self) -> None:
        self._transfer = None
        self._polls_left = 0

    def handle(self, command: CommandApdu) -> bytes:
        if command.ins == INS_OS_INFO:
            if command.p1 or command.p2 or command.has_data:
                raise ApduStatus(SW_WRONG_P1P2, "OS INFO takes no parameters")
            return self._status(self._current_status())
        if command.ins == INS_OS_LOAD_BLOCK:
            return self._load_block(command)
        if command.p2:
            raise ApduStatus(SW_WRONG_P1P2, "OS UPDATE P2 must be 00")
        if command.p1 == P1_BEGIN:
            return self._begin(command)
        if command.p1 == P1_FINISH:
            return self._finish(command)
        raise ApduStatus(SW_WRONG_P1P2, "OS UPDATE P1 must be 00 (begin) or 80 (finish)")

    # --- status

    def _current_status(self) -> OsuStatus | None:
        if self._transfer is not None:
            return OsuStatus.EUICC_UPGRADE_IN_PROGRESS
        if self._polls_left > 0:
            self._polls_left -= 1
            return OsuStatus.EUICC_UPGRADE_IN_PROGRESS
        status = self.store.state.osu_status
        return OsuStatus(status) if status is not None else None

    def _status(self, status: OsuStatus | None) -> bytes:
        body = build(TAG_VERSION, bytes.fromhex(self.store.state.os_version))
        if status is not None:
            body += build(TAG_OSU_STATUS, bytes([status]))
        if self._transfer is not None:
            body += build(TAG_NEXT_BLOCK, self._transfer.next_block.to_bytes(2, "big"))
        return build(TAG_STATUS, body)

    def _conclude(self, status: OsuStatus, version: bytes | None = None) -> bytes:
        """Record a final outcome durably (and the new OS version on success)."""
        self._transfer = None
        with self.store.transaction() as state:
            state.osu_status = int(status)
            if version is not None:
                state.os_version = version.hex().upper()
        if status is OsuStatus.EUICC_UPGRADE_SUCCESSFUL and self.config.osu_apply_polls > 0:
            self._polls_left = self.config.osu_apply_polls
            return self._status(OsuStatus.EUICC_UPGRADE_IN_PROGRESS)
        return self._status(status)

    # --- begin / blocks / finish

    def _begin(self, command: CommandApdu) -> bytes:
        if not command.has_data:
            raise ApduStatus(SW_WRONG_LENGTH, "OS UPDATE begin carries the image header and signature")
        try:
            header, offset = read_tlv(command.data)
            signature, end = read_tlv(command.data, offset)
            fields = parse_header(header.raw)
        except MalformedDataError as error:
            raise ApduStatus(SW_WRONG_DATA, str(error)) from error
        if end != len(command.data) or signature.tag != TAG_SIGNATURE:
            raise ApduStatus(SW_WRONG_DATA, "OS UPDATE begin is an E1 header followed by a 5F37 signature")
        self._transfer = None
        if self.faults.osu_unavailable:
            return self._conclude(OsuStatus.EUICC_UPGRADE_SERVICE_UNAVAILABLE)
        if not self._signed_by_eum(header.raw, signature.value):
            return self._conclude(OsuStatus.EUICC_UPGRADE_FAILED)
        version = fields[TAG_VERSION]
        if version <= bytes.fromhex(self.store.state.os_version):
            return self._conclude(OsuStatus.EUICC_UPGRADE_ALREADY_LATEST)
        self._transfer = _Transfer(version, int.from_bytes(fields[TAG_LENGTH], "big"), fields[TAG_HASH])
        return self._status(OsuStatus.EUICC_UPGRADE_IN_PROGRESS)

    def _signed_by_eum(self, header: bytes, signature: bytes) -> bool:
        for credential in self.identity.credentials:
            try:
                verify_plain(credential.eum_cert, signature, header)
                return True
            except InvalidSignatureError:
                continue
        return False

    def _load_block(self, command: CommandApdu) -> bytes:
        transfer = self._transfer
        if transfer is None:
            raise ApduStatus(SW_CONDITIONS_NOT_SATISFIED, "no OS update in progress")
        if not command.has_data:
            raise ApduStatus(SW_WRONG_LENGTH, "OS LOAD BLOCK without data")
        number = (command.p1 << 8) | command.p2
        if number != transfer.next_block:
            raise ApduStatus(SW_WRONG_P1P2, f"OS block {number}, expected {transfer.next_block}")
        transfer.received += len(command.data)
        if transfer.received > transfer.length:
            return self._conclude(OsuStatus.EUICC_UPGRADE_FAILED)
        transfer.hasher.update(command.data)
        transfer.next_block += 1
        return self._status(OsuStatus.EUICC_UPGRADE_IN_PROGRESS)

    def _finish(self, command: CommandApdu) -> bytes:
        transfer = self._transfer
        if transfer is None:
            raise ApduStatus(SW_CONDITIONS_NOT_SATISFIED, "no OS update in progress")
        if command.has_data:
            raise ApduStatus(SW_WRONG_LENGTH, "OS UPDATE finish carries no data")
        if transfer.received != transfer.length or transfer.hasher.digest() != transfer.digest:
            return self._conclude(OsuStatus.EUICC_UPGRADE_FAILED)
        if self.faults.osu_fail:
            return self._conclude(OsuStatus.EUICC_UPGRADE_FAILED)
        return self._conclude(OsuStatus.EUICC_UPGRADE_SUCCESSFUL, transfer.version)
