"""eUICC operating-system update (OSU) over esimflow's vendor APDUs (``docs/osu.md``).

SGP.22 leaves OS updates to the eUICC manufacturer; OpenHarmony exposes them as
``getOsuStatus``/``startOsu`` with five outcomes. This module is the device side of the
documented vendor command set the lab eUICC implements: read the OS version and status, and
load an OS image signed by the EUM, block by block.

Image layout (all of it is opaque to the device except the framing):
``E1 {80 version(3), 81 payload length(4), 82 SHA-256(payload)(32), [83 label UTF-8]}``
``|| 5F37 {r||s by SK.EUM over the E1 TLV} || payload``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sgp22.apdu import ApduLink, CardTransport, cla_for_channel
from sgp22.status_words import check_status
from sgp22.errors import BadInputError, MalformedDataError
from sgp22.es10_enums import OsuStatus
from sgp22.tlv import build, children, parse_one, read_tlv

INS_OS_INFO = 0x3A
INS_OS_UPDATE = 0x3C
INS_OS_LOAD_BLOCK = 0x3E
P1_BEGIN = 0x00
P1_FINISH = 0x80
MAX_BLOCK = 255

TAG_IMAGE_HEADER = 0xE1
TAG_STATUS = 0xE2
TAG_VERSION = 0x80
TAG_LENGTH = 0x81
TAG_HASH = 0x82
TAG_LABEL = 0x83
TAG_OSU_STATUS = 0x81
TAG_NEXT_BLOCK = 0x82
TAG_SIGNATURE = 0x5F37


@dataclass(frozen=True)
class OsInfo:
    version: tuple[int, int, int]
    status: OsuStatus | None
    """Outcome of the last update attempt (None when there never was one)."""
    next_block: int | None = None

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)


@dataclass(frozen=True)
class OsImage:
    header: bytes
    """The complete ``E1`` TLV."""
    signature: bytes
    """The complete ``5F37`` TLV."""
    payload: bytes
    version: tuple[int, int, int]
    label: str | None


def header_tlv(version: tuple[int, int, int], payload: bytes, label: str | None = None) -> bytes:
    """The ``E1`` header of an image carrying ``payload`` as OS ``version``."""
    if len(version) != 3 or not all(0 <= part <= 255 for part in version):
        raise BadInputError("OS version must be three numbers 0..255")
    body = build(TAG_VERSION, bytes(version)) + build(TAG_LENGTH, len(payload).to_bytes(4, "big"))
    body += build(TAG_HASH, hashlib.sha256(payload).digest())
    if label:
        body += build(TAG_LABEL, label.encode("utf-8"))
    return build(TAG_IMAGE_HEADER, body)


def parse_header(header: bytes) -> dict[int, bytes]:
    """The fields of an ``E1`` header by tag; checks the mandatory ones are there and sized right."""
    fields = {child.tag: child.value for child in children(parse_one(header, expected_tag=TAG_IMAGE_HEADER,
                                                                     what="OS image header").value)}
    for tag, size in ((TAG_VERSION, 3), (TAG_LENGTH, 4), (TAG_HASH, 32)):
        if len(fields.get(tag, b"")) != size:
            raise MalformedDataError(f"OS image header field {tag:02X} missing or not {size} bytes")
    return fields


def _version(raw: bytes) -> tuple[int, int, int]:
    """An OS version field: three bytes, major.minor.patch (length checked by the caller)."""
    return raw[0], raw[1], raw[2]


def parse_os_image(data: bytes) -> OsImage:
    header, offset = read_tlv(data)
    signature, offset = read_tlv(data, offset)
    if header.tag != TAG_IMAGE_HEADER or signature.tag != TAG_SIGNATURE:
        raise MalformedDataError("an OS image starts with its E1 header and 5F37 signature")
    fields = parse_header(header.raw)
    payload = bytes(data[offset:])
    if len(payload) != int.from_bytes(fields[TAG_LENGTH], "big"):
        raise MalformedDataError(f"OS image payload is {len(payload)} bytes, its header says "
                                 f"{int.from_bytes(fields[TAG_LENGTH], 'big')}")
    label = fields.get(TAG_LABEL)
    return OsImage(header.raw, signature.raw, payload, _version(fields[TAG_VERSION]),
                   label.decode("utf-8", "replace") if label is not None else None)


def parse_status(data: bytes) -> OsInfo:
    fields = {child.tag: child.value for child in children(parse_one(data, expected_tag=TAG_STATUS,
                                                                     what="OSU status").value)}
    version = fields.get(TAG_VERSION, b"")
    if len(version) != 3:
        raise MalformedDataError("OSU status without a 3-byte OS version")
    status = fields.get(TAG_OSU_STATUS)
    parsed = None
    if status:
        try:
            parsed = OsuStatus(status[0])
        except ValueError as exc:
            raise MalformedDataError(f"unknown OsuStatus {status[0]}") from exc
    block = fields.get(TAG_NEXT_BLOCK)
    return OsInfo(_version(version), parsed, int.from_bytes(block, "big") if block else None)


class OsUpdater:
    """Drives the vendor commands over any card transport, on the basic or a logical channel."""

    def __init__(self, transport: CardTransport, *, channel: int = 0, block_size: int = MAX_BLOCK, trace: bool = False) -> None:
        if not 1 <= block_size <= MAX_BLOCK:
            raise BadInputError(f"OS image block size must be 1..{MAX_BLOCK}")
        self.link = ApduLink(transport, trace=trace)
        self.cla = cla_for_channel(channel)
        self.block_size = block_size

    def _command(self, ins: int, p1: int, p2: int, data: bytes, what: str) -> OsInfo:
        apdu = bytes([self.cla, ins, p1, p2]) + (bytes([len(data)]) + data if data else b"") + b"\x00"
        response = check_status(self.link.exchange(apdu, get_response_cla=self.cla), what)
        return parse_status(response.data)

    def info(self) -> OsInfo:
        return self._command(INS_OS_INFO, 0, 0, b"", "OS INFO")

    def _verdict(self, ins: int, p1: int, p2: int, data: bytes, what: str) -> OsuStatus:
        """A load step's answer must carry the card's verdict on it."""
        status = self._command(ins, p1, p2, data, what).status
        if status is None:
            raise MalformedDataError(f"{what} answered without an OSU status")
        return status

    def load(self, image: bytes | OsImage) -> OsuStatus:
        """Send an image: begin (the card checks signature and version), blocks, finish.

        Returns the card's verdict; IN_PROGRESS means the card is still applying the image
        (poll :meth:`info`).
        """
        parsed = image if isinstance(image, OsImage) else parse_os_image(image)
        begin = self._verdict(INS_OS_UPDATE, P1_BEGIN, 0, parsed.header + parsed.signature, "OS UPDATE begin")
        if begin is not OsuStatus.EUICC_UPGRADE_IN_PROGRESS:
            return begin
        payload = parsed.payload
        for number, offset in enumerate(range(0, len(payload), self.block_size)):
            if number > 0xFFFF:
                raise BadInputError("OS image needs more than 65536 blocks; use larger blocks")
            block = self._verdict(INS_OS_LOAD_BLOCK, number >> 8, number & 0xFF,
                                  payload[offset : offset + self.block_size], "OS LOAD BLOCK")
            if block is not OsuStatus.EUICC_UPGRADE_IN_PROGRESS:
                return block
        return self._verdict(INS_OS_UPDATE, P1_FINISH, 0, b"", "OS UPDATE finish")
