"""ES10b.LoadBoundProfilePackage on the card side: the BPP as a byte stream, unwrapped and checked.

An LPA may send the ``BF36`` in one STORE DATA sequence or, as lpac does, in many: the ``BF36``
header with the whole ``BF23``, the ``A0``, the ``A1`` header, each ``88``, the ``A2``, the
``A3`` header, each ``86``. The loader therefore treats whatever arrives as the continuation of
one byte stream and acts on each element as soon as it is complete, so a bad signature or MAC
stops the download at the element that carries it. Nothing here touches the durable state:
the loader ends with a :class:`LoadedProfile` (or a :class:`BppError` naming the SGP.22
bppCommandId and errorReason) and the caller commits.
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sgp22 import codec
from sgp22.crypto import BspSession, derive_session_keys, ecka, public_point, verify_plain
from sgp22.errors import BadInputError, InvalidSignatureError, MalformedDataError, Scp03tSecurityError
from sgp22.es10_types import AccessRule
from sgp22.profile_package import (
    IccidMismatchError,
    ParsedProfile,
    ProfilePackageError,
    access_rules_of,
    build_euicc_response,
    decode_header_iccid,
    decode_iccid,
    parse_upp,
    split_elements,
)
from sgp22.tlv import build, children, parse_one

from rsplab.euicc.bpp_stream import BppStream, peek_header


class BppCommand(enum.IntEnum):
    INITIALISE_SECURE_CHANNEL = 0
    CONFIGURE_ISDP = 1
    STORE_METADATA = 2
    STORE_METADATA2 = 3
    REPLACE_SESSION_KEYS = 4
    LOAD_PROFILE_ELEMENTS = 5


class ErrorReason(enum.IntEnum):
    INCORRECT_INPUT_VALUES = 1
    INVALID_SIGNATURE = 2
    INVALID_TRANSACTION_ID = 3
    UNSUPPORTED_CRT_VALUES = 4
    UNSUPPORTED_REMOTE_OPERATION_TYPE = 5
    UNSUPPORTED_PROFILE_CLASS = 6
    SCP03T_STRUCTURE_ERROR = 7
    SCP03T_SECURITY_ERROR = 8
    ICCID_ALREADY_EXISTS = 9
    INSUFFICIENT_MEMORY = 10
    INTERRUPTION = 11
    PE_PROCESSING_ERROR = 12
    DATA_MISMATCH = 13
    TEST_PROFILE_INVALID_NAA_KEY = 14
    PPR_NOT_ALLOWED = 15
    UNKNOWN = 127


class BppError(Exception):
    """The download fails here; the PIR reports ``command`` and ``reason``."""

    def __init__(self, command: BppCommand, reason: ErrorReason, detail: str, sima_response: bytes | None = None):
        super().__init__(f"{command.name} failed: {reason.name} ({detail})")
        self.command = command
        self.reason = reason
        self.sima_response = sima_response


@dataclass(frozen=True)
class BppContext:
    """What the loader needs from the RSP session and the card."""

    transaction_id: bytes
    eid: bytes
    dppb_cert: x509.Certificate
    ot_key: ec.EllipticCurvePrivateKey
    free_bytes: int
    check_metadata: Callable[[dict], None]
    """Card policy on the StoreMetadata (ICCID unique, class supported, PPRs allowed): raises BppError."""


@dataclass(frozen=True)
class LoadedProfile:
    metadata: dict
    """The decoded StoreMetadataRequest."""
    dp_oid: str | None
    package: ParsedProfile
    size: int
    access_rules: list[AccessRule]
    """The ARA-M rules the profile installs: its package's, else those the metadata announces."""


class _Stage(enum.Enum):
    BPP_HEADER = "BF36 header"
    INITIALISE = "BF23"
    CONFIGURE = "A0"
    METADATA_HEADER = "A1 header"
    METADATA = "88 segments"
    REPLACE_OR_PROFILE = "A2 or A3 header"
    PROFILE_HEADER = "A3 header"
    PROFILE = "86 segments"
    DONE = "end"


_STAGE_COMMAND = {
    _Stage.BPP_HEADER: BppCommand.INITIALISE_SECURE_CHANNEL,
    _Stage.INITIALISE: BppCommand.INITIALISE_SECURE_CHANNEL,
    _Stage.CONFIGURE: BppCommand.CONFIGURE_ISDP,
    _Stage.METADATA_HEADER: BppCommand.STORE_METADATA,
    _Stage.METADATA: BppCommand.STORE_METADATA,
    _Stage.REPLACE_OR_PROFILE: BppCommand.REPLACE_SESSION_KEYS,
    _Stage.PROFILE_HEADER: BppCommand.LOAD_PROFILE_ELEMENTS,
    _Stage.PROFILE: BppCommand.LOAD_PROFILE_ELEMENTS,
    _Stage.DONE: BppCommand.LOAD_PROFILE_ELEMENTS,
}


class BppLoader:
    """Consumes one bound profile package, piece by piece."""

    def __init__(self, context: BppContext) -> None:
        self.context = context
        self._stream = BppStream()
        self._stage = _Stage.BPP_HEADER
        self._session: BspSession | None = None
        self._profile_keys: BspSession | None = None
        self._metadata_bytes = bytearray()
        self._package = bytearray()
        self._header_checked = False
        self.metadata: dict | None = None
        self._announced_rules: list[AccessRule] = []
        self.dp_oid: str | None = None

    @property
    def command(self) -> BppCommand:
        """The BPP command being worked on (what an interruption is reported against)."""
        return _STAGE_COMMAND[self._stage]

    @property
    def iccid(self) -> bytes | None:
        return self.metadata["iccid"] if self.metadata else None

    @property
    def at_boundary(self) -> bool:
        """No partial element is buffered: the next piece starts a new element."""
        return self._stream.at_boundary

    def feed(self, data: bytes) -> LoadedProfile | None:
        """Take the next bytes of the BPP; the profile once the last segment is in, else None."""
        if self._stage is _Stage.DONE:
            raise self._fail(ErrorReason.SCP03T_STRUCTURE_ERROR, "data after the end of the BPP")
        self._stream.add(data)
        try:
            while self._step():
                pass
        except MalformedDataError as error:
            raise self._fail(ErrorReason.SCP03T_STRUCTURE_ERROR, str(error)) from error
        if self._stage is _Stage.DONE:
            if not self._stream.at_boundary:
                raise self._fail(ErrorReason.SCP03T_STRUCTURE_ERROR, "data after the end of the BPP")
            return self._finish()
        return None

    # --- stream framing

    def _fail(self, reason: ErrorReason, detail: str, command: BppCommand | None = None,
              sima_response: bytes | None = None) -> BppError:
        return BppError(command or self.command, reason, detail, sima_response)

    def _step(self) -> bool:
        """One stage of the stream: True when it advanced, False when it waits for more bytes."""
        step = _STAGE_STEPS.get(self._stage)
        return step(self) if step is not None else False

    def _bpp_header_step(self) -> bool:
        if not self._stream.bpp_header():
            return False
        self._stage = _Stage.INITIALISE
        return True

    def _element_step(self, tag: int, act: Callable[[BppLoader, bytes], None], then: _Stage) -> bool:
        """A stage of one element (BF23, A0, A2): act on it once whole, then go on to ``then``."""
        element = self._stream.complete((tag,))
        if element is None:
            return False
        act(self, element)
        self._stage = then
        return True

    def _segments_step(self, tag: int, act: Callable[[BppLoader, bytes], None],
                       at_end: Callable[[BppLoader], None], then: _Stage) -> bool:
        """A stage of segments in a sequence (88s in A1, 86s in A3): one segment at a time,
        ``at_end`` once the sequence is used up."""
        if self._stream.container_left == 0:
            at_end(self)
            self._stage = then
            return True
        element = self._stream.complete((tag,))
        if element is None:
            return False
        self._stream.consume_in_container(element)
        act(self, element)
        return True

    def _metadata_header_step(self) -> bool:
        if not self._stream.container_header(0xA1):
            return False
        self._stage = _Stage.METADATA
        return True

    def _profile_header_step(self) -> bool:
        """The optional A2 (replace session keys), then the A3 sequence's header."""
        header = self._stream.next_header()
        if header is None:
            return False
        if header[0] == 0xA2 and self._stage is _Stage.REPLACE_OR_PROFILE:
            return self._element_step(0xA2, BppLoader._replace_session_keys, _Stage.PROFILE_HEADER)
        self._stage = _Stage.PROFILE_HEADER
        if not self._stream.container_header(0xA3):
            return False
        self._stage = _Stage.PROFILE
        return True

    def _end_of_profile(self) -> None:
        self._stream.check_bpp_end()

    # --- the BPP commands

    def _initialise_secure_channel(self, element: bytes) -> None:
        context = self.context
        try:
            request = codec.decode("InitialiseSecureChannelRequest", element)
        except MalformedDataError as error:
            raise self._fail(ErrorReason.INCORRECT_INPUT_VALUES, f"InitialiseSecureChannel: {error}") from error
        if request["remoteOpId"] != 1:
            raise self._fail(ErrorReason.UNSUPPORTED_REMOTE_OPERATION_TYPE, f"remoteOpId {request['remoteOpId']}")
        if request["transactionId"] != context.transaction_id:
            raise self._fail(ErrorReason.INVALID_TRANSACTION_ID, "BF23 names another transaction")
        crt = request["controlRefTemplate"]
        if crt["keyType"] != b"\x88" or crt["keyLen"] != b"\x10":
            raise self._fail(ErrorReason.UNSUPPORTED_CRT_VALUES, "only AES-128 session keys (88/10)")
        signed = b"".join(child.raw for child in children(parse_one(element).value) if child.tag != 0x5F37)
        signed += build(0x5F49, public_point(context.ot_key))
        try:
            verify_plain(context.dppb_cert, request["smdpSign"], signed)
        except InvalidSignatureError as error:
            raise self._fail(ErrorReason.INVALID_SIGNATURE, "smdpSign does not verify with PK.DPpb") from error
        try:
            shared = ecka(context.ot_key, request["smdpOtpk"])
        except MalformedDataError as error:
            raise self._fail(ErrorReason.INCORRECT_INPUT_VALUES, "otPK.DP.ECKA is not a point on the curve") from error
        self._session = BspSession.from_keys(derive_session_keys(shared, crt["hostId"], context.eid))

    def _unwrap_all(self, session: BspSession, segments, tag: int) -> bytes:
        plaintext = bytearray()
        for segment in segments:
            try:
                if tag == 0x88:
                    plaintext += session.unwrap_mac_only(segment, tag=0x88)
                else:
                    plaintext += session.unwrap_encrypted(segment, tag=tag)
            except Scp03tSecurityError as error:
                raise self._fail(ErrorReason.SCP03T_SECURITY_ERROR, str(error)) from error
        return bytes(plaintext)

    def _configure_isdp(self, element: bytes) -> None:
        segments = [child.raw for child in children(parse_one(element).value)]
        if not segments:
            raise self._fail(ErrorReason.SCP03T_STRUCTURE_ERROR, "no ConfigureISDP segment")
        plaintext = self._unwrap_all(self._session, segments, 0x87)
        try:
            request = codec.decode("ConfigureISDPRequest", plaintext)
        except MalformedDataError as error:
            raise self._fail(ErrorReason.INCORRECT_INPUT_VALUES, f"ConfigureISDP: {error}") from error
        data = request.get("dpProprietaryData")
        self.dp_oid = data["dpOid"] if data else None

    def _metadata_segment(self, element: bytes) -> None:
        self._metadata_bytes += self._unwrap_all(self._session, [element], 0x88)

    def _store_metadata(self) -> None:
        try:
            self.metadata = codec.decode("StoreMetadataRequest", bytes(self._metadata_bytes))
        except MalformedDataError as error:
            raise self._fail(ErrorReason.INCORRECT_INPUT_VALUES, f"StoreMetadata: {error}") from error
        try:
            self._announced_rules = [AccessRule.from_asn1(item) for item in self.metadata.get("refArDo") or []]
        except (BadInputError, MalformedDataError) as error:
            raise self._fail(ErrorReason.INCORRECT_INPUT_VALUES, f"StoreMetadata refArDo: {error}") from error
        self.context.check_metadata(self.metadata)

    def _replace_session_keys(self, element: bytes) -> None:
        segments = [child.raw for child in children(parse_one(element).value)]
        plaintext = self._unwrap_all(self._session, segments, 0x87)
        try:
            request = codec.decode("ReplaceSessionKeysRequest", plaintext)
            self._profile_keys = BspSession(request["ppkEnc"], request["ppkCmac"], request["initialMacChainingValue"])
        except MalformedDataError as error:
            raise self._fail(ErrorReason.INCORRECT_INPUT_VALUES, f"ReplaceSessionKeys: {error}") from error
        except Exception as error:  # BadInputError for keys that are not 16 bytes
            raise self._fail(ErrorReason.INCORRECT_INPUT_VALUES, "ReplaceSessionKeys carries keys of the wrong size") from error

    def _profile_segment(self, element: bytes) -> None:
        self._package += self._unwrap_all(self._profile_keys or self._session, [element], 0x86)
        if len(self._package) > self.context.free_bytes:
            raise self._fail(ErrorReason.INSUFFICIENT_MEMORY,
                             f"profile needs more than the {self.context.free_bytes} bytes left",
                             sima_response=build_euicc_response("not-enough-memory", aborted=True))
        if not self._header_checked:
            header = peek_header(self._package)
            if header is not None and len(self._package) >= header[1] + header[2]:
                self._check_header(bytes(self._package[: header[1] + header[2]]))

    def _check_header(self, first_element: bytes) -> None:
        """The header's ICCID (plain BCD) must be the metadata's (EF.ICCID coding) read as digits."""
        self._header_checked = True
        try:
            element = split_elements(first_element)[0]
            if element.kind != "header":
                raise self._pe_error(f"the profile package starts with {element.kind}, not the ProfileHeader")
            header_iccid = decode_header_iccid(element.value["iccid"])
        except ProfilePackageError as error:
            raise self._pe_error(str(error)) from error
        if header_iccid != self._metadata_iccid():
            raise self._mismatch(f"the profile header names ICCID {header_iccid}, the metadata "
                                 f"{self._metadata_iccid()}")

    def _metadata_iccid(self) -> str | None:
        try:
            return decode_iccid(self.iccid)
        except ProfilePackageError:
            return None

    def _mismatch(self, detail: str) -> BppError:
        return self._fail(ErrorReason.DATA_MISMATCH, detail,
                          sima_response=build_euicc_response("bad-values", aborted=True))

    def _pe_error(self, detail: str) -> BppError:
        return self._fail(ErrorReason.PE_PROCESSING_ERROR, detail,
                          sima_response=build_euicc_response("bad-values", aborted=True))

    def _finish(self) -> LoadedProfile:
        try:
            package = parse_upp(bytes(self._package))
            rules = access_rules_of(package)
        except IccidMismatchError as error:
            raise self._mismatch(str(error)) from error
        except ProfilePackageError as error:
            raise self._pe_error(str(error)) from error
        if not self._header_checked:
            self._check_header(package.elements[0].der)
        rules = rules or self._announced_rules
        return LoadedProfile(self.metadata, self.dp_oid, package, len(self._package), rules)


_STAGE_STEPS: dict[_Stage, Callable[[BppLoader], bool]] = {
    _Stage.BPP_HEADER: BppLoader._bpp_header_step,
    _Stage.INITIALISE: partial(BppLoader._element_step, tag=0xBF23, act=BppLoader._initialise_secure_channel,
                               then=_Stage.CONFIGURE),
    _Stage.CONFIGURE: partial(BppLoader._element_step, tag=0xA0, act=BppLoader._configure_isdp,
                              then=_Stage.METADATA_HEADER),
    _Stage.METADATA_HEADER: BppLoader._metadata_header_step,
    _Stage.METADATA: partial(BppLoader._segments_step, tag=0x88, act=BppLoader._metadata_segment,
                             at_end=BppLoader._store_metadata, then=_Stage.REPLACE_OR_PROFILE),
    _Stage.REPLACE_OR_PROFILE: BppLoader._profile_header_step,
    _Stage.PROFILE_HEADER: BppLoader._profile_header_step,
    _Stage.PROFILE: partial(BppLoader._segments_step, tag=0x86, act=BppLoader._profile_segment,
                            at_end=BppLoader._end_of_profile, then=_Stage.DONE),
}
"""What reads the stream at each stage (DONE reads nothing more)."""
