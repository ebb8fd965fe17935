"""ES9+ (LPA <-> SM-DP+) and ES11 (LPA <-> SM-DS) over HTTPS with the SGP.22 JSON binding.

TLS is always verified, against the CA file given in `Es9Config` only: the context is built
from that file, so SSL_CERT_FILE and friends cannot widen or replace the trust. A connect
override sends the TCP connection elsewhere (a lab on 127.0.0.1) while SNI, the Host header and
certificate checking stay on the SM-DP+ name.

Every failure is a typed `sgp22.errors` error: the server's ``Failed`` statuses through the
taxonomy (subject and reason code kept), bad HTTP statuses, bodies that are not the JSON
ES9+ prescribes, unreachable servers and TLS failures each have their own class.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from sgp22 import codec, tlv
from sgp22.errors import (
    BadInputError,
    EsimError,
    HttpStatusError,
    MalformedDataError,
    ServerAddressUnresolvableError,
    ServerResponseError,
    ServerTimeoutError,
    ServerUnreachableError,
    SmdpAddressInvalidError,
    TlsError,
)
from sgp22.es10_types import ServerAuthentication
from sgp22.identifiers import check_smdp_address, mask_secret
from sgp22.results import OhResultCode
from sgp22.taxonomy import es9_error

log = logging.getLogger(__name__)

ADMIN_PROTOCOL = "gsma/rsp/v2.2.0"
USER_AGENT = "gsma-rsp-lpad"
ES9_PATH = "/gsma/rsp2/es9plus/"
ES11_PATH = "/gsma/rsp2/es11/"
SUCCESS_STATUSES = ("Executed-Success", "Executed-WithWarning")
FAILURE_STATUSES = ("Failed", "Expired")


@dataclass(frozen=True)
class Es9Config:
    """How to reach SM-DP+/SM-DS servers.

    ``ca_file``: PEM bundle of the CAs that may sign the servers' TLS certificates (the only
    trust used). ``connect_overrides``: address (``host`` or ``host:port``) -> ``ip:port`` to
    connect to instead. ``timeout``: seconds for connecting and for each read. ``deadline``:
    seconds for a whole call, connection to last byte: a server dripping bytes resets the read
    timeout forever, and the engine's ES9+ steps time out at 90 s, so a call must give up well
    before and say why. ``max_response_bytes``: the largest answer read; a BPP is at most 4 MiB
    (what an eUICC takes in one command), about 5.6 MB in base64, so 8 MiB leaves room while a
    hostile answer cannot exhaust memory.
    """

    ca_file: str | Path
    connect_overrides: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    deadline: float = 60.0
    max_response_bytes: int = 8 * 1024 * 1024


def ssl_context(ca_file: str | Path) -> ssl.SSLContext:
    """A client context trusting exactly ``ca_file``, hostname checks on, TLS 1.2 or later."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise BadInputError(f"cannot load the TLS CA file {str(ca_file)!r}: {exc}", kind="input.ca_file") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass(frozen=True)
class ServerAddress:
    """An SM-DP+/SM-DS address as activation codes and ES11 events give it: ``host[:port]``."""

    text: str
    host: str
    port: int

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"


def parse_server_address(address: str) -> ServerAddress:
    """``host[:port]`` as activation codes and ES11 events carry it (IPv6 in brackets)."""
    if not isinstance(address, str):
        raise SmdpAddressInvalidError(f"a server address is text, got {type(address).__name__}")
    check_smdp_address(address)
    parts = urlsplit(f"https://{address}")
    return ServerAddress(address, parts.hostname, parts.port or 443)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- Responses -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitiateAuthenticationResult:
    transaction_id: str
    server_signed1: bytes = field(repr=False)
    server_signature1: bytes = field(repr=False)
    euicc_ci_pkid_to_be_used: bytes
    server_certificate: bytes = field(repr=False)

    def server_authentication(self) -> ServerAuthentication:
        return ServerAuthentication(
            self.server_signed1, self.server_signature1, self.euicc_ci_pkid_to_be_used, self.server_certificate
        )


@dataclass(frozen=True)
class AuthenticateClientResult:
    transaction_id: str
    profile_metadata: bytes = field(repr=False)  # StoreMetadataRequest (BF25)
    smdp_signed2: bytes = field(repr=False)
    smdp_signature2: bytes = field(repr=False)
    smdp_certificate: bytes = field(repr=False)


@dataclass(frozen=True)
class BoundProfilePackageResult:
    transaction_id: str
    bound_profile_package: bytes = field(repr=False)


@dataclass(frozen=True)
class EventEntry:
    """An SM-DS event: download ``event_id`` (the matching ID) from ``rsp_server_address``."""

    event_id: str
    rsp_server_address: str

    def __repr__(self) -> str:
        return f"EventEntry(event_id={mask_secret(self.event_id)!r}, rsp_server_address={self.rsp_server_address!r})"


@dataclass(frozen=True)
class Es11AuthenticateClientResult:
    transaction_id: str | None
    events: list[EventEntry]


class ServerResponseTooLargeError(ServerResponseError):
    """The answer is larger than any ES9+ answer can be (``Es9Config.max_response_bytes``); the
    same server would send it again, so retrying does not help."""

    kind = "server.response_too_large"
    retryable = False


class TransactionMismatchError(ServerResponseError):
    """The server answered for another transaction than the one asked about."""

    kind = "server.transaction_mismatch"
    retryable = False
    oh_result = OhResultCode.RESULT_TRANSACTION_ID_INVALID


# --- The client ------------------------------------------------------------------------------------


class RspServerClient:
    """HTTPS JSON calls to one RSP server (an SM-DP+ or an SM-DS)."""

    base_path = ES9_PATH

    def __init__(
        self,
        address: str,
        config: Es9Config,
        *,
        secrets: Iterable[str] = (),
    ) -> None:
        self.address = parse_server_address(address)
        self.config = config
        override = config.connect_overrides.get(self.address.text) or config.connect_overrides.get(self.address.host)
        self._connect_to = parse_server_address(override) if override else self.address
        self._secrets = [s for s in secrets if s]
        self._client = httpx.AsyncClient(
            verify=ssl_context(config.ca_file),
            trust_env=False,  # proxies and CA bundles from the environment must not apply
            timeout=httpx.Timeout(config.timeout),
            follow_redirects=False,
        )

    def add_secret(self, secret: str | None) -> None:
        """A value (matching ID, ...) that must be masked if a server echoes it in a message."""
        if secret:
            self._secrets.append(secret)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _url(self, function: str) -> str:
        return f"https://{self._connect_to.netloc}{self.base_path}{function}"

    def _clean(self, text: str) -> str:
        text = "".join(c if c.isprintable() else " " for c in str(text))[:300]
        for secret in self._secrets:
            text = text.replace(secret, mask_secret(secret))
        return text

    async def call(self, function: str, body: dict[str, Any], *, empty_answer: bool = False) -> dict[str, Any]:
        """POST one function; returns the JSON answer after checking its header. With
        ``empty_answer`` an HTTP 204 is the success answer (handleNotification)."""
        headers = {
            "Host": self.address.netloc,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Admin-Protocol": ADMIN_PROTOCOL,
            "User-Agent": USER_AGENT,
        }
        where = f"{function} at {self.address.text}"
        request = self._client.build_request(
            "POST", self._url(function), content=json.dumps(body).encode(), headers=headers,
            extensions={"sni_hostname": self.address.host},
        )
        try:
            async with asyncio.timeout(self.config.deadline):
                response, content = await self._exchange(request, where)
        except TimeoutError:
            raise ServerTimeoutError(f"{where}: no complete answer within {self.config.deadline:g} s") from None
        except httpx.HTTPError as exc:
            raise self._network_error(exc, where) from exc
        if response.status_code == 204 and empty_answer:
            return {}
        if response.status_code != 200:
            self._raise_reported_failure(function, content, where)
            raise HttpStatusError(f"{where}: HTTP {response.status_code}", status_code=response.status_code)
        if empty_answer and not content.strip():
            return {}
        answer = self._json(response, content, where)
        self._check_status(function, answer, where)
        return answer

    async def _exchange(self, request: httpx.Request, where: str) -> tuple[httpx.Response, bytes]:
        """Send ``request`` and read the answer, never more than ``max_response_bytes`` of it."""
        limit = self.config.max_response_bytes
        response = await self._client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdecimal() and len(declared) < 20 and int(declared) > limit:
                raise ServerResponseTooLargeError(f"{where}: the answer announces {int(declared)} bytes, "
                                                  f"more than the {limit} an ES9+ answer may have")
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > limit:
                    raise ServerResponseTooLargeError(f"{where}: the answer exceeds {limit} bytes")
        finally:
            await response.aclose()
        return response, bytes(content)

    def _network_error(self, exc: httpx.HTTPError, where: str) -> EsimError:
        chain: list[BaseException] = []
        cause: BaseException | None = exc
        while cause is not None and len(chain) < 10:
            chain.append(cause)
            cause = cause.__cause__ or cause.__context__
        verification = next((c for c in chain if isinstance(c, ssl.SSLCertVerificationError)), None)
        if verification is not None:
            return TlsError(f"{where}: server certificate not trusted: {verification.verify_message}")
        if isinstance(exc, httpx.ConnectTimeout):
            return ServerUnreachableError(f"{where}: connection timed out")
        if isinstance(exc, httpx.TimeoutException):
            return ServerTimeoutError(f"{where}: no answer within {self.config.timeout:g} s")
        if isinstance(exc, httpx.ConnectError) and any(isinstance(c, ssl.SSLError) for c in chain):
            return TlsError(f"{where}: TLS handshake failed")
        if any(isinstance(c, socket.gaierror) for c in chain):
            return ServerAddressUnresolvableError(f"{where}: host {self._connect_to.host!r} does not resolve")
        if isinstance(exc, httpx.RemoteProtocolError):
            return ServerResponseError(f"{where}: the answer is not HTTP ({type(exc).__name__})")
        if isinstance(exc, httpx.ConnectError):
            return ServerUnreachableError(f"{where}: cannot connect to {self._connect_to.netloc}")
        return ServerUnreachableError(f"{where}: {type(exc).__name__}")

    def _raise_reported_failure(self, function: str, content: bytes, where: str) -> None:
        """Some servers send their Failed status with an HTTP error code instead of 200; the
        subject and reason codes say more than the HTTP status, so they win."""
        try:
            answer = json.loads(content)
            status = answer["header"]["functionExecutionStatus"]["status"]
        except (ValueError, RecursionError, TypeError, KeyError):
            return
        if status in FAILURE_STATUSES:
            self._check_status(function, answer, where)

    def _json(self, response: httpx.Response, content: bytes, where: str) -> dict[str, Any]:
        try:
            answer = json.loads(content)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise ServerResponseError(
                f"{where}: answer is not JSON (Content-Type {response.headers.get('content-type', 'none')!r})"
            ) from None
        if not isinstance(answer, dict):
            raise ServerResponseError(f"{where}: answer is JSON {type(answer).__name__}, not an object")
        return answer

    def _check_status(self, function: str, answer: dict[str, Any], where: str) -> None:
        status_block = answer.get("header", {})
        status_block = status_block.get("functionExecutionStatus") if isinstance(status_block, dict) else None
        if not isinstance(status_block, dict) or not isinstance(status_block.get("status"), str):
            raise ServerResponseError(f"{where}: answer has no header.functionExecutionStatus.status")
        status = status_block["status"]
        if status in SUCCESS_STATUSES:
            if status != SUCCESS_STATUSES[0]:
                log.warning("%s: %s %s", where, status, self._clean(json.dumps(status_block.get("statusCodeData"))))
            return
        if status not in FAILURE_STATUSES:
            raise ServerResponseError(f"{where}: unknown functionExecutionStatus {self._clean(status)!r}")
        codes = status_block.get("statusCodeData")
        codes = codes if isinstance(codes, dict) else {}
        subject, reason = str(codes.get("subjectCode", "")), str(codes.get("reasonCode", ""))
        message = self._clean(codes["message"]) if codes.get("message") else None
        if status == "Expired":
            message = f"(Expired) {message or ''}".strip()
        raise es9_error(function, self._clean(subject), self._clean(reason), message)

    # --- field access --------------------------------------------------------------------------

    def _string(self, answer: dict[str, Any], key: str, function: str) -> str:
        value = answer.get(key)
        if not isinstance(value, str) or not value:
            raise ServerResponseError(f"{function} at {self.address.text}: answer lacks {key}")
        return value

    def _blob(self, answer: dict[str, Any], key: str, function: str, tag: int) -> bytes:
        text = self._string(answer, key, function)
        try:
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ServerResponseError(f"{function} at {self.address.text}: {key} is not base64") from None
        try:
            tlv.parse_one(data, expected_tag=tag, what=key)
        except MalformedDataError as exc:
            raise ServerResponseError(f"{function} at {self.address.text}: {exc.message}") from None
        return data

    def _transaction_id(self, answer: dict[str, Any], function: str, expected: str | None = None) -> str:
        text = self._string(answer, "transactionId", function)
        try:
            octets = bytes.fromhex(text)
        except ValueError:
            raise ServerResponseError(f"{function} at {self.address.text}: transactionId is not hex") from None
        if not 1 <= len(octets) <= 16:
            raise ServerResponseError(f"{function} at {self.address.text}: transactionId of {len(octets)} bytes")
        if expected is not None and octets != bytes.fromhex(expected):
            raise TransactionMismatchError(
                f"{function} at {self.address.text}: answer is for transaction {text}, not {expected}"
            )
        return text.upper()

    # --- calls shared by ES9+ and ES11 -------------------------------------------------------------

    async def initiate_authentication(self, euicc_challenge: bytes, euicc_info1: bytes) -> InitiateAuthenticationResult:
        function = "initiateAuthentication"
        answer = await self.call(function, {
            "euiccChallenge": _b64(euicc_challenge),
            "euiccInfo1": _b64(euicc_info1),
            "smdpAddress": self.address.text,
        })
        return InitiateAuthenticationResult(
            transaction_id=self._transaction_id(answer, function),
            server_signed1=self._blob(answer, "serverSigned1", function, 0x30),
            server_signature1=self._blob(answer, "serverSignature1", function, 0x5F37),
            euicc_ci_pkid_to_be_used=self._blob(answer, "euiccCiPKIdToBeUsed", function, 0x04),
            server_certificate=self._blob(answer, "serverCertificate", function, 0x30),
        )


class Es9Client(RspServerClient):
    """ES9+ calls to one SM-DP+."""

    async def authenticate_client(self, transaction_id: str, authenticate_server_response: bytes) -> AuthenticateClientResult:
        function = "authenticateClient"
        answer = await self.call(function, {
            "transactionId": transaction_id,
            "authenticateServerResponse": _b64(authenticate_server_response),
        })
        return AuthenticateClientResult(
            transaction_id=self._transaction_id(answer, function, transaction_id),
            profile_metadata=self._blob(answer, "profileMetadata", function, 0xBF25),
            smdp_signed2=self._blob(answer, "smdpSigned2", function, 0x30),
            smdp_signature2=self._blob(answer, "smdpSignature2", function, 0x5F37),
            smdp_certificate=self._blob(answer, "smdpCertificate", function, 0x30),
        )

    async def get_bound_profile_package(self, transaction_id: str, prepare_download_response: bytes) -> BoundProfilePackageResult:
        function = "getBoundProfilePackage"
        answer = await self.call(function, {
            "transactionId": transaction_id,
            "prepareDownloadResponse": _b64(prepare_download_response),
        })
        return BoundProfilePackageResult(
            transaction_id=self._transaction_id(answer, function, transaction_id),
            bound_profile_package=self._blob(answer, "boundProfilePackage", function, 0xBF36),
        )

    async def handle_notification(self, pending_notification: bytes) -> None:
        await self.call("handleNotification", {"pendingNotification": _b64(pending_notification)}, empty_answer=True)

    async def cancel_session(self, transaction_id: str, cancel_session_response: bytes) -> None:
        await self.call(
            "cancelSession",
            {"transactionId": transaction_id, "cancelSessionResponse": _b64(cancel_session_response)},
            empty_answer=True,
        )


class Es11Client(RspServerClient):
    """ES11 calls to one SM-DS: authenticate, then read the event entries waiting for this eUICC."""

    base_path = ES11_PATH

    async def authenticate_client(self, transaction_id: str, authenticate_server_response: bytes) -> Es11AuthenticateClientResult:
        function = "authenticateClient"
        answer = await self.call(function, {
            "transactionId": transaction_id,
            "authenticateServerResponse": _b64(authenticate_server_response),
        })
        entries = answer.get("eventEntries", [])
        if not isinstance(entries, list):
            raise ServerResponseError(f"{function} at {self.address.text}: eventEntries is not a list")
        events = [self._event(entry, function) for entry in entries]
        tid = self._transaction_id(answer, function, transaction_id) if "transactionId" in answer else None
        return Es11AuthenticateClientResult(tid, events)

    def _event(self, entry: Any, function: str) -> EventEntry:
        """An entry is an object {eventId, rspServerAddress} or base64 of the DER EventEntries."""
        if isinstance(entry, str):
            try:
                value = codec.decode("EventEntries", base64.b64decode(entry, validate=True))
            except (binascii.Error, ValueError, MalformedDataError):
                raise ServerResponseError(f"{function} at {self.address.text}: an event entry does not decode") from None
        elif isinstance(entry, dict):
            value = entry
        else:
            raise ServerResponseError(f"{function} at {self.address.text}: event entry of type {type(entry).__name__}")
        event_id, server = value.get("eventId"), value.get("rspServerAddress")
        if not isinstance(event_id, str) or not isinstance(server, str) or not server:
            raise ServerResponseError(f"{function} at {self.address.text}: event entry lacks eventId or rspServerAddress")
        return EventEntry(event_id, server)
