"""The one result taxonomy: every ES10 result and ES9+ code maps to a typed error with both
outcome codes, and every OpenHarmony / Windows value is produced by something (or documented)."""
import json
import re
from pathlib import Path

import pytest

from sgp22 import errors, outcomes, result_errors, taxonomy
from sgp22.results import OhResultCode as Oh
from sgp22.results import WinStatus as Win

DOC = Path(__file__).resolve().parents[2] / "docs" / "outcomes.md"

# SGP.22 notes section 2: every ES10 result enumeration (ok excluded)
ES10_ENUMERATIONS = {
    "authenticateServer": {1: "invalidCertificate", 2: "invalidSignature", 3: "unsupportedCurve", 4: "noSessionContext",
                           5: "invalidOid", 6: "euiccChallengeMismatch", 7: "ciPKUnknown", 127: "undefinedError"},
    "prepareDownload": {1: "invalidCertificate", 2: "invalidSignature", 3: "unsupportedCurve", 4: "noSessionContext",
                        5: "invalidTransactionId", 127: "undefinedError"},
    "loadBoundProfilePackage": {code: None for code in (*range(1, 16), 127)},
    "cancelSession": {5: "invalidTransactionId", 127: "undefinedError"},
    "listNotification": {127: "undefinedError"},
    "retrieveNotificationsList": {1: "noResultAvailable", 127: "undefinedError"},
    "removeNotificationFromList": {1: "nothingToDelete", 127: "undefinedError"},
    "loadCRL": {1: "invalidSignature", 2: "invalidCRLFormat", 3: "notEnoughMemorySpace", 4: "verificationKeyNotFound",
                5: "fresherCrlAlreadyLoaded", 6: "baseCrlMissing", 127: "undefinedError"},
    "getProfilesInfo": {1: "incorrectInputValues", 127: "undefinedError"},
    "enableProfile": {1: "iccidOrAidNotFound", 2: "profileNotInDisabledState", 3: "disallowedByPolicy",
                      4: "wrongProfileReenabling", 5: "catBusy", 127: "undefinedError"},
    "disableProfile": {1: "iccidOrAidNotFound", 2: "profileNotInEnabledState", 3: "disallowedByPolicy", 5: "catBusy",
                       127: "undefinedError"},
    "deleteProfile": {1: "iccidOrAidNotFound", 2: "profileNotInDisabledState", 3: "disallowedByPolicy",
                      127: "undefinedError"},
    "eUICCMemoryReset": {1: "nothingToDelete", 5: "catBusy", 127: "undefinedError"},
    "setNickname": {1: "iccidNotFound", 127: "undefinedError"},
    "setDefaultDpAddress": {127: "undefinedError"},
}

NOTES = Path("/work/shared/reference/sgp22-notes.md")


def notes_es9_codes() -> list[str]:
    """Every subject/reason pair section 3 of the notes lists, with the reasons in parentheses
    (``8.2.7/2.2 (3.8, 6.4)`` is three pairs)."""
    text = NOTES.read_text()
    section = text[text.index("## 3. "):text.index("## 4. ")]
    pairs = []
    for subject, reason, more in re.findall(r"\b(\d+(?:\.\d+)+)/(\d+\.\d+)(?: \(([^)]*)\))?", section):
        for each in [reason, *re.findall(r"\b\d+\.\d+\b", more)]:
            pairs.append(f"{subject}/{each}")
    return list(dict.fromkeys(pairs))


# SGP.22 notes section 3: every subject/reason code in use, and what real servers add
ES9_CODES = [*notes_es9_codes(), "8.8.5/4.10", "8.8.5/6.4"]

OUTCOMES = outcomes.describe_outcomes()


def test_the_walk_covers_every_value_of_both_enums_once():
    assert [(r.enum, r.name) for r in OUTCOMES] == (
        [("OhResultCode", v.name) for v in Oh] + [("WinStatus", v.name) for v in Win]
    )


@pytest.mark.parametrize("row", OUTCOMES, ids=lambda r: f"{r.enum}.{r.name}")
def test_every_outcome_is_produced_by_a_failure_or_documented(row):
    """The table test: each value names its producers, and each producer really yields it."""
    assert bool(row.producers) != bool(row.reason), "a value needs producers or a reason, not both"
    for producer in row.producers:
        error = producer.make()
        assert isinstance(error, errors.EsimError) and type(error) is producer.error
        actual = error.oh_result if row.enum == "OhResultCode" else error.win_status
        assert actual.name == row.name, producer.trigger
        assert error.retryable is producer.retryable
        assert error.kind and json.dumps(error.to_dict())


def test_only_success_and_fetch_related_codes_have_no_producer():
    silent = {(r.enum, r.name) for r in OUTCOMES if not r.producers}
    assert silent == {("OhResultCode", "RESULT_OK"), ("WinStatus", "Success"),
                      ("OhResultCode", "RESULT_ACTIVATION_CODE_CHANGED"), ("OhResultCode", "RESULT_CERTIFICATE_IO_ERROR"),
                      ("OhResultCode", "RESULT_CERTIFICATE_RESPONSE_TIMEOUT")}


@pytest.mark.parametrize("function, code", [(f, c) for f, codes in ES10_ENUMERATIONS.items() for c in codes])
def test_every_es10_result_has_its_own_row(function, code):
    canonical, name, mapping = taxonomy.es10_mapping(function, code)
    assert name is not None, f"{function} {code} falls through to the generic row"
    expected_name = ES10_ENUMERATIONS[function][code]
    assert expected_name is None or name == expected_name
    error = taxonomy.es10_error(function, name, code)
    assert isinstance(error, errors.Es10ResultError)
    assert error.kind == f"es10.{function}.{name}"
    assert (error.function, error.result_name, error.result_code) == (function, name, code)
    assert (error.oh_result, error.win_status, error.retryable) == (mapping.oh, mapping.win, mapping.retryable)


def test_es10_enumerations_of_the_protocol_library_agree_with_the_tables():
    from sgp22 import es10_enums as enums

    per_function = {
        "enableProfile": enums.EnableResult, "disableProfile": enums.DisableResult, "deleteProfile": enums.DeleteResult,
        "eUICCMemoryReset": enums.MemoryResetResult, "setNickname": enums.SetNicknameResult,
        "setDefaultDpAddress": enums.SetDefaultDpAddressResult, "removeNotificationFromList": enums.NotificationSentResult,
        "getProfilesInfo": enums.ProfileInfoListError, "listNotification": enums.ListNotificationError,
        "retrieveNotificationsList": enums.RetrieveNotificationsListError,
        "authenticateServer": enums.AuthenticateErrorCode, "prepareDownload": enums.DownloadErrorCode,
        "cancelSession": enums.CancelSessionError, "loadBoundProfilePackage": enums.ErrorReason,
    }
    for function, enum_class in per_function.items():
        for member in enum_class:
            if member.value == 0:
                continue
            assert taxonomy.es10_mapping(function, member.value)[1] == member.name, (function, member)


def test_the_notes_list_the_codes_real_servers_send():
    assert len(ES9_CODES) == 22
    assert {"8.2.7/6.4", "8.1.2/6.3", "8.1.3/6.3", "8.8/3.10", "8.10.1/3.9"} <= set(ES9_CODES)


@pytest.mark.parametrize("code", ES9_CODES)
def test_every_es9_code_in_use_has_its_own_row(code):
    subject, reason = code.split("/")
    assert (subject, reason) in taxonomy.ES9_CODES
    error = taxonomy.es9_error("authenticateClient", subject, reason, "server says no")
    assert isinstance(error, errors.Es9FunctionError)
    assert error.kind == f"es9.{code}"
    assert (error.subject_code, error.reason_code, error.function) == (subject, reason, "authenticateClient")
    assert error.message.endswith(": server says no")


@pytest.mark.parametrize(
    "function, result, code, error_class, oh, win, retryable",
    [
        ("enableProfile", "iccidOrAidNotFound", 1, result_errors.ProfileNotFoundError, Oh.RESULT_SGP_22_OTHER, Win.ProfileNotPresent, False),
        ("disableProfile", "disallowedByPolicy", 3, result_errors.PolicyForbiddenError, Oh.RESULT_PPR_FORBIDDEN, Win.PolicyViolation, False),
        ("deleteProfile", "disallowedByPolicy", 3, result_errors.PolicyForbiddenError, Oh.RESULT_PROFILE_NON_DELETE, Win.PolicyViolation, False),
        ("deleteProfile", "profileNotInDisabledState", 2, result_errors.ProfileStateError, Oh.RESULT_MUST_DISABLE_PROFILE, Win.PolicyViolation, False),
        ("loadBoundProfilePackage", "installFailedDueToInsufficientMemoryForProfile", 10, result_errors.InsufficientMemoryError,
         Oh.RESULT_OUT_OF_MEMORY, Win.InsufficientSpaceOnCard, False),
        ("loadBoundProfilePackage", "installFailedDueToIccidAlreadyExistsOnEuicc", 9, result_errors.IccidAlreadyExistsError,
         Oh.RESULT_SGP_22_OTHER, Win.IccidAlreadyExists, False),
        ("enableProfile", "catBusy", 5, result_errors.CardBusyError, Oh.RESULT_CAT_BUSY, Win.CardBusy, True),
        ("eUICCMemoryReset", "catBusy", 5, result_errors.CardBusyError, Oh.RESULT_CAT_BUSY, Win.CardBusy, True),
        ("authenticateServer", "ciPKUnknown", 7, result_errors.ServerRejectedByEuiccError, Oh.RESULT_CERTIFICATE_INVALID, Win.ServerNotTrusted, False),
        ("prepareDownload", "invalidTransactionId", 5, result_errors.SessionContextError, Oh.RESULT_TRANSACTION_ID_INVALID,
         Win.NoCorrespondingRequest, True),
        ("removeNotificationFromList", "nothingToDelete", 1, result_errors.NothingToDeleteError, Oh.RESULT_NOTHING_TO_DELETE, Win.NotFound, False),
    ],
)
def test_es10_results_users_meet_most(function, result, code, error_class, oh, win, retryable):
    error = taxonomy.es10_error(function, result, code)
    assert (type(error), error.oh_result, error.win_status, error.retryable) == (error_class, oh, win, retryable)


@pytest.mark.parametrize(
    "function, subject, reason, error_class, oh, win",
    [
        ("authenticateClient", "8.2.6", "3.8", result_errors.MatchingIdRefusedError,
         Oh.RESULT_ANALYZE_AUTHENTICATION_CLIENT_MATCHING_ID_REFUSED, Win.InvalidMatchingId),
        ("authenticateClient", "8.2.7", "2.2", result_errors.ConfirmationCodeMissingError, Oh.RESULT_SOLVABLE_ERRORS, Win.ConfirmationCodeMissing),
        ("getBoundProfilePackage", "8.2.7", "3.8", result_errors.ConfirmationCodeIncorrectError,
         Oh.RESULT_CONFIRMATION_CODE_INCORRECT, Win.IncorrectConfirmationCode),
        ("getBoundProfilePackage", "8.2.7", "6.4", result_errors.ConfirmationCodeRetriesExceededError,
         Oh.RESULT_EXCEEDED_CONFIRMATION_CODE_TRY_LIMIT, Win.ConfirmationCodeMaxRetriesExceeded),
        ("authenticateClient", "8.1.1", "3.8", result_errors.EidRefusedError, Oh.RESULT_PROFILE_EID_INVALID, Win.EidMismatch),
        ("authenticateClient", "8.2", "1.2", result_errors.ProfileNotReleasedError, Oh.RESULT_NO_PROFILE_ON_SERVER,
         Win.ProfileNotReleasedByOperator),
        ("authenticateClient", "8.2.5", "4.3", result_errors.NoEligibleProfileError,
         Oh.RESULT_PROFILE_TYPE_ERROR_AUTHENTICATION_STOPPED, Win.NoEligibleProfileForThisDevice),
        ("initiateAuthentication", "8.8.1", "3.8", result_errors.SmdpAddressRefusedError, Oh.RESULT_SMDP_ADDRESS_INCORRECT, Win.Other),
        ("authenticateClient", "8.1", "6.1", result_errors.EuiccRejectedBySmdpError,
         Oh.RESULT_ANALYZE_AUTHENTICATION_CLIENT_RESPONSE_FAILED, Win.NotAuthorized),
        ("cancelSession", "8.1", "6.1", result_errors.EuiccRejectedBySmdpError, Oh.RESULT_AUTHENTICATION_FAILED, Win.NotAuthorized),
        ("authenticateClient", "8.8.5", "4.10", result_errors.DownloadOrderExpiredError, Oh.RESULT_NO_PROFILE_ON_SERVER,
         Win.ProfileNotAvailableForNewBinding),
        ("getBoundProfilePackage", "8.8.5", "4.10", result_errors.DownloadOrderExpiredError, Oh.RESULT_NO_PROFILE_ON_SERVER,
         Win.ProfileNotAvailableForNewBinding),
        ("authenticateClient", "8.8.5", "6.4", result_errors.DownloadOrderRetriesExceededError,
         Oh.RESULT_GET_BOUND_PROFILE_PACKAGE_FAILED, Win.ProfileDownloadMaxRetriesExceeded),
        ("getBoundProfilePackage", "8.10.1", "3.9", result_errors.TransactionUnknownError, Oh.RESULT_TRANSACTION_ID_INVALID,
         Win.NoCorrespondingRequest),
    ],
)
def test_es9_codes_users_meet_most(function, subject, reason, error_class, oh, win):
    error = taxonomy.es9_error(function, subject, reason)
    assert (type(error), error.oh_result, error.win_status) == (error_class, oh, win)


@pytest.mark.parametrize("code", ["8.8.5/4.10", "8.8.5/6.4", "8.10.1/3.9"])
def test_what_no_retry_of_the_step_can_cure_is_not_retryable(code):
    """An expired or exhausted order, or a session the SM-DP+ forgot: retrying the same call
    only burns time (the workflow starts a new session for 8.10.1/3.9, once)."""
    assert not taxonomy.es9_error("getBoundProfilePackage", *code.split("/")).retryable


@pytest.mark.parametrize(
    "reason, oh, win, retryable",
    [
        ("3.8", Oh.RESULT_CARRIER_SERVER_REFUSED_ERRORS, Win.Other, False),
        ("1.2", Oh.RESULT_SGP_22_OTHER, Win.NotAuthorized, False),
        ("2.1", Oh.RESULT_SGP_22_OTHER, Win.Other, False),
        ("3.3", Oh.RESULT_SGP_22_OTHER, Win.Other, False),
        ("4.2", Oh.RESULT_SGP_22_OTHER, Win.ServerFailure, True),
        ("5.1", Oh.RESULT_SERVER_UNAVAILABLE, Win.ServerNotReachable, True),
        ("6.2", Oh.RESULT_AUTHENTICATION_FAILED, Win.NotAuthorized, False),
        ("garbage", Oh.RESULT_SGP_22_OTHER, Win.ServerFailure, False),
        ("", Oh.RESULT_SGP_22_OTHER, Win.ServerFailure, False),
    ],
)
def test_unlisted_es9_codes_fall_back_by_reason_family(reason, oh, win, retryable):
    error = taxonomy.es9_error("getBoundProfilePackage", "8.9.9", reason)
    assert isinstance(error, result_errors.SmdpRefusedError)
    assert (error.oh_result, error.win_status, error.retryable) == (oh, win, retryable)


def test_function_spellings_are_recognised():
    for spelling in ("EnableProfile", "enable_profile", "ENABLEPROFILE"):
        assert taxonomy.es10_error(spelling, "catBusy", 5).function == "enableProfile"
    assert taxonomy.es10_error("RemoveNotification", "x", 1).result_name == "nothingToDelete"
    assert taxonomy.es10_error("MemoryReset", "x", 1).function == "eUICCMemoryReset"
    assert taxonomy.es9_error("AuthenticateClient", "8.1", "6.1").oh_result is Oh.RESULT_ANALYZE_AUTHENTICATION_CLIENT_RESPONSE_FAILED


def test_unknown_es10_result_code_is_a_card_failure_not_a_crash():
    error = taxonomy.es10_error("enableProfile", "unknown(42)", 42)
    assert type(error) is errors.Es10ResultError
    assert error.kind == "es10.enableProfile.unknown(42)" and error.win_status is Win.CardGeneralFailure
    odd = taxonomy.es10_error("someFutureFunction", "whatever", 3)
    assert odd.function == "someFutureFunction" and odd.oh_result is Oh.RESULT_SGP_22_OTHER


def test_install_error_keeps_the_failing_bpp_command():
    error = taxonomy.es10_error("loadBoundProfilePackage", "scp03tSecurityError", 8, bpp_command_id="loadProfileElements")
    assert isinstance(error, result_errors.ProfileInstallError) and error.bpp_command_id == "loadProfileElements"
    assert "at loadProfileElements" in error.message


def test_server_message_is_one_short_line():
    error = taxonomy.es9_error("authenticateClient", "8.2.6", "3.8", "line one\nline two\x07 " + "x" * 500)
    assert "\n" not in error.message and "\x07" not in error.message
    assert len(error.message) < 300 and error.message.endswith("…")


def test_protocol_library_raises_the_taxonomy_errors():
    """``sgp22.es10_base`` routes every non-ok result through the taxonomy."""
    from sgp22 import es10_base
    from sgp22.es10_enums import EnableResult

    with pytest.raises(result_errors.CardBusyError) as info:
        es10_base.check_result("enableProfile", EnableResult, 5)
    assert info.value.kind == "es10.enableProfile.catBusy" and info.value.retryable


def test_every_error_class_is_reachable_from_the_walk():
    produced = {p.error for row in OUTCOMES for p in row.producers}
    defined = {obj for obj in vars(errors).values()
               if isinstance(obj, type) and issubclass(obj, errors.EsimError) and obj.__module__ == "sgp22.errors"}
    families = {errors.EsimError, errors.CertificateError, errors.Es9FunctionError}
    assert defined - produced == families


def test_engine_outcomes_have_their_own_errors():
    assert errors.ConsentTimeoutError("t").win_status is Win.TimeoutWaitingForUserConsent
    assert errors.UserCancelledError("c").oh_result is Oh.RESULT_USER_CANCEL_DOWNLOAD
    assert errors.UserCancelledError("c").win_status is Win.OperationAborted
    assert errors.MustDisableProfileError("m").oh_result is Oh.RESULT_MUST_DISABLE_PROFILE
    assert errors.DownloadRetriesExceededError("d").win_status is Win.ProfileDownloadMaxRetriesExceeded


def test_committed_outcomes_doc_matches_the_tables():
    assert DOC.read_text() == outcomes.render_markdown(), "regenerate: python -m sgp22.outcomes > docs/outcomes.md"


def test_a_recorded_error_kind_gives_back_both_outcome_codes():
    """A status record keeps the error's kind; its codes are found again from the kind alone,
    the same as the error raised for it carried."""
    raised = taxonomy.es10_error("loadBoundProfilePackage", "invalidSignature", 2)
    assert taxonomy.result_codes(raised.kind) == (raised.oh_result, raised.win_status)
    refused = taxonomy.es9_error("authenticateClient", "8.2.6", "3.8")
    assert taxonomy.result_codes(refused.kind) == (refused.oh_result, refused.win_status)
    assert taxonomy.result_codes(errors.CardRemovedError.kind) == (errors.CardRemovedError.oh_result,
                                                                    errors.CardRemovedError.win_status)
    assert taxonomy.result_codes("no.such.kind") == (Oh.RESULT_SGP_22_OTHER, Win.Other)
