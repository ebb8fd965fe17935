"""The two outcome vocabularies users asked for: OpenHarmony ``ResultCode`` and Windows
``ESimOperationStatus``. Every esimflow operation ends with one value of each."""
from enum import IntEnum


class OhResultCode(IntEnum):
    """OpenHarmony ``@ohos.telephony.esim`` ResultCode (API 18)."""

    RESULT_SOLVABLE_ERRORS = -2
    RESULT_MUST_DISABLE_PROFILE = -1
    RESULT_OK = 0
    RESULT_GET_EID_FAILED = 201
    RESULT_ACTIVATION_CODE_CHANGED = 203
    RESULT_ACTIVATION_CODE_INVALID = 204
    RESULT_SMDP_ADDRESS_INVALID = 205
    RESULT_EUICC_INFO_INVALID = 206
    RESULT_TLS_HANDSHAKE_FAILED = 207
    RESULT_CERTIFICATE_IO_ERROR = 208
    RESULT_CERTIFICATE_RESPONSE_TIMEOUT = 209
    RESULT_AUTHENTICATION_FAILED = 210
    RESULT_RESPONSE_HTTP_FAILED = 211
    RESULT_CONFIRMATION_CODE_INCORRECT = 212
    RESULT_EXCEEDED_CONFIRMATION_CODE_TRY_LIMIT = 213
    RESULT_NO_PROFILE_ON_SERVER = 214
    RESULT_TRANSACTION_ID_INVALID = 215
    RESULT_SERVER_ADDRESS_INVALID = 216
    RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED = 217
    RESULT_USER_CANCEL_DOWNLOAD = 218
    RESULT_SERVER_UNAVAILABLE = 220
    RESULT_PROFILE_NON_DELETE = 223
    RESULT_SMDP_ADDRESS_INCORRECT = 226
    RESULT_ANALYZE_AUTHENTICATION_SERVER_RESPONSE_FAILED = 228
    RESULT_ANALYZE_AUTHENTICATION_CLIENT_RESPONSE_FAILED = 229
    RESULT_ANALYZE_AUTHENTICATION_CLIENT_MATCHING_ID_REFUSED = 231
    RESULT_PROFILE_TYPE_ERROR_AUTHENTICATION_STOPPED = 233
    RESULT_CARRIER_SERVER_REFUSED_ERRORS = 249
    RESULT_CERTIFICATE_INVALID = 251
    RESULT_OUT_OF_MEMORY = 263
    RESULT_PPR_FORBIDDEN = 268
    RESULT_NOTHING_TO_DELETE = 270
    RESULT_PPR_NOT_MATCH = 276
    RESULT_CAT_BUSY = 283
    RESULT_PROFILE_EID_INVALID = 284
    RESULT_DOWNLOAD_TIMEOUT = 287
    RESULT_SGP_22_OTHER = 400


class WinStatus(IntEnum):
    """Windows ``Windows.Networking.NetworkOperators.ESimOperationStatus``."""

    Success = 0
    NotAuthorized = 1
    NotFound = 2
    PolicyViolation = 3
    InsufficientSpaceOnCard = 4
    ServerFailure = 5
    ServerNotReachable = 6
    TimeoutWaitingForUserConsent = 7
    IncorrectConfirmationCode = 8
    ConfirmationCodeMaxRetriesExceeded = 9
    CardRemoved = 10
    CardBusy = 11
    Other = 12
    CardGeneralFailure = 13
    ConfirmationCodeMissing = 14
    InvalidMatchingId = 15
    NoEligibleProfileForThisDevice = 16
    OperationAborted = 17
    EidMismatch = 18
    ProfileNotAvailableForNewBinding = 19
    ProfileNotReleasedByOperator = 20
    OperationProhibitedByProfileClass = 21
    ProfileNotPresent = 22
    NoCorrespondingRequest = 23
    TimeoutWaitingForResponse = 24
    IccidAlreadyExists = 25
    ProfileProcessingError = 26
    ServerNotTrusted = 27
    ProfileDownloadMaxRetriesExceeded = 28
