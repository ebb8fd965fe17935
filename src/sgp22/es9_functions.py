"""The ES9+ (LPA <-> SM-DP+) and ES11 (LPA <-> SM-DS) JSON binding as data (reference notes,
section 3): each function's name and path, its request and response fields, how each field
travels (base64 of one complete DER TLV, a hex transaction ID, plain text) and, for a binary
field, its outer tag and ASN.1 type. The one description the client (`sgp22.es9`) and the lab
server (`rsplab.smdp`) both use, so the two sides cannot drift apart.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sgp22.errors import BadInputError

ADMIN_PROTOCOL = "gsma/rsp/v2.2.0"
"""The X-Admin-Protocol this side sends; servers and clients accept any ``gsma/rsp/v2.``."""
ADMIN_PROTOCOL_PREFIX = "gsma/rsp/v2."
ES9_PATH = "/gsma/rsp2/es9plus/"
ES11_PATH = "/gsma/rsp2/es11/"


class Encoding(StrEnum):
    BASE64 = "base64"  # standard base64 of bytes (a complete DER TLV where a tag is given)
    HEX = "hex"  # transactionId: the TransactionId octets as hex
    TEXT = "text"
    LIST = "list"  # ES11 eventEntries


@dataclass(frozen=True)
class Field:
    name: str
    encoding: Encoding = Encoding.BASE64
    tags: tuple[int, ...] = ()  # outer tag(s) a base64 field's TLV may carry; () for raw bytes
    asn1: str | None = None  # the ASN.1 type a base64 field decodes as
    optional: bool = False


@dataclass(frozen=True)
class Function:
    name: str
    path: str
    request: tuple[Field, ...]
    response: tuple[Field, ...] = ()
    no_content: bool = False  # success is HTTP 204 without a body (handleNotification)

    @property
    def url_path(self) -> str:
        return self.path + self.name

    def request_field(self, name: str) -> Field:
        return _named(self.request, name, self.name)

    def response_field(self, name: str) -> Field:
        return _named(self.response, name, self.name)

    def encode_request(self, values: Mapping[str, object]) -> dict[str, object]:
        return _encode(self.request, values, f"{self.name} request")

    def encode_response(self, values: Mapping[str, object]) -> dict[str, object]:
        return _encode(self.response, values, f"{self.name} response")


def _named(fields: tuple[Field, ...], name: str, function: str) -> Field:
    for item in fields:
        if item.name == name:
            return item
    raise KeyError(f"{function} has no field {name}")


def _encode(fields: tuple[Field, ...], values: Mapping[str, object], what: str) -> dict[str, object]:
    """The JSON members for ``values`` (bytes for base64 fields, a list for a list field, text
    otherwise), in table order."""
    known = {item.name: item for item in fields}
    unknown = sorted(set(values) - set(known))
    missing = [item.name for item in fields if not item.optional and item.name not in values]
    if unknown or missing:
        raise BadInputError(f"{what}: unknown fields {unknown}, missing fields {missing}")
    body: dict[str, object] = {}
    for item in fields:
        if item.name not in values:
            continue
        value = values[item.name]
        if item.encoding is Encoding.BASE64:
            if not isinstance(value, bytes):
                raise BadInputError(f"{what}: {item.name} must be bytes")
            body[item.name] = base64.b64encode(value).decode("ascii")
        elif isinstance(value, list if item.encoding is Encoding.LIST else str):
            body[item.name] = value
        else:
            raise BadInputError(f"{what}: {item.name} must be {'a list' if item.encoding is Encoding.LIST else 'text'}")
    return body


TRANSACTION_ID = Field("transactionId", Encoding.HEX)
_SIGNATURE = (0x5F37,)
_SEQUENCE = (0x30,)

INITIATE_AUTHENTICATION_ANSWER = (
    TRANSACTION_ID,
    Field("serverSigned1", tags=_SEQUENCE, asn1="ServerSigned1"),
    Field("serverSignature1", tags=_SIGNATURE),
    Field("euiccCiPKIdToBeUsed", tags=(0x04,)),
    Field("serverCertificate", tags=_SEQUENCE, asn1="Certificate"),
)
AUTHENTICATE_SERVER_RESPONSE = Field("authenticateServerResponse", tags=(0xBF38,), asn1="AuthenticateServerResponse")


class ES9:
    """The five ES9+ functions."""

    path = ES9_PATH

    initiate_authentication = Function("initiateAuthentication", ES9_PATH, (
        Field("euiccChallenge"),  # the raw 16 bytes, no TLV
        Field("euiccInfo1", tags=(0xBF20,), asn1="EUICCInfo1"),
        Field("smdpAddress", Encoding.TEXT),
    ), INITIATE_AUTHENTICATION_ANSWER)
    authenticate_client = Function("authenticateClient", ES9_PATH, (TRANSACTION_ID, AUTHENTICATE_SERVER_RESPONSE), (
        TRANSACTION_ID,
        Field("profileMetadata", tags=(0xBF25,), asn1="StoreMetadataRequest"),
        Field("smdpSigned2", tags=_SEQUENCE, asn1="SmdpSigned2"),
        Field("smdpSignature2", tags=_SIGNATURE),
        Field("smdpCertificate", tags=_SEQUENCE, asn1="Certificate"),
    ))
    get_bound_profile_package = Function("getBoundProfilePackage", ES9_PATH, (
        TRANSACTION_ID,
        Field("prepareDownloadResponse", tags=(0xBF21,), asn1="PrepareDownloadResponse"),
    ), (TRANSACTION_ID, Field("boundProfilePackage", tags=(0xBF36,), asn1="BoundProfilePackage")))
    handle_notification = Function("handleNotification", ES9_PATH, (
        # a ProfileInstallationResult (BF37) or an OtherSignedNotification (30)
        Field("pendingNotification", tags=(0xBF37, 0x30)),
    ), no_content=True)
    cancel_session = Function("cancelSession", ES9_PATH, (
        TRANSACTION_ID,
        Field("cancelSessionResponse", tags=(0xBF41,), asn1="CancelSessionResponse"),
    ))


class ES11:
    """The two ES11 functions (an SM-DS answers authenticateClient with event entries)."""

    path = ES11_PATH

    initiate_authentication = Function("initiateAuthentication", ES11_PATH, (
        Field("euiccChallenge"),
        Field("euiccInfo1", tags=(0xBF20,), asn1="EUICCInfo1"),
        Field("smdpAddress", Encoding.TEXT),  # what LPAs send; SGP.22 names it smdsAddress
    ), INITIATE_AUTHENTICATION_ANSWER)
    authenticate_client = Function("authenticateClient", ES11_PATH, (TRANSACTION_ID, AUTHENTICATE_SERVER_RESPONSE), (
        Field("transactionId", Encoding.HEX, optional=True),
        Field("eventEntries", Encoding.LIST),
    ))


ES9_FUNCTIONS: dict[str, Function] = {f.name: f for f in vars(ES9).values() if isinstance(f, Function)}
ES11_FUNCTIONS: dict[str, Function] = {f.name: f for f in vars(ES11).values() if isinstance(f, Function)}
