"""One error taxonomy for everything the protocol library can fail with.

Each error knows whether trying again can help and which OpenHarmony ``ResultCode`` and
Windows ``ESimOperationStatus`` it surfaces as, so the engine never has to guess. Messages are
built by the raiser and must not carry secrets (matching IDs, confirmation codes, keys); what
the raiser quotes from its input (a name, an id, a path a user typed) may hold one put in the
wrong field, so every message is also masked here (:func:`sgp22.secret_text.mask_secrets_in`).
"""
from __future__ import annotations

from typing import Any

from sgp22.results import OhResultCode, WinStatus
from sgp22.secret_text import mask_secrets_in


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
        message = mask_secrets_in(message)
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

    def to_dict(self) -> dict[str, Any]:
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


class CommandRefusedError(TransportError):
    """The driver (a modem, a reader) refused to carry a command, e.g. one longer than it
    takes: the card never saw it, so the same command fails again."""

    kind = "card.command_refused"
    retryable = False


class StatusWordError(EsimError):
    """The card answered an APDU with an error status word."""

    kind = "card.status_word"
    win_status = WinStatus.CardGeneralFailure

    def __init__(self, message: str, *, sw: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.sw = sw


class Es10ResultError(EsimError):
    """An ES10 function answered with a result code other than ok."""

    kind = "es10.error"

    def __init__(self, message: str, *, function: str, result_name: str, result_code: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.function = function
        self.result_name = result_name
        self.result_code = result_code


class Es9FunctionError(EsimError):
    """The SM-DP+ executed an ES9+ function and reported Failed (subject/reason codes)."""

    kind = "es9.failed"

    def __init__(self, message: str, *, function: str, subject_code: str, reason_code: str, **kwargs: Any) -> None:
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

    def __init__(self, message: str, *, status_code: int, **kwargs: Any) -> None:
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
    """A certificate or key refused; ``role`` names the certificate that failed (``"EUM"``,
    ``"EUICC"``, ``"DPAUTH"`` ...), so an SM-DP+ can tell 8.1.2 (EUM) from 8.1.3 (eUICC)."""

    kind = "crypto.certificate"
    oh_result = OhResultCode.RESULT_CERTIFICATE_INVALID
    win_status = WinStatus.ServerNotTrusted

    def __init__(self, message: str, *, role: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.role = role


class Scp03tSecurityError(EsimError):
    kind = "crypto.scp03t"
    oh_result = OhResultCode.RESULT_SGP_22_OTHER
    win_status = WinStatus.ProfileProcessingError


class NotSupportedError(EsimError):
    """A capability esimflow does not implement (says so instead of pretending)."""

    kind = "not_supported"


class Scp03tStructureError(MalformedDataError):
    """A BSP segment whose shape is wrong (tag, length, padding): SGP.22 scp03tStructureError."""

    kind = "crypto.scp03t_structure"
    win_status = WinStatus.ProfileProcessingError


# --- certificate verdicts ------------------------------------------------------------------------


class CertificateFormatError(CertificateError):
    """Bytes that are not an X.509 certificate or key, or lack an extension SGP.22 requires."""

    kind = "crypto.certificate.format"


class CertificateExpiredError(CertificateError):
    kind = "crypto.certificate.expired"


class CertificateNotYetValidError(CertificateError):
    kind = "crypto.certificate.not_yet_valid"


class CertificateSignatureError(CertificateError):
    """The certificate was not issued by the certificate it must chain to (name, key id or signature)."""

    kind = "crypto.certificate.bad_signature"


class CertificateRoleError(CertificateError):
    """The certificate policy says it is some other role (e.g. a DPtls cert offered as DPauth)."""

    kind = "crypto.certificate.wrong_role"


class UnknownCiError(CertificateError):
    """The chain leads to a Certificate Issuer this party does not trust."""

    kind = "crypto.certificate.unknown_ci"


class EidOutsideEumRangeError(CertificateError):
    """The eUICC certificate's EID is not inside the EINs its EUM is constrained to."""

    kind = "crypto.certificate.eid_outside_eum"
    oh_result = OhResultCode.RESULT_PROFILE_EID_INVALID
    win_status = WinStatus.EidMismatch


class UnsupportedCurveError(CertificateError):
    """A key or certificate on a curve SGP.22 does not allow (only P-256 and brainpoolP256r1)."""

    kind = "crypto.unsupported_curve"


# --- bad input the user can fix -----------------------------------------------------------------


class ActivationCodeInvalidError(BadInputError):
    kind = "input.activation_code"
    oh_result = OhResultCode.RESULT_ACTIVATION_CODE_INVALID


class SmdpAddressInvalidError(BadInputError):
    """An SM-DP+ address that is not a host name (with optional port)."""

    kind = "input.smdp_address"
    oh_result = OhResultCode.RESULT_SMDP_ADDRESS_INVALID


# --- card -------------------------------------------------------------------------------------


class EidUnavailableError(EsimError):
    """The card answered GetEID without a usable EID."""

    kind = "card.eid_unavailable"
    oh_result = OhResultCode.RESULT_GET_EID_FAILED
    win_status = WinStatus.CardGeneralFailure


# --- network ----------------------------------------------------------------------------------


class ServerAddressUnresolvableError(ServerUnreachableError):
    """The SM-DP+ host name does not resolve."""

    kind = "server.unresolvable"
    oh_result = OhResultCode.RESULT_SERVER_ADDRESS_INVALID


class ServerTimeoutError(ServerUnreachableError):
    """The SM-DP+ accepted the connection but did not answer in time."""

    kind = "server.timeout"
    oh_result = OhResultCode.RESULT_DOWNLOAD_TIMEOUT


class ServerAddressMismatchError(EsimError):
    """serverSigned1 names another SM-DP+ address than the one the LPA contacted."""

    kind = "server.address_mismatch"
    oh_result = OhResultCode.RESULT_SMDP_ADDRESS_INCORRECT
    win_status = WinStatus.ServerNotTrusted


# --- outcomes decided by the engine, not by a card or a server -------------------------------


class UserCancelledError(EsimError):
    kind = "engine.user_cancelled"
    oh_result = OhResultCode.RESULT_USER_CANCEL_DOWNLOAD
    win_status = WinStatus.OperationAborted


class ConsentTimeoutError(EsimError):
    """The end user did not confirm the download within the consent timeout."""

    kind = "engine.consent_timeout"
    oh_result = OhResultCode.RESULT_DOWNLOAD_TIMEOUT
    win_status = WinStatus.TimeoutWaitingForUserConsent


class MustDisableProfileError(EsimError):
    """The enabled profile is in the way: a switch needs it disabled and the caller did not allow it
    (forceDisable), or it was asked to be deleted (the eUICC deletes disabled profiles only)."""

    kind = "engine.must_disable_profile"
    oh_result = OhResultCode.RESULT_MUST_DISABLE_PROFILE
    win_status = WinStatus.PolicyViolation


class DownloadRetriesExceededError(EsimError):
    """The engine gave up on a download after its configured number of attempts."""

    kind = "engine.download_retries_exceeded"
    oh_result = OhResultCode.RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED
    win_status = WinStatus.ProfileDownloadMaxRetriesExceeded
