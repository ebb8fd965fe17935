"""Which CancelSessionReason a download session may carry in each phase, and which one each way
of stopping a download sends (reference notes, section 8). The one table for the plain LPA
(`sgp22.lpa`), the engine's workflows and the DownloadSession machine; pure vocabulary (no I/O,
no codec), so the machines may import it.

The eUICC holds a session from a successful AuthenticateServer until the PIR; CancelSession is
accepted only then. Within it:
- endUserRejection, postponed, timeout and pprNotAllowed answer the metadata of
  authenticateClient: while it is reviewed, or while waiting for consent or a confirmation code;
- metadataMismatch follows getBoundProfilePackage, when the readable StoreMetadata differs from
  the metadata reviewed earlier;
- loadBppExecutionError is for a LoadBoundProfilePackage that broke off before a PIR;
- undefinedReason is legal anywhere the session is held.
"""
from __future__ import annotations

from enum import StrEnum

from sgp22.es10_enums import CancelSessionReason


class Phase(StrEnum):
    """Where a download session stands, from the first ES9+ call to the delivered PIR."""

    IDLE = "idle"
    AUTHENTICATED = "authenticated"  # AuthenticateServer done: the eUICC holds the session
    METADATA_REVIEWED = "metadata_reviewed"  # authenticateClient returned profileMetadata
    AWAITING_CONSENT = "awaiting_consent"
    AWAITING_CONFIRMATION_CODE = "awaiting_confirmation_code"
    PREPARED = "prepared"  # PrepareDownload done
    PACKAGE_RECEIVED = "package_received"  # getBoundProfilePackage done
    INSTALLING = "installing"  # LoadBoundProfilePackage under way
    INSTALLED = "installed"  # PIR (success) received from the eUICC
    NOTIFIED = "notified"  # PIR delivered to the SM-DP+
    CANCELLED = "cancelled"
    FAILED = "failed"


P = Phase
R = CancelSessionReason

_ANSWERS_TO_METADATA = frozenset({R.endUserRejection, R.postponed, R.timeout, R.pprNotAllowed, R.undefinedReason})

LEGAL_CANCEL_REASONS: dict[Phase, frozenset[CancelSessionReason]] = {
    P.IDLE: frozenset(),
    P.AUTHENTICATED: frozenset({R.undefinedReason}),
    P.METADATA_REVIEWED: _ANSWERS_TO_METADATA,
    P.AWAITING_CONSENT: _ANSWERS_TO_METADATA,
    P.AWAITING_CONFIRMATION_CODE: _ANSWERS_TO_METADATA,
    P.PREPARED: frozenset({R.undefinedReason}),
    P.PACKAGE_RECEIVED: frozenset({R.metadataMismatch, R.undefinedReason}),
    P.INSTALLING: frozenset({R.loadBppExecutionError, R.undefinedReason}),
    P.INSTALLED: frozenset(),
    P.NOTIFIED: frozenset(),
    P.CANCELLED: frozenset(),
    P.FAILED: frozenset(),
}

SESSION_HELD = [phase for phase, reasons in LEGAL_CANCEL_REASONS.items() if reasons]


def legal_cancel_reasons(phase: Phase | str) -> frozenset[CancelSessionReason]:
    """The reasons CancelSession may carry in ``phase`` (empty: no session to cancel)."""
    return LEGAL_CANCEL_REASONS[Phase(phase)]


class Stop(StrEnum):
    """Why a download stops while the eUICC holds its session."""

    PROFILE_ALREADY_ON_CARD = "profile_already_on_card"  # the offered ICCID is installed already
    USER_DECLINED = "user_declined"
    NO_ANSWER_IN_TIME = "no_answer_in_time"  # no consent or confirmation code before the timeout
    CONFIRMATION_CODE_MISSING = "confirmation_code_missing"  # required, and nobody can give it now
    POLICY_RULES_NOT_ALLOWED = "policy_rules_not_allowed"  # the eUICC's RAT refuses the profile's PPRs
    POLICY_RULES_DECLINED = "policy_rules_declined"  # the PPRs need consent that was not given
    METADATA_MISMATCH = "metadata_mismatch"  # the BPP installs other metadata than was reviewed
    INSTALL_BROKE_OFF = "install_broke_off"  # LoadBoundProfilePackage ended without a PIR
    PREVIEW_DONE = "preview_done"  # only the metadata was wanted (GetDownloadableProfileMetadata)
    EVENTS_RETRIEVED = "events_retrieved"  # an SM-DS answered with events, and never ends the session
    OPERATOR_SKIPPED = "operator_skipped"  # the operation was cancelled from outside
    STEP_FAILED = "step_failed"  # any other failure


CANCEL_REASON_FOR_STOP: dict[Stop, CancelSessionReason] = {
    Stop.PROFILE_ALREADY_ON_CARD: R.endUserRejection,
    Stop.USER_DECLINED: R.endUserRejection,
    Stop.NO_ANSWER_IN_TIME: R.timeout,
    Stop.CONFIRMATION_CODE_MISSING: R.postponed,
    Stop.POLICY_RULES_NOT_ALLOWED: R.pprNotAllowed,
    Stop.POLICY_RULES_DECLINED: R.pprNotAllowed,
    Stop.METADATA_MISMATCH: R.metadataMismatch,
    Stop.INSTALL_BROKE_OFF: R.loadBppExecutionError,
    Stop.PREVIEW_DONE: R.postponed,
    Stop.EVENTS_RETRIEVED: R.undefinedReason,  # no metadata was shown: only undefinedReason is legal
    Stop.OPERATOR_SKIPPED: R.postponed,
    Stop.STEP_FAILED: R.undefinedReason,
}


def cancel_reason(stop: Stop) -> CancelSessionReason:
    """The CancelSessionReason that tells the SM-DP+ why the download stopped."""
    return CANCEL_REASON_FOR_STOP[stop]


USER_DECLINE_REASONS = frozenset({R.endUserRejection, R.postponed, R.pprNotAllowed})
"""The reasons a user may give when declining an offered profile."""
