"""The errors an ES10 result code or an ES9+ status code means, by meaning (a profile not found,
the card busy, a matching ID refused, ...): ``sgp22.taxonomy`` picks one per function and code.
Apart from ``sgp22.errors`` (the families every module raises) because only the taxonomy makes
them; callers catch them by class.
"""
from __future__ import annotations

from typing import Any

from sgp22.errors import Es10ResultError, Es9FunctionError
from sgp22.results import OhResultCode, WinStatus


# --- ES10 results, by meaning; ``sgp22.taxonomy`` picks the class and codes per function ------


class ProfileNotFoundError(Es10ResultError):
    win_status = WinStatus.ProfileNotPresent


class ProfileStateError(Es10ResultError):
    """The profile is not in the state the operation starts from (e.g. deleting an enabled one)."""


class PolicyForbiddenError(Es10ResultError):
    """A Profile Policy Rule (PPR1/PPR2) or the eUICC's policy forbids the operation."""

    oh_result = OhResultCode.RESULT_PPR_FORBIDDEN
    win_status = WinStatus.PolicyViolation


class CardBusyError(Es10ResultError):
    """catBusy: a proactive session or an RSP session holds the card; try again shortly."""

    retryable = True
    oh_result = OhResultCode.RESULT_CAT_BUSY
    win_status = WinStatus.CardBusy


class NothingToDeleteError(Es10ResultError):
    oh_result = OhResultCode.RESULT_NOTHING_TO_DELETE
    win_status = WinStatus.NotFound


class ServerRejectedByEuiccError(Es10ResultError):
    """The eUICC did not accept the SM-DP+'s certificate or signature."""

    oh_result = OhResultCode.RESULT_ANALYZE_AUTHENTICATION_SERVER_RESPONSE_FAILED
    win_status = WinStatus.ServerNotTrusted


class SessionContextError(Es10ResultError):
    """The eUICC holds no (or another) RSP session for this transaction; start a new download."""

    retryable = True
    oh_result = OhResultCode.RESULT_TRANSACTION_ID_INVALID
    win_status = WinStatus.NoCorrespondingRequest


class ProfileInstallError(Es10ResultError):
    """LoadBoundProfilePackage failed; ``bpp_command_id`` says at which BPP command."""

    win_status = WinStatus.ProfileProcessingError

    def __init__(self, message: str, *, bpp_command_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.bpp_command_id = bpp_command_id


class IccidAlreadyExistsError(ProfileInstallError):
    win_status = WinStatus.IccidAlreadyExists


class InsufficientMemoryError(ProfileInstallError):
    oh_result = OhResultCode.RESULT_OUT_OF_MEMORY
    win_status = WinStatus.InsufficientSpaceOnCard


class ProfileClassNotAllowedError(ProfileInstallError):
    oh_result = OhResultCode.RESULT_PROFILE_TYPE_ERROR_AUTHENTICATION_STOPPED
    win_status = WinStatus.OperationProhibitedByProfileClass


# --- ES9+ results, by meaning -------------------------------------------------------------------


class SmdpAddressRefusedError(Es9FunctionError):
    """The SM-DP+ says it is not the server the activation code names (8.8.1/3.8)."""

    oh_result = OhResultCode.RESULT_SMDP_ADDRESS_INCORRECT


class SmdpIncompatibleError(Es9FunctionError):
    """The SM-DP+ shares no CI or specification version with this eUICC (8.8.2, 8.8.3, 8.8.4)."""

    oh_result = OhResultCode.RESULT_EUICC_INFO_INVALID
    win_status = WinStatus.ServerNotTrusted


class TransactionUnknownError(Es9FunctionError):
    """The SM-DP+ no longer knows the session (8.10.1/3.9): no retry of the step can help, only a
    new session (the SM-DP+ restarted, or the session expired)."""

    oh_result = OhResultCode.RESULT_TRANSACTION_ID_INVALID
    win_status = WinStatus.NoCorrespondingRequest


class EuiccRejectedBySmdpError(Es9FunctionError):
    """The SM-DP+ did not accept the eUICC's signature or certificates (8.1, 8.1.2, 8.1.3, 8.11.1)."""

    oh_result = OhResultCode.RESULT_CERTIFICATE_INVALID
    win_status = WinStatus.NotAuthorized


class EidRefusedError(Es9FunctionError):
    oh_result = OhResultCode.RESULT_PROFILE_EID_INVALID
    win_status = WinStatus.EidMismatch


class MatchingIdRefusedError(Es9FunctionError):
    oh_result = OhResultCode.RESULT_ANALYZE_AUTHENTICATION_CLIENT_MATCHING_ID_REFUSED
    win_status = WinStatus.InvalidMatchingId


class NoEligibleProfileError(Es9FunctionError):
    oh_result = OhResultCode.RESULT_PROFILE_TYPE_ERROR_AUTHENTICATION_STOPPED
    win_status = WinStatus.NoEligibleProfileForThisDevice


class ProfileNotReleasedError(Es9FunctionError):
    oh_result = OhResultCode.RESULT_NO_PROFILE_ON_SERVER
    win_status = WinStatus.ProfileNotReleasedByOperator


class DownloadOrderExpiredError(Es9FunctionError):
    """The operator's download order has expired (8.8.5/4.10): only a new order helps."""

    oh_result = OhResultCode.RESULT_NO_PROFILE_ON_SERVER
    win_status = WinStatus.ProfileNotAvailableForNewBinding


class DownloadOrderRetriesExceededError(Es9FunctionError):
    """The download order has used up its attempts at the SM-DP+ (8.8.5/6.4)."""

    oh_result = OhResultCode.RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED
    win_status = WinStatus.ProfileDownloadMaxRetriesExceeded


class ProfileNotAvailableError(Es9FunctionError):
    """The profile is bound to another session or eUICC key and cannot be bound again (8.2/3.7)."""

    oh_result = OhResultCode.RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED
    win_status = WinStatus.ProfileNotAvailableForNewBinding


class ConfirmationCodeMissingError(Es9FunctionError):
    oh_result = OhResultCode.RESULT_SOLVABLE_ERRORS
    win_status = WinStatus.ConfirmationCodeMissing


class ConfirmationCodeIncorrectError(Es9FunctionError):
    oh_result = OhResultCode.RESULT_CONFIRMATION_CODE_INCORRECT
    win_status = WinStatus.IncorrectConfirmationCode


class ConfirmationCodeRetriesExceededError(Es9FunctionError):
    oh_result = OhResultCode.RESULT_EXCEEDED_CONFIRMATION_CODE_TRY_LIMIT
    win_status = WinStatus.ConfirmationCodeMaxRetriesExceeded


class SmdpRefusedError(Es9FunctionError):
    """Any other refusal or failure the SM-DP+ reports; codes come from the reason-code family."""

    win_status = WinStatus.ServerFailure
