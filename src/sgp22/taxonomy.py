"""Which esimflow error every protocol result becomes, and which failures produce each outcome.

Tables map each ES10 result (per function and code) and each ES9+ subject/reason code to one
error class with its ``kind``, ``retryable`` flag, OpenHarmony ``ResultCode`` and Windows
``ESimOperationStatus``. ``describe_outcomes()`` inverts them: for every value of both outcome
enumerations, the failures that produce it or the reason none can. ``docs/outcomes.md`` is
rendered from it (``python -m sgp22.taxonomy > docs/outcomes.md``).
"""
from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from sgp22 import errors as e
from sgp22.results import OhResultCode as Oh
from sgp22.results import WinStatus as Win


@dataclass(frozen=True)
class Mapping:
    """One row of a table: what a protocol result means and how it surfaces."""

    error: type[e.EsimError]
    oh: Oh
    win: Win
    retryable: bool
    meaning: str


def _m(error: type[e.EsimError], meaning: str, *, oh: Oh | None = None, win: Win | None = None,
       retryable: bool | None = None) -> Mapping:
    return Mapping(
        error=error,
        oh=error.oh_result if oh is None else oh,
        win=error.win_status if win is None else win,
        retryable=error.retryable if retryable is None else retryable,
        meaning=meaning,
    )


# --- ES10 ---------------------------------------------------------------------------------------

_UNDEFINED = _m(e.Es10ResultError, "the eUICC reports an undefined error", oh=Oh.RESULT_SGP_22_OTHER,
                win=Win.CardGeneralFailure)
_CAT_BUSY = _m(e.CardBusyError, "the card is busy (proactive or RSP session running)")
_NOT_FOUND = _m(e.ProfileNotFoundError, "no profile with that ICCID or AID on the eUICC", oh=Oh.RESULT_SGP_22_OTHER)


def _session_error(meaning: str) -> Mapping:
    return _m(e.SessionContextError, meaning)


def _install(meaning: str, error: type[e.EsimError] = e.ProfileInstallError, **codes) -> Mapping:
    return _m(error, meaning, **codes)


ES10_RESULTS: dict[str, dict[int, tuple[str, Mapping]]] = {
    "authenticateServer": {
        1: ("invalidCertificate", _m(e.ServerRejectedByEuiccError, "the eUICC refused the SM-DP+ certificate (CERT.DPauth)",
                                     oh=Oh.RESULT_CERTIFICATE_INVALID)),
        2: ("invalidSignature", _m(e.ServerRejectedByEuiccError, "serverSignature1 does not verify")),
        3: ("unsupportedCurve", _m(e.ServerRejectedByEuiccError, "the SM-DP+ key is on a curve the eUICC does not support")),
        4: ("noSessionContext", _session_error("the eUICC has no session for this authentication")),
        5: ("invalidOid", _m(e.ServerRejectedByEuiccError, "the SM-DP+ certificate is not a DPauth certificate")),
        6: ("euiccChallengeMismatch", _m(e.SessionContextError, "the SM-DP+ signed another eUICC challenge",
                                         oh=Oh.RESULT_ANALYZE_AUTHENTICATION_SERVER_RESPONSE_FAILED)),
        7: ("ciPKUnknown", _m(e.ServerRejectedByEuiccError, "the SM-DP+ chains to a CI the eUICC does not trust",
                              oh=Oh.RESULT_CERTIFICATE_INVALID)),
        127: ("undefinedError", _UNDEFINED),
    },
    "prepareDownload": {
        1: ("invalidCertificate", _m(e.ServerRejectedByEuiccError, "the eUICC refused the SM-DP+ certificate (CERT.DPpb)",
                                     oh=Oh.RESULT_CERTIFICATE_INVALID)),
        2: ("invalidSignature", _m(e.ServerRejectedByEuiccError, "smdpSignature2 does not verify",
                                   oh=Oh.RESULT_AUTHENTICATION_FAILED)),
        3: ("unsupportedCurve", _m(e.ServerRejectedByEuiccError, "the DPpb key is on a curve the eUICC does not support",
                                   oh=Oh.RESULT_AUTHENTICATION_FAILED)),
        4: ("noSessionContext", _session_error("the eUICC has no session to prepare a download in")),
        5: ("invalidTransactionId", _session_error("the transactionId is not the session's")),
        127: ("undefinedError", _UNDEFINED),
    },
    "loadBoundProfilePackage": {
        1: ("incorrectInputValues", _install("the bound profile package carries incorrect values")),
        2: ("invalidSignature", _install("smdpSign in InitialiseSecureChannel does not verify",
                                         oh=Oh.RESULT_AUTHENTICATION_FAILED, win=Win.ServerNotTrusted)),
        3: ("invalidTransactionId", _install("the package belongs to another transaction",
                                             oh=Oh.RESULT_TRANSACTION_ID_INVALID, win=Win.NoCorrespondingRequest)),
        4: ("unsupportedCrtValues", _install("unsupported control reference template (key type/length)")),
        5: ("unsupportedRemoteOperationType", _install("unsupported remote operation type")),
        6: ("unsupportedProfileClass", _install("the eUICC does not accept this profile class", e.ProfileClassNotAllowedError)),
        7: ("scp03tStructureError", _install("a protected segment is malformed",
                                             oh=Oh.RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED)),
        8: ("scp03tSecurityError", _install("a protected segment fails its MAC or decryption",
                                            oh=Oh.RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED)),
        9: ("installFailedDueToIccidAlreadyExistsOnEuicc",
            _install("a profile with this ICCID is already installed", e.IccidAlreadyExistsError)),
        10: ("installFailedDueToInsufficientMemoryForProfile",
             _install("the eUICC has no room for this profile", e.InsufficientMemoryError)),
        11: ("installFailedDueToInterruption", _install("the installation was interrupted", win=Win.OperationAborted,
                                                         retryable=True)),
        12: ("installFailedDueToPEProcessingError", _install("a profile element could not be processed")),
        13: ("installFailedDueToDataMismatch", _install("the package data does not match the metadata")),
        14: ("testProfileInstallFailedDueToInvalidNaaKey", _install("a test profile carries an invalid NAA key")),
        15: ("pprNotAllowed", _install("the profile's PPRs are not allowed on this eUICC",
                                       oh=Oh.RESULT_PPR_NOT_MATCH, win=Win.PolicyViolation)),
        127: ("installFailedDueToUnknownError", _install("the installation failed for an unknown reason")),
    },
    "cancelSession": {
        5: ("invalidTransactionId", _m(e.SessionContextError, "no session with this transactionId to cancel",
                                       retryable=False)),
        127: ("undefinedError", _UNDEFINED),
    },
    "listNotification": {127: ("undefinedError", _UNDEFINED)},
    "retrieveNotificationsList": {
        1: ("noResultAvailable", _m(e.Es10ResultError, "no pending notification matches the request",
                                    oh=Oh.RESULT_SGP_22_OTHER, win=Win.NotFound)),
        127: ("undefinedError", _UNDEFINED),
    },
    "removeNotificationFromList": {
        1: ("nothingToDelete", _m(e.NothingToDeleteError, "no pending notification with this sequence number")),
        127: ("undefinedError", _UNDEFINED),
    },
    "getProfilesInfo": {
        1: ("incorrectInputValues", _m(e.Es10ResultError, "the eUICC refused the search criteria or tag list",
                                       oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
        127: ("undefinedError", _UNDEFINED),
    },
    "enableProfile": {
        1: ("iccidOrAidNotFound", _NOT_FOUND),
        2: ("profileNotInDisabledState", _m(e.ProfileStateError, "the profile is already enabled",
                                            oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
        3: ("disallowedByPolicy", _m(e.PolicyForbiddenError, "PPR1 of the enabled profile forbids disabling it")),
        4: ("wrongProfileReenabling", _m(e.ProfileStateError, "the eUICC refuses to re-enable this profile now",
                                         oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
        5: ("catBusy", _CAT_BUSY),
        127: ("undefinedError", _UNDEFINED),
    },
    "disableProfile": {
        1: ("iccidOrAidNotFound", _NOT_FOUND),
        2: ("profileNotInEnabledState", _m(e.ProfileStateError, "the profile is not enabled",
                                           oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
        3: ("disallowedByPolicy", _m(e.PolicyForbiddenError, "PPR1 forbids disabling this profile")),
        5: ("catBusy", _CAT_BUSY),
        127: ("undefinedError", _UNDEFINED),
    },
    "deleteProfile": {
        1: ("iccidOrAidNotFound", _NOT_FOUND),
        2: ("profileNotInDisabledState", _m(e.ProfileStateError, "the profile is enabled: disable it first",
                                            oh=Oh.RESULT_MUST_DISABLE_PROFILE, win=Win.PolicyViolation)),
        3: ("disallowedByPolicy", _m(e.PolicyForbiddenError, "PPR2 forbids deleting this profile",
                                     oh=Oh.RESULT_PROFILE_NON_DELETE)),
        127: ("undefinedError", _UNDEFINED),
    },
    "eUICCMemoryReset": {
        1: ("nothingToDelete", _m(e.NothingToDeleteError, "nothing matched the reset options")),
        5: ("catBusy", _CAT_BUSY),
        127: ("undefinedError", _UNDEFINED),
    },
    "setNickname": {
        1: ("iccidNotFound", _NOT_FOUND),
        127: ("undefinedError", _UNDEFINED),
    },
    "setDefaultDpAddress": {127: ("undefinedError", _UNDEFINED)},
    "loadCRL": {
        1: ("invalidSignature", _m(e.ServerRejectedByEuiccError, "the CRL signature does not verify",
                                   oh=Oh.RESULT_AUTHENTICATION_FAILED)),
        2: ("invalidCRLFormat", _m(e.Es10ResultError, "the CRL is malformed", oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
        3: ("notEnoughMemorySpace", _m(e.Es10ResultError, "no room for the CRL", oh=Oh.RESULT_OUT_OF_MEMORY,
                                       win=Win.InsufficientSpaceOnCard)),
        4: ("verificationKeyNotFound", _m(e.ServerRejectedByEuiccError, "the CRL issuer is not a trusted CI",
                                          oh=Oh.RESULT_CERTIFICATE_INVALID)),
        5: ("fresherCrlAlreadyLoaded", _m(e.Es10ResultError, "a fresher CRL is already loaded", oh=Oh.RESULT_SGP_22_OTHER,
                                          win=Win.Other)),
        6: ("baseCrlMissing", _m(e.Es10ResultError, "the delta CRL's base CRL is missing", oh=Oh.RESULT_SGP_22_OTHER,
                                 win=Win.Other)),
        127: ("undefinedError", _UNDEFINED),
    },
}

_UNKNOWN_ES10_RESULT = _m(e.Es10ResultError, "the eUICC answered with a result code its function does not define",
                          oh=Oh.RESULT_SGP_22_OTHER, win=Win.CardGeneralFailure)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_ES10_ALIASES = {_key(name): name for name in ES10_RESULTS} | {
    "removenotification": "removeNotificationFromList",
    "notificationsent": "removeNotificationFromList",
    "memoryreset": "eUICCMemoryReset",
    "loadbpp": "loadBoundProfilePackage",
    "getprofileinfo": "getProfilesInfo",
    "profileinfolist": "getProfilesInfo",
    "retrievenotificationlist": "retrieveNotificationsList",
}


def es10_function(name: str) -> str | None:
    """The canonical ES10 function name for any spelling (``EnableProfile``, ``enable_profile`` ...)."""
    return _ES10_ALIASES.get(_key(name))


def es10_mapping(function: str, result_code: int) -> tuple[str, str | None, Mapping]:
    """(canonical function, result name, mapping); unknown functions or codes get the generic row."""
    canonical = es10_function(function) or function
    entry = ES10_RESULTS.get(canonical, {}).get(int(result_code))
    if entry is None:
        return canonical, None, _UNKNOWN_ES10_RESULT
    return canonical, entry[0], entry[1]


def es10_error(function: str, result_name: str, result_code: int, *, bpp_command_id: str | None = None,
               **kwargs) -> e.Es10ResultError:
    canonical, known_name, mapping = es10_mapping(function, result_code)
    name = known_name or result_name or f"unknown({result_code})"
    where = f" at {bpp_command_id}" if bpp_command_id else ""
    message = f"ES10 {canonical} failed{where}: {mapping.meaning} ({name}, {int(result_code)})"
    options = dict(kind=f"es10.{canonical}.{name}", retryable=mapping.retryable, oh_result=mapping.oh,
                   win_status=mapping.win, function=canonical, result_name=name, result_code=int(result_code))
    if issubclass(mapping.error, e.ProfileInstallError):
        options["bpp_command_id"] = bpp_command_id
    options.update(kwargs)
    return mapping.error(message, **options)


# --- ES9+ ---------------------------------------------------------------------------------------

ES9_CODES: dict[tuple[str, str], Mapping] = {
    ("8.8.1", "3.8"): _m(e.SmdpAddressRefusedError, "the SM-DP+ is not the server named in the activation code"),
    ("8.8.2", "3.1"): _m(e.SmdpIncompatibleError, "the SM-DP+ supports none of the eUICC's CI public keys"),
    ("8.8.3", "3.1"): _m(e.SmdpIncompatibleError, "the SM-DP+ does not support the eUICC's specification version",
                         win=Win.Other),
    ("8.8.4", "3.7"): _m(e.SmdpIncompatibleError, "the SM-DP+ has no DPauth certificate for the eUICC's CI",
                         oh=Oh.RESULT_CERTIFICATE_INVALID),
    ("8.10.1", "3.9"): _m(e.TransactionUnknownError, "the SM-DP+ does not know this transactionId (a new session may "
                                                      "succeed; retrying the step cannot)"),
    ("8.8.5", "4.10"): _m(e.DownloadOrderExpiredError, "the download order has expired: the operator must issue a new one"),
    ("8.8.5", "6.4"): _m(e.DownloadOrderRetriesExceededError, "the download order has used up its attempts"),
    ("8.1", "6.1"): _m(e.EuiccRejectedBySmdpError, "the eUICC signature or server challenge is invalid",
                       oh=Oh.RESULT_AUTHENTICATION_FAILED),
    ("8.1.2", "6.1"): _m(e.EuiccRejectedBySmdpError, "the SM-DP+ refused the EUM certificate"),
    ("8.1.2", "6.3"): _m(e.EuiccRejectedBySmdpError, "the EUM certificate has expired"),
    ("8.1.3", "6.1"): _m(e.EuiccRejectedBySmdpError, "the SM-DP+ refused the eUICC certificate"),
    ("8.1.3", "6.3"): _m(e.EuiccRejectedBySmdpError, "the eUICC certificate has expired"),
    ("8.11.1", "3.9"): _m(e.EuiccRejectedBySmdpError, "the eUICC chains to a CI the SM-DP+ does not know"),
    ("8.1.1", "3.8"): _m(e.EidRefusedError, "the profile is reserved for another EID"),
    ("8.2.6", "3.8"): _m(e.MatchingIdRefusedError, "the SM-DP+ refused the matching ID"),
    ("8.2.5", "4.3"): _m(e.NoEligibleProfileError, "no profile on the SM-DP+ is eligible for this device"),
    ("8.2", "1.2"): _m(e.ProfileNotReleasedError, "the operator has not released the profile for download"),
    ("8.2", "3.7"): _m(e.ProfileNotAvailableError, "the profile package cannot be bound again (otPK mismatch)"),
    ("8.2.7", "2.2"): _m(e.ConfirmationCodeMissingError, "the profile needs a confirmation code"),
    ("8.2.7", "3.8"): _m(e.ConfirmationCodeIncorrectError, "the confirmation code is wrong"),
    ("8.2.7", "6.4"): _m(e.ConfirmationCodeRetriesExceededError, "too many wrong confirmation codes"),
    ("8.8", "3.10"): _m(e.SmdpRefusedError, "the SM-DP+ OID in the cancellation is not this server's",
                        oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other),
}

# The same code can mean a different stage of the download depending on the function.
ES9_FUNCTION_CODES: dict[tuple[str, str, str], Mapping] = {
    ("authenticateClient", "8.1", "6.1"): _m(
        e.EuiccRejectedBySmdpError, "the SM-DP+ could not authenticate the eUICC",
        oh=Oh.RESULT_ANALYZE_AUTHENTICATION_CLIENT_RESPONSE_FAILED),
    ("getBoundProfilePackage", "8.1", "6.1"): _m(
        e.EuiccRejectedBySmdpError, "the SM-DP+ refused euiccSignature2",
        oh=Oh.RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED),
}

# Codes not in the tables above, by SGP.22 reason-code family (first matching prefix wins).
ES9_REASON_FAMILIES: list[tuple[str, Mapping]] = [
    ("3.8", _m(e.SmdpRefusedError, "the SM-DP+ refused the request", oh=Oh.RESULT_CARRIER_SERVER_REFUSED_ERRORS,
               win=Win.Other)),
    ("1.", _m(e.SmdpRefusedError, "the SM-DP+ does not allow this request", oh=Oh.RESULT_SGP_22_OTHER,
              win=Win.NotAuthorized)),
    ("2.", _m(e.SmdpRefusedError, "the SM-DP+ found the request malformed or incomplete", oh=Oh.RESULT_SGP_22_OTHER,
              win=Win.Other)),
    ("3.", _m(e.SmdpRefusedError, "the SM-DP+ cannot serve this request in its current conditions",
              oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
    ("4.", _m(e.SmdpRefusedError, "the SM-DP+ failed while executing the request", oh=Oh.RESULT_SGP_22_OTHER,
              win=Win.ServerFailure, retryable=True)),
    ("5.", _m(e.SmdpRefusedError, "the SM-DP+ reports a transport failure behind it", oh=Oh.RESULT_SERVER_UNAVAILABLE,
              win=Win.ServerNotReachable, retryable=True)),
    ("6.", _m(e.SmdpRefusedError, "the SM-DP+ reports a security failure", oh=Oh.RESULT_AUTHENTICATION_FAILED,
              win=Win.NotAuthorized)),
    ("", _m(e.SmdpRefusedError, "the SM-DP+ reports a failure with an unknown reason code", oh=Oh.RESULT_SGP_22_OTHER,
            win=Win.ServerFailure)),
]

ES9_FUNCTIONS = ("initiateAuthentication", "authenticateClient", "getBoundProfilePackage", "handleNotification",
                 "cancelSession")
_ES9_ALIASES = {_key(name): name for name in ES9_FUNCTIONS}


def es9_mapping(function: str, subject: str, reason: str) -> tuple[str, Mapping]:
    canonical = _ES9_ALIASES.get(_key(function), function)
    subject, reason = str(subject).strip(), str(reason).strip()
    mapping = ES9_FUNCTION_CODES.get((canonical, subject, reason)) or ES9_CODES.get((subject, reason))
    if mapping is None:
        mapping = next(m for prefix, m in ES9_REASON_FAMILIES if reason == prefix or
                       (prefix.endswith(".") and reason.startswith(prefix)) or prefix == "")
    return canonical, mapping


_SERVER_MESSAGE_LIMIT = 160


def _server_message(message: str | None) -> str:
    """The server's own words, one line and short: a server may echo anything back."""
    if not message:
        return ""
    text = " ".join(str(message).split())
    text = "".join(ch for ch in text if ch.isprintable())
    return ": " + (text if len(text) <= _SERVER_MESSAGE_LIMIT else text[:_SERVER_MESSAGE_LIMIT] + "…")


def es9_error(function: str, subject: str, reason: str, message: str | None = None) -> e.Es9FunctionError:
    canonical, mapping = es9_mapping(function, subject, reason)
    text = f"ES9+ {canonical} failed: {mapping.meaning} (subject {subject}, reason {reason}){_server_message(message)}"
    return mapping.error(text, kind=f"es9.{subject}/{reason}", retryable=mapping.retryable, oh_result=mapping.oh,
                         win_status=mapping.win, function=canonical, subject_code=str(subject), reason_code=str(reason))


def _error_classes(base: type[e.EsimError] = e.EsimError) -> list[type[e.EsimError]]:
    found = [base]
    for sub in base.__subclasses__():
        found += _error_classes(sub)
    return found


def result_codes(kind: str) -> tuple[Oh, Win]:
    """The OpenHarmony and Windows codes an error ``kind`` surfaces as (what a status record
    keeps as its error reason): ES10 kinds by function and result name, ES9+ kinds by subject
    and reason code, the other kinds by the error class that carries them; the generic codes
    for a kind no table knows."""
    if kind.startswith("es10."):
        function, _, result_name = kind.removeprefix("es10.").partition(".")
        for name, mapping in ES10_RESULTS.get(es10_function(function) or function, {}).values():
            if name == result_name:
                return mapping.oh, mapping.win
    if kind.startswith("es9.") and "/" in kind:
        subject, _, reason = kind.removeprefix("es9.").partition("/")
        mapping = es9_mapping("", subject, reason)[1]
        return mapping.oh, mapping.win
    for error in _error_classes():
        if error.__dict__.get("kind") == kind:
            return error.oh_result, error.win_status
    return e.EsimError.oh_result, e.EsimError.win_status


# --- the inverse: who produces each outcome ---------------------------------------------------


@dataclass(frozen=True)
class Producer:
    """One failure that ends with a given outcome; ``make`` builds an instance of it."""

    source: str
    trigger: str
    error: type[e.EsimError]
    retryable: bool
    make: Callable[[], e.EsimError] = field(compare=False, repr=False)


@dataclass(frozen=True)
class EnumOutcome:
    enum: str
    name: str
    value: int
    producers: tuple[Producer, ...]
    reason: str | None


# Failures raised directly by the library, the lab or the engine (not through a table).
DIRECT_FAILURES: list[tuple[str, str, Callable[[], e.EsimError]]] = [
    ("input", "malformed EID, ICCID, option or configuration", lambda: e.BadInputError("bad input")),
    ("input", "malformed activation code", lambda: e.ActivationCodeInvalidError("bad activation code")),
    ("input", "SM-DP+ address that is not host[:port]", lambda: e.SmdpAddressInvalidError("bad address")),
    ("card", "truncated or garbled DER/TLV from a card or server", lambda: e.MalformedDataError("garbled")),
    ("card", "reader or card I/O failure", lambda: e.TransportError("I/O failure")),
    ("card", "card removed from the reader", lambda: e.CardRemovedError("removed")),
    ("card", "card did not answer in time", lambda: e.CardTimeoutError("timeout")),
    ("card", "the driver refused to carry a command (a modem's ERROR, +CME ERROR: 50)",
     lambda: e.CommandRefusedError("refused")),
    ("card", "error status word (e.g. 6F00)", lambda: e.StatusWordError("6F00", sw=0x6F00)),
    ("card", "GetEID answered without a valid EID", lambda: e.EidUnavailableError("no EID")),
    ("network", "SM-DP+ not reachable (refused, reset)", lambda: e.ServerUnreachableError("unreachable")),
    ("network", "SM-DP+ host name does not resolve", lambda: e.ServerAddressUnresolvableError("no such host")),
    ("network", "SM-DP+ did not answer in time", lambda: e.ServerTimeoutError("timeout")),
    ("network", "HTTP 5xx or 429 from the SM-DP+", lambda: e.HttpStatusError("503", status_code=503)),
    ("network", "other HTTP status ES9+ does not allow", lambda: e.HttpStatusError("404", status_code=404)),
    ("network", "TLS handshake or server certificate verification failed", lambda: e.TlsError("TLS")),
    ("network", "answer that is not ES9+ JSON of the right shape", lambda: e.ServerResponseError("shape")),
    ("network", "serverSigned1 names another SM-DP+ address", lambda: e.ServerAddressMismatchError("address")),
    ("crypto", "a signature does not verify", lambda: e.InvalidSignatureError("signature")),
    ("crypto", "certificate chain: bad format", lambda: e.CertificateFormatError("format")),
    ("crypto", "certificate chain: expired", lambda: e.CertificateExpiredError("expired")),
    ("crypto", "certificate chain: not yet valid", lambda: e.CertificateNotYetValidError("not yet valid")),
    ("crypto", "certificate chain: not issued by its issuer", lambda: e.CertificateSignatureError("issuer")),
    ("crypto", "certificate chain: wrong role", lambda: e.CertificateRoleError("role")),
    ("crypto", "certificate chain: unknown CI", lambda: e.UnknownCiError("CI")),
    ("crypto", "certificate: key on an unsupported curve", lambda: e.UnsupportedCurveError("curve")),
    ("crypto", "eUICC certificate EID outside its EUM's range", lambda: e.EidOutsideEumRangeError("EID range")),
    ("crypto", "SCP03t segment fails its MAC", lambda: e.Scp03tSecurityError("MAC")),
    ("crypto", "SCP03t segment malformed (tag, length, padding)", lambda: e.Scp03tStructureError("structure")),
    ("engine", "capability esimflow does not implement", lambda: e.NotSupportedError("not supported")),
    ("engine", "user cancelled the operation", lambda: e.UserCancelledError("cancelled")),
    ("engine", "no user consent before the consent timeout", lambda: e.ConsentTimeoutError("consent timeout")),
    ("engine", "switch needs the enabled profile disabled and forceDisable is off",
     lambda: e.MustDisableProfileError("must disable")),
    ("engine", "delete of the enabled profile (switch to another one first)",
     lambda: e.MustDisableProfileError("must disable")),
    ("engine", "download attempts exhausted", lambda: e.DownloadRetriesExceededError("retries")),
]

NO_PRODUCER_REASONS: dict[tuple[str, str], str] = {
    ("OhResultCode", "RESULT_OK"): "Success path: every operation that completes ends with it.",
    ("WinStatus", "Success"): "Success path: every operation that completes ends with it.",
    ("OhResultCode", "RESULT_ACTIVATION_CODE_CHANGED"): (
        "OpenHarmony reports it when the user edited the activation code in its own confirmation UI; "
        "esimflow takes the activation code as given and has no such step."),
    ("OhResultCode", "RESULT_CERTIFICATE_IO_ERROR"): (
        "Network failure while fetching a certificate or CRL; ES9+ carries every certificate inline and "
        "esimflow fetches none."),
    ("OhResultCode", "RESULT_CERTIFICATE_RESPONSE_TIMEOUT"): (
        "Timeout or bad address while fetching a certificate; esimflow fetches no certificates (see above)."),
}


def _family_label(prefix: str) -> str:
    if not prefix:
        return "any other code"
    return f"other subject, reason {prefix}x" if prefix.endswith(".") else f"other subject, reason {prefix}"


def _producers() -> list[tuple[Oh, Win, Producer]]:
    found: list[tuple[Oh, Win, Producer]] = []
    for function, results in ES10_RESULTS.items():
        for code, (name, mapping) in results.items():
            make = (lambda f=function, n=name, c=code: es10_error(f, n, c))
            found.append((mapping.oh, mapping.win,
                          Producer("ES10", f"{function} {name}({code})", mapping.error, mapping.retryable, make)))
    found.append((_UNKNOWN_ES10_RESULT.oh, _UNKNOWN_ES10_RESULT.win,
                  Producer("ES10", "any function: result code outside its enumeration", e.Es10ResultError, False,
                           lambda: es10_error("enableProfile", "unknown(99)", 99))))
    for (subject, reason), mapping in ES9_CODES.items():
        make = (lambda s=subject, r=reason: es9_error("initiateAuthentication", s, r))
        found.append((mapping.oh, mapping.win,
                      Producer("ES9+", f"{subject}/{reason}", mapping.error, mapping.retryable, make)))
    for (function, subject, reason), mapping in ES9_FUNCTION_CODES.items():
        make = (lambda f=function, s=subject, r=reason: es9_error(f, s, r))
        found.append((mapping.oh, mapping.win,
                      Producer("ES9+", f"{function} {subject}/{reason}", mapping.error, mapping.retryable, make)))
    for prefix, mapping in ES9_REASON_FAMILIES:
        example = prefix + "9" if prefix.endswith(".") else prefix or "9.9"
        label = _family_label(prefix)
        make = (lambda r=example: es9_error("initiateAuthentication", "8.99", r))
        found.append((mapping.oh, mapping.win, Producer("ES9+", label, mapping.error, mapping.retryable, make)))
    for source, trigger, make in DIRECT_FAILURES:
        sample = make()
        found.append((sample.oh_result, sample.win_status,
                      Producer(source, trigger, type(sample), sample.retryable, make)))
    return found


def describe_outcomes() -> list[EnumOutcome]:
    """Every OpenHarmony ResultCode and Windows ESimOperationStatus, with what produces it."""
    producers = _producers()
    rows = []
    for enum_class, pick in ((Oh, lambda oh, win: oh), (Win, lambda oh, win: win)):
        for value in enum_class:
            matching = tuple(p for oh, win, p in producers if pick(oh, win) is value)
            rows.append(EnumOutcome(enum_class.__name__, value.name, int(value), matching,
                                    NO_PRODUCER_REASONS.get((enum_class.__name__, value.name))))
    return rows


# --- docs/outcomes.md ---------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown() -> str:
    lines = [
        "# Outcomes: every failure and the result codes it surfaces as",
        "",
        "Generated by `python -m sgp22.taxonomy > docs/outcomes.md` from `src/sgp22/taxonomy.py`;",
        "a test fails when this file and the tables disagree.",
        "",
        "Each esimflow error carries a stable `kind`, whether retrying can help, the OpenHarmony",
        "`ResultCode` and the Windows `ESimOperationStatus`.",
    ]
    for enum_name, title in (("OhResultCode", "OpenHarmony ResultCode"), ("WinStatus", "Windows ESimOperationStatus")):
        lines += ["", f"## {title}: what produces each value", "", "| value | produced by |", "| --- | --- |"]
        for row in (r for r in describe_outcomes() if r.enum == enum_name):
            if row.producers:
                cause = "<br>".join(f"{p.source}: {_cell(p.trigger)} (`{p.error.__name__}`)" for p in row.producers)
            else:
                cause = f"*none*: {_cell(row.reason or '')}"
            lines.append(f"| `{row.name}` ({row.value}) | {cause} |")
    lines += ["", "## ES10 results", "", "| function | result | error | retryable | OpenHarmony | Windows | meaning |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for function, results in ES10_RESULTS.items():
        for code, (name, m) in results.items():
            lines.append(f"| {function} | {name} ({code}) | `{m.error.__name__}` | {'yes' if m.retryable else 'no'} | "
                         f"{m.oh.name} | {m.win.name} | {_cell(m.meaning)} |")
    lines += ["", "## ES9+ subject / reason codes", "",
              "| function | subject/reason | error | retryable | OpenHarmony | Windows | meaning |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for (subject, reason), m in ES9_CODES.items():
        lines.append(f"| any | {subject}/{reason} | `{m.error.__name__}` | {'yes' if m.retryable else 'no'} | "
                     f"{m.oh.name} | {m.win.name} | {_cell(m.meaning)} |")
    for (function, subject, reason), m in ES9_FUNCTION_CODES.items():
        lines.append(f"| {function} | {subject}/{reason} | `{m.error.__name__}` | {'yes' if m.retryable else 'no'} | "
                     f"{m.oh.name} | {m.win.name} | {_cell(m.meaning)} |")
    for prefix, m in ES9_REASON_FAMILIES:
        lines.append(f"| any | {_family_label(prefix)} | `{m.error.__name__}` | {'yes' if m.retryable else 'no'} | "
                     f"{m.oh.name} | {m.win.name} | {_cell(m.meaning)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.stdout.write(render_markdown())


if __name__ == "__main__":
    main()
