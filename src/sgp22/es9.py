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
from typing import Any, Self

import httpx

from sgp22 import codec, tlv
from sgp22.es9_functions import ADMIN_PROTOCOL, ES9, ES11, Encoding, Function
from sgp22.errors import (
    BadInputError,
    EsimError,
    HttpStatusError,
    MalformedDataError,
    ServerAddressUnresolvableError,
    ServerResponseError,
    ServerTimeoutError,
    ServerUnreachableError,
    TlsError,
)
from sgp22.es9_types import (
    AuthenticateClientResult,
    BoundProfilePackageResult,
    Es11AuthenticateClientResult,
    EventEntry,
    InitiateAuthenticationResult,
    parse_server_address,
)
from sgp22.secret_text import mask_secret
from sgp22.results import OhResultCode
from sgp22.taxonomy import es9_error

log = logging.getLogger(__name__)

__all__ = ["ADMIN_PROTOCOL", "Es9Client", "Es9Config", "Es11Client", "RspServerClient"]

USER_AGENT = "gsma-rsp-lpad"
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

    functions: type[ES9] | type[ES11] = ES9

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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _url(self, function: str) -> str:
        return f"https://{self._connect_to.netloc}{self.functions.path}{function}"

    def _clean(self, text: str) -> str:
        text = "".join(c if c.isprintable() else " " for c in str(text))[:300]
        for secret in self._secrets:
            text = text.replace(secret, mask_secret(secret))
        return text

    async def invoke(self, function: Function, values: Mapping[str, object]) -> dict[str, Any]:
        """Call ``function`` of the binding table with its request fields (bytes for binary
        ones); an answer without response fields may be empty (HTTP 204)."""
        return await self.call(function.name, function.encode_request(values), empty_answer=not function.response)

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

    def _read(self, answer: dict[str, Any], function: Function, key: str, expected: str | None = None) -> Any:
        """Response field ``key`` as the binding table describes it: bytes of one complete TLV
        with the tag given there, or the transaction ID (checked against ``expected``)."""
        field = function.response_field(key)
        if field.encoding is Encoding.HEX:
            return self._transaction_id(answer, function.name, expected)
        return self._blob(answer, key, function.name, field.tags)

    def _blob(self, answer: dict[str, Any], key: str, function: str, tags: tuple[int, ...]) -> bytes:
        text = self._string(answer, key, function)
        try:
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ServerResponseError(f"{function} at {self.address.text}: {key} is not base64") from None
        try:
            found = tlv.parse_one(data, what=key).tag
        except MalformedDataError as exc:
            raise ServerResponseError(f"{function} at {self.address.text}: {exc.message}") from None
        if found not in tags:
            wanted = " or ".join(tlv.tag_name(tag) for tag in tags)
            raise ServerResponseError(
                f"{function} at {self.address.text}: {key}: tag {tlv.tag_name(found)} where {wanted} was expected")
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
        function = self.functions.initiate_authentication
        answer = await self.invoke(function, {
            "euiccChallenge": euicc_challenge, "euiccInfo1": euicc_info1, "smdpAddress": self.address.text,
        })
        return InitiateAuthenticationResult(
            transaction_id=self._read(answer, function, "transactionId"),
            server_signed1=self._read(answer, function, "serverSigned1"),
            server_signature1=self._read(answer, function, "serverSignature1"),
            euicc_ci_pkid_to_be_used=self._read(answer, function, "euiccCiPKIdToBeUsed"),
            server_certificate=self._read(answer, function, "serverCertificate"),
        )


class Es9Client(RspServerClient):
    """ES9+ calls to one SM-DP+."""

    async def authenticate_client(self, transaction_id: str, authenticate_server_response: bytes) -> AuthenticateClientResult:
        function = ES9.authenticate_client
        answer = await self.invoke(function, {
            "transactionId": transaction_id, "authenticateServerResponse": authenticate_server_response,
        })
        return AuthenticateClientResult(
            transaction_id=self._read(answer, function, "transactionId", transaction_id),
            profile_metadata=self._read(answer, function, "profileMetadata"),
            smdp_signed2=self._read(answer, function, "smdpSigned2"),
            smdp_signature2=self._read(answer, function, "smdpSignature2"),
            smdp_certificate=self._read(answer, function, "smdpCertificate"),
        )

    async def get_bound_profile_package(self, transaction_id: str, prepare_download_response: bytes) -> BoundProfilePackageResult:
        function = ES9.get_bound_profile_package
        answer = await self.invoke(function, {
            "transactionId": transaction_id, "prepareDownloadResponse": prepare_download_response,
        })
        return BoundProfilePackageResult(
            transaction_id=self._read(answer, function, "transactionId", transaction_id),
            bound_profile_package=self._read(answer, function, "boundProfilePackage"),
        )

    async def handle_notification(self, pending_notification: bytes) -> None:
        await self.invoke(ES9.handle_notification, {"pendingNotification": pending_notification})

    async def cancel_session(self, transaction_id: str, cancel_session_response: bytes) -> None:
        await self.invoke(ES9.cancel_session, {
            "transactionId": transaction_id, "cancelSessionResponse": cancel_session_response,
        })


class Es11Client(RspServerClient):
    """ES11 calls to one SM-DS: authenticate, then read the event entries waiting for this eUICC."""

    functions = ES11

    async def authenticate_client(self, transaction_id: str, authenticate_server_response: bytes) -> Es11AuthenticateClientResult:
        function = ES11.authenticate_client
        answer = await self.invoke(function, {
            "transactionId": transaction_id, "authenticateServerResponse": authenticate_server_response,
        })
        entries = answer.get("eventEntries", [])
        if not isinstance(entries, list):
            raise ServerResponseError(f"{function.name} at {self.address.text}: eventEntries is not a list")
        events = [self._event(entry, function.name) for entry in entries]
        tid = self._read(answer, function, "transactionId", transaction_id) if "transactionId" in answer else None
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
