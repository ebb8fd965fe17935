"""One error taxonomy for everything the protocol library can fail with.

Each error knows whether trying again can help and which OpenHarmony ``ResultCode`` and
Windows ``ESimOperationStatus`` it surfaces as, so the engine never has to guess. Messages are
built by the raiser and must not carry secrets (matching IDs, confirmation codes, keys).
"""
from __future__ import annotations

from sgp22.results import OhResultCode, WinStatus


class EsimError(Exception):
    """Base of every esimflow failure.

    ``kind`` is a stable machine-readable name (it becomes the Temporal ApplicationError type).
    """

    kind: str = "esim.error"
    retryable: bool = False
    oh_result: OhResultCode = OhResultCode.RESULT_SGP_22_OTHER
    win_status: WinStatus = WinStatus.Other

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        retryable: bool | None = None,
        oh_result: OhResultCode | None = None,
        win_status: WinStatus | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        if retryable is not None:
            self.retryable = retryable
        if oh_result is not None:
            self.oh_result = oh_result
        if win_status is not None:
            self.win_status = win_status

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "message": self.message,
            "retryable": self.retryable,
            "oh_result": self.oh_result.name,
            "oh_result_code": int(self.oh_result),
            "win_status": self.win_status.name,
            "win_status_code": int(self.win_status),
        }


# --- The families every module raises. `sgp22.errors` mapping tables refine kind/oh/win per code.


class BadInputError(EsimError):
    """Input from a user or operator that cannot be right (activation code, EID, ICCID, option)."""

    kind = "input.invalid"
    oh_result = OhResultCode.RESULT_SGP_22_OTHER
    win_status = WinStatus.Other


class MalformedDataError(EsimError):
    """Bytes from a card or a server that do not decode (truncated or garbled DER, bad TLV)."""

    kind = "data.malformed"
    oh_result = OhResultCode.RESULT_SGP_22_OTHER
    win_status = WinStatus.CardGeneralFailure


class TransportError(EsimError):
    """The card could not be reached or answered off-protocol; another attempt may work."""

    kind = "card.transport"
    retryable = True
    oh_result = OhResultCode.RESULT_SGP_22_OTHER
    win_status = WinStatus.CardGeneralFailure


class CardRemovedError(TransportError):
    kind = "card.removed"
    win_status = WinStatus.CardRemoved


class CardTimeoutError(TransportError):
    kind = "card.timeout"
    win_status = WinStatus.TimeoutWaitingForResponse


class StatusWordError(EsimError):
    """The card answered an APDU with an error status word."""

    kind = "card.status_word"
    win_status = WinStatus.CardGeneralFailure

    def __init__(self, message: str, *, sw: int, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.sw = sw


class Es10ResultError(EsimError):
    """An ES10 function answered with a result code other than ok."""

    kind = "es10.error"

    def __init__(self, message: str, *, function: str, result_name: str, result_code: int, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.function = function
        self.result_name = result_name
        self.result_code = result_code


class Es9FunctionError(EsimError):
    """The SM-DP+ executed an ES9+ function and reported Failed (subject/reason codes)."""

    kind = "es9.failed"

    def __init__(self, message: str, *, function: str, subject_code: str, reason_code: str, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.function = function
        self.subject_code = subject_code
        self.reason_code = reason_code


class ServerUnreachableError(EsimError):
    kind = "server.unreachable"
    retryable = True
    oh_result = OhResultCode.RESULT_SERVER_UNAVAILABLE
    win_status = WinStatus.ServerNotReachable


class HttpStatusError(EsimError):
    """The server answered with an HTTP status that ES9+ does not allow (5xx retryable)."""

    kind = "server.http"
    oh_result = OhResultCode.RESULT_RESPONSE_HTTP_FAILED
    win_status = WinStatus.ServerFailure

    def __init__(self, message: str, *, status_code: int, **kwargs) -> None:
        kwargs.setdefault("retryable", status_code >= 500 or status_code == 429)
        super().__init__(message, **kwargs)
        self.status_code = status_code


class TlsError(EsimError):
    kind = "server.tls"
    oh_result = OhResultCode.RESULT_TLS_HANDSHAKE_FAILED
    win_status = WinStatus.ServerNotTrusted


class ServerResponseError(EsimError):
    """The server answered, but not with the shape ES9+ prescribes (non-JSON, missing fields)."""

    kind = "server.bad_response"
    retryable = True
    oh_result = OhResultCode.RESULT_RESPONSE_HTTP_FAILED
    win_status = WinStatus.ServerFailure


class InvalidSignatureError(EsimError):
    kind = "crypto.invalid_signature"
    oh_result = OhResultCode.RESULT_AUTHENTICATION_FAILED
    win_status = WinStatus.ServerNotTrusted


class CertificateError(EsimError):
    kind = "crypto.certificate"
    oh_result = OhResultCode.RESULT_CERTIFICATE_INVALID
    win_status = WinStatus.ServerNotTrusted


class Scp03tSecurityError(EsimError):
    kind = "crypto.scp03t"
    oh_result = OhResultCode.RESULT_SGP_22_OTHER
    win_status = WinStatus.ProfileProcessingError


class NotSupportedError(EsimError):
    """A capability esimflow does not implement (says so instead of pretending)."""

    kind = "not_supported"
