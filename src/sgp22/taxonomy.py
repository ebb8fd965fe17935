"""Which esimflow error every protocol result becomes, and which failures produce each outcome.

Tables map each ES10 result (per function and code) and each ES9+ subject/reason code to one
error class with its ``kind``, ``retryable`` flag, OpenHarmony ``ResultCode`` and Windows
``ESimOperationStatus``. ``sgp22.outcomes`` inverts them (for every value of both outcome
enumerations, the failures that produce it) and renders ``docs/outcomes.md``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sgp22 import errors as e
from sgp22 import result_errors as r
from sgp22.results import OhResultCode as Oh
from sgp22.results import WinStatus as Win


ErrorT = TypeVar("ErrorT", bound=e.EsimError, covariant=True)


@dataclass(frozen=True)
class Mapping(Generic[ErrorT]):
    """One row of a table: what a protocol result means and how it surfaces."""

    error: type[ErrorT]
    oh: Oh
    win: Win
    retryable: bool
    meaning: str


def _m(error: type[ErrorT], meaning: str, *, oh: Oh | None = None, win: Win | None = None,
       retryable: bool | None = None) -> Mapping[ErrorT]:
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
_CAT_BUSY = _m(r.CardBusyError, "the card is busy (proactive or RSP session running)")
_NOT_FOUND = _m(r.ProfileNotFoundError, "no profile with that ICCID or AID on the eUICC", oh=Oh.RESULT_SGP_22_OTHER)


def _session_error(meaning: str) -> Mapping[e.Es10ResultError]:
    return _m(r.SessionContextError, meaning)


def _install(meaning: str, error: type[e.Es10ResultError] = r.ProfileInstallError, **codes: Any
             ) -> Mapping[e.Es10ResultError]:
    return _m(error, meaning, **codes)


ES10_RESULTS: dict[str, dict[int, tuple[str, Mapping[e.Es10ResultError]]]] = {
    "authenticateServer": {
        1: ("invalidCertificate", _m(r.ServerRejectedByEuiccError, "the eUICC refused the SM-DP+ certificate (CERT.DPauth)",
                                     oh=Oh.RESULT_CERTIFICATE_INVALID)),
        2: ("invalidSignature", _m(r.ServerRejectedByEuiccError, "serverSignature1 does not verify")),
        3: ("unsupportedCurve", _m(r.ServerRejectedByEuiccError, "the SM-DP+ key is on a curve the eUICC does not support")),
        4: ("noSessionContext", _session_error("the eUICC has no session for this authentication")),
        5: ("invalidOid", _m(r.ServerRejectedByEuiccError, "the SM-DP+ certificate is not a DPauth certificate")),
        6: ("euiccChallengeMismatch", _m(r.SessionContextError, "the SM-DP+ signed another eUICC challenge",
                                         oh=Oh.RESULT_ANALYZE_AUTHENTICATION_SERVER_RESPONSE_FAILED)),
        7: ("ciPKUnknown", _m(r.ServerRejectedByEuiccError, "the SM-DP+ chains to a CI the eUICC does not trust",
                              oh=Oh.RESULT_CERTIFICATE_INVALID)),
        127: ("undefinedError", _UNDEFINED),
    },
    "prepareDownload": {
        1: ("invalidCertificate", _m(r.ServerRejectedByEuiccError, "the eUICC refused the SM-DP+ certificate (CERT.DPpb)",
                                     oh=Oh.RESULT_CERTIFICATE_INVALID)),
        2: ("invalidSignature", _m(r.ServerRejectedByEuiccError, "smdpSignature2 does not verify",
                                   oh=Oh.RESULT_AUTHENTICATION_FAILED)),
        3: ("unsupportedCurve", _m(r.ServerRejectedByEuiccError, "the DPpb key is on a curve the eUICC does not support",
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
        6: ("unsupportedProfileClass", _install("the eUICC does not accept this profile class", r.ProfileClassNotAllowedError)),
        7: ("scp03tStructureError", _install("a protected segment is malformed",
                                             oh=Oh.RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED)),
        8: ("scp03tSecurityError", _install("a protected segment fails its MAC or decryption",
                                            oh=Oh.RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED)),
        9: ("installFailedDueToIccidAlreadyExistsOnEuicc",
            _install("a profile with this ICCID is already installed", r.IccidAlreadyExistsError)),
        10: ("installFailedDueToInsufficientMemoryForProfile",
             _install("the eUICC has no room for this profile", r.InsufficientMemoryError)),
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
        5: ("invalidTransactionId", _m(r.SessionContextError, "no session with this transactionId to cancel",
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
        1: ("nothingToDelete", _m(r.NothingToDeleteError, "no pending notification with this sequence number")),
        127: ("undefinedError", _UNDEFINED),
    },
    "getProfilesInfo": {
        1: ("incorrectInputValues", _m(e.Es10ResultError, "the eUICC refused the search criteria or tag list",
                                       oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
        127: ("undefinedError", _UNDEFINED),
    },
    "enableProfile": {
        1: ("iccidOrAidNotFound", _NOT_FOUND),
        2: ("profileNotInDisabledState", _m(r.ProfileStateError, "the profile is already enabled",
                                            oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
        3: ("disallowedByPolicy", _m(r.PolicyForbiddenError, "PPR1 of the enabled profile forbids disabling it")),
        4: ("wrongProfileReenabling", _m(r.ProfileStateError, "the eUICC refuses to re-enable this profile now",
                                         oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
        5: ("catBusy", _CAT_BUSY),
        127: ("undefinedError", _UNDEFINED),
    },
    "disableProfile": {
        1: ("iccidOrAidNotFound", _NOT_FOUND),
        2: ("profileNotInEnabledState", _m(r.ProfileStateError, "the profile is not enabled",
                                           oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
        3: ("disallowedByPolicy", _m(r.PolicyForbiddenError, "PPR1 forbids disabling this profile")),
        5: ("catBusy", _CAT_BUSY),
        127: ("undefinedError", _UNDEFINED),
    },
    "deleteProfile": {
        1: ("iccidOrAidNotFound", _NOT_FOUND),
        2: ("profileNotInDisabledState", _m(r.ProfileStateError, "the profile is enabled: disable it first",
                                            oh=Oh.RESULT_MUST_DISABLE_PROFILE, win=Win.PolicyViolation)),
        3: ("disallowedByPolicy", _m(r.PolicyForbiddenError, "PPR2 forbids deleting this profile",
                                     oh=Oh.RESULT_PROFILE_NON_DELETE)),
        127: ("undefinedError", _UNDEFINED),
    },
    "eUICCMemoryReset": {
        1: ("nothingToDelete", _m(r.NothingToDeleteError, "nothing matched the reset options")),
        5: ("catBusy", _CAT_BUSY),
        127: ("undefinedError", _UNDEFINED),
    },
    "setNickname": {
        1: ("iccidNotFound", _NOT_FOUND),
        127: ("undefinedError", _UNDEFINED),
    },
    "setDefaultDpAddress": {127: ("undefinedError", _UNDEFINED)},
    "loadCRL": {
        1: ("invalidSignature", _m(r.ServerRejectedByEuiccError, "the CRL signature does not verify",
                                   oh=Oh.RESULT_AUTHENTICATION_FAILED)),
        2: ("invalidCRLFormat", _m(e.Es10ResultError, "the CRL is malformed", oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
        3: ("notEnoughMemorySpace", _m(e.Es10ResultError, "no room for the CRL", oh=Oh.RESULT_OUT_OF_MEMORY,
                                       win=Win.InsufficientSpaceOnCard)),
        4: ("verificationKeyNotFound", _m(r.ServerRejectedByEuiccError, "the CRL issuer is not a trusted CI",
                                          oh=Oh.RESULT_CERTIFICATE_INVALID)),
        5: ("fresherCrlAlreadyLoaded", _m(e.Es10ResultError, "a fresher CRL is already loaded", oh=Oh.RESULT_SGP_22_OTHER,
                                          win=Win.Other)),
        6: ("baseCrlMissing", _m(e.Es10ResultError, "the delta CRL's base CRL is missing", oh=Oh.RESULT_SGP_22_OTHER,
                                 win=Win.Other)),
        127: ("undefinedError", _UNDEFINED),
    },
}

UNKNOWN_ES10_RESULT = _m(e.Es10ResultError, "the eUICC answered with a result code its function does not define",
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


def es10_mapping(function: str, result_code: int) -> tuple[str, str | None, Mapping[e.Es10ResultError]]:
    """(canonical function, result name, mapping); unknown functions or codes get the generic row."""
    canonical = es10_function(function) or function
    entry = ES10_RESULTS.get(canonical, {}).get(int(result_code))
    if entry is None:
        return canonical, None, UNKNOWN_ES10_RESULT
    return canonical, entry[0], entry[1]


def es10_error(function: str, result_name: str, result_code: int, *, bpp_command_id: str | None = None,
               **kwargs: Any) -> e.Es10ResultError:
    canonical, known_name, mapping = es10_mapping(function, result_code)
    name = known_name or result_name or f"unknown({result_code})"
    where = f" at {bpp_command_id}" if bpp_command_id else ""
    message = f"ES10 {canonical} failed{where}: {mapping.meaning} ({name}, {int(result_code)})"
    options: dict[str, Any] = dict(kind=f"es10.{canonical}.{name}", retryable=mapping.retryable, oh_result=mapping.oh,
                   win_status=mapping.win, function=canonical, result_name=name, result_code=int(result_code))
    if issubclass(mapping.error, r.ProfileInstallError):
        options["bpp_command_id"] = bpp_command_id
    options.update(kwargs)
    return mapping.error(message, **options)


# --- ES9+ ---------------------------------------------------------------------------------------

ES9_CODES: dict[tuple[str, str], Mapping[e.Es9FunctionError]] = {
    ("8.8.1", "3.8"): _m(r.SmdpAddressRefusedError, "the SM-DP+ is not the server named in the activation code"),
    ("8.8.2", "3.1"): _m(r.SmdpIncompatibleError, "the SM-DP+ supports none of the eUICC's CI public keys"),
    ("8.8.3", "3.1"): _m(r.SmdpIncompatibleError, "the SM-DP+ does not support the eUICC's specification version",
                         win=Win.Other),
    ("8.8.4", "3.7"): _m(r.SmdpIncompatibleError, "the SM-DP+ has no DPauth certificate for the eUICC's CI",
                         oh=Oh.RESULT_CERTIFICATE_INVALID),
    ("8.10.1", "3.9"): _m(r.TransactionUnknownError, "the SM-DP+ does not know this transactionId (a new session may "
                                                      "succeed; retrying the step cannot)"),
    ("8.8.5", "4.10"): _m(r.DownloadOrderExpiredError, "the download order has expired: the operator must issue a new one"),
    ("8.8.5", "6.4"): _m(r.DownloadOrderRetriesExceededError, "the download order has used up its attempts"),
    ("8.1", "6.1"): _m(r.EuiccRejectedBySmdpError, "the eUICC signature or server challenge is invalid",
                       oh=Oh.RESULT_AUTHENTICATION_FAILED),
    ("8.1.2", "6.1"): _m(r.EuiccRejectedBySmdpError, "the SM-DP+ refused the EUM certificate"),
    ("8.1.2", "6.3"): _m(r.EuiccRejectedBySmdpError, "the EUM certificate has expired"),
    ("8.1.3", "6.1"): _m(r.EuiccRejectedBySmdpError, "the SM-DP+ refused the eUICC certificate"),
    ("8.1.3", "6.3"): _m(r.EuiccRejectedBySmdpError, "the eUICC certificate has expired"),
    ("8.11.1", "3.9"): _m(r.EuiccRejectedBySmdpError, "the eUICC chains to a CI the SM-DP+ does not know"),
    ("8.1.1", "3.8"): _m(r.EidRefusedError, "the profile is reserved for another EID"),
    ("8.2.6", "3.8"): _m(r.MatchingIdRefusedError, "the SM-DP+ refused the matching ID"),
    ("8.2.5", "4.3"): _m(r.NoEligibleProfileError, "no profile on the SM-DP+ is eligible for this device"),
    ("8.2", "1.2"): _m(r.ProfileNotReleasedError, "the operator has not released the profile for download"),
    ("8.2", "3.7"): _m(r.ProfileNotAvailableError, "the profile package cannot be bound again (otPK mismatch)"),
    ("8.2.7", "2.2"): _m(r.ConfirmationCodeMissingError, "the profile needs a confirmation code"),
    ("8.2.7", "3.8"): _m(r.ConfirmationCodeIncorrectError, "the confirmation code is wrong"),
    ("8.2.7", "6.4"): _m(r.ConfirmationCodeRetriesExceededError, "too many wrong confirmation codes"),
    ("8.8", "3.10"): _m(r.SmdpRefusedError, "the SM-DP+ OID in the cancellation is not this server's",
                        oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other),
}

# The same code can mean a different stage of the download depending on the function.
ES9_FUNCTION_CODES: dict[tuple[str, str, str], Mapping[e.Es9FunctionError]] = {
    ("authenticateClient", "8.1", "6.1"): _m(
        r.EuiccRejectedBySmdpError, "the SM-DP+ could not authenticate the eUICC",
        oh=Oh.RESULT_ANALYZE_AUTHENTICATION_CLIENT_RESPONSE_FAILED),
    ("getBoundProfilePackage", "8.1", "6.1"): _m(
        r.EuiccRejectedBySmdpError, "the SM-DP+ refused euiccSignature2",
        oh=Oh.RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED),
}

# Codes not in the tables above, by SGP.22 reason-code family (first matching prefix wins).
ES9_REASON_FAMILIES: list[tuple[str, Mapping[e.Es9FunctionError]]] = [
    ("3.8", _m(r.SmdpRefusedError, "the SM-DP+ refused the request", oh=Oh.RESULT_CARRIER_SERVER_REFUSED_ERRORS,
               win=Win.Other)),
    ("1.", _m(r.SmdpRefusedError, "the SM-DP+ does not allow this request", oh=Oh.RESULT_SGP_22_OTHER,
              win=Win.NotAuthorized)),
    ("2.", _m(r.SmdpRefusedError, "the SM-DP+ found the request malformed or incomplete", oh=Oh.RESULT_SGP_22_OTHER,
              win=Win.Other)),
    ("3.", _m(r.SmdpRefusedError, "the SM-DP+ cannot serve this request in its current conditions",
              oh=Oh.RESULT_SGP_22_OTHER, win=Win.Other)),
    ("4.", _m(r.SmdpRefusedError, "the SM-DP+ failed while executing the request", oh=Oh.RESULT_SGP_22_OTHER,
              win=Win.ServerFailure, retryable=True)),
    ("5.", _m(r.SmdpRefusedError, "the SM-DP+ reports a transport failure behind it", oh=Oh.RESULT_SERVER_UNAVAILABLE,
              win=Win.ServerNotReachable, retryable=True)),
    ("6.", _m(r.SmdpRefusedError, "the SM-DP+ reports a security failure", oh=Oh.RESULT_AUTHENTICATION_FAILED,
              win=Win.NotAuthorized)),
    ("", _m(r.SmdpRefusedError, "the SM-DP+ reports a failure with an unknown reason code", oh=Oh.RESULT_SGP_22_OTHER,
            win=Win.ServerFailure)),
]

ES9_FUNCTIONS = ("initiateAuthentication", "authenticateClient", "getBoundProfilePackage", "handleNotification",
                 "cancelSession")
_ES9_ALIASES = {_key(name): name for name in ES9_FUNCTIONS}


def es9_mapping(function: str, subject: str, reason: str) -> tuple[str, Mapping[e.Es9FunctionError]]:
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
        es9_row = es9_mapping("", subject, reason)[1]
        return es9_row.oh, es9_row.win
    for error in _error_classes():
        if error.__dict__.get("kind") == kind:
            return error.oh_result, error.win_status
    return e.EsimError.oh_result, e.EsimError.win_status


def family_label(prefix: str) -> str:
    """How a reason-code family row is named in the outcomes table (``sgp22.outcomes``)."""
    if not prefix:
        return "any other code"
    return f"other subject, reason {prefix}x" if prefix.endswith(".") else f"other subject, reason {prefix}"
