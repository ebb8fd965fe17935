"""One RSP download session, from the first ES9+ call to the delivered install notification.
Which CancelSessionReason each phase allows is `sgp22.cancel_reasons` (the one table the plain
LPA and the workflows also use); this machine enforces it.

A confirmation code demanded by the activation code or by smdpSigned2 (``review_metadata(
cc_required=True)``) must be asked for before PrepareDownload: ``prepare`` refuses otherwise.
"""
from __future__ import annotations

from typing import Any, ClassVar

from transitions.core import EventData

from esimflow.machines.base import Change, IllegalTransition, StateModel, TransitionSpec, guard
from sgp22.cancel_reasons import LEGAL_CANCEL_REASONS, SESSION_HELD, Phase, legal_cancel_reasons
from sgp22.es10_enums import CancelSessionReason

__all__ = ["LEGAL_CANCEL_REASONS", "CancelSessionReason", "DownloadSession", "Phase", "legal_cancel_reasons"]

P = Phase
R = CancelSessionReason
STATES = list(Phase)
FINAL = [P.NOTIFIED, P.CANCELLED, P.FAILED]

TRANSITIONS: list[TransitionSpec] = [
    {"trigger": "authenticate", "source": P.IDLE, "dest": P.AUTHENTICATED},
    {"trigger": "review_metadata", "source": P.AUTHENTICATED, "dest": P.METADATA_REVIEWED,
     "before": "note_confirmation_code_requirement"},
    {"trigger": "ask_consent", "source": P.METADATA_REVIEWED, "dest": P.AWAITING_CONSENT},
    {"trigger": "ask_confirmation_code", "source": [P.METADATA_REVIEWED, P.AWAITING_CONSENT],
     "dest": P.AWAITING_CONFIRMATION_CODE},
    {"trigger": "prepare", "source": [P.METADATA_REVIEWED, P.AWAITING_CONSENT], "dest": P.PREPARED,
     "conditions": ["confirmation_code_not_required"]},
    {"trigger": "prepare", "source": P.AWAITING_CONFIRMATION_CODE, "dest": P.PREPARED},
    {"trigger": "receive_package", "source": P.PREPARED, "dest": P.PACKAGE_RECEIVED},
    {"trigger": "load", "source": P.PACKAGE_RECEIVED, "dest": P.INSTALLING},
    {"trigger": "finish_install", "source": P.INSTALLING, "dest": P.INSTALLED},
    {"trigger": "notify", "source": P.INSTALLED, "dest": P.NOTIFIED},
    {"trigger": "cancel", "source": SESSION_HELD, "dest": P.CANCELLED, "conditions": ["reason_is_legal_here"]},
    {"trigger": "fail", "source": [P.IDLE, *SESSION_HELD], "dest": P.FAILED},
]


def _reason_refusal(state: str, reason: Any) -> str:
    legal = ", ".join(f"{r.name} ({int(r)})" for r in sorted(legal_cancel_reasons(state)))
    try:
        shown = f"{CancelSessionReason(int(reason)).name} ({int(reason)})"
    except (TypeError, ValueError):
        shown = repr(reason)
    return f"reason {shown} is not legal in {state} (legal here: {legal})"


def _illegal_reason(model: DownloadSession, event: EventData) -> str:
    return _reason_refusal(model.state, event.kwargs.get("reason"))


class DownloadSession(StateModel, label="DownloadSession", states=STATES, transitions=TRANSITIONS,
                      initial=P.IDLE, final=FINAL):
    """The phases of one profile download and the cancel reasons each allows."""

    strict_cancel_reasons: ClassVar[bool] = False
    """Whether :meth:`cancel_reason` raises for a reason this phase does not allow (the test
    suite sets it, tests/conftest.py) instead of replacing it with undefinedReason."""

    def __init__(self, transaction_id: str | None = None, *, state: Phase | str = P.IDLE,
                 cc_required: bool = False) -> None:
        super().__init__(state)
        self.subject = transaction_id
        self.cc_required = cc_required

    @property
    def phase(self) -> Phase:
        return Phase(self.state)

    @property
    def holds_session(self) -> bool:
        """Whether the eUICC holds an RSP session that must be cancelled if the download stops."""
        return bool(LEGAL_CANCEL_REASONS[self.phase])

    def cancel_reason(self, wanted: CancelSessionReason | int) -> CancelSessionReason | None:
        """The reason to cancel with: ``wanted`` if this phase allows it; None when no session is
        held (nothing to cancel).

        Any other reason is the caller's bug. With ``strict_cancel_reasons`` (the tests) it raises
        IllegalTransition, so the bug is found. In service the eUICC's session must still be
        released, so undefinedReason (legal wherever a session is held) is answered instead; the
        caller records the replacement (``rsp.cancel_session`` logs it and reports the reason it
        was asked for in the cancel outcome), so it is never silent.
        """
        legal = LEGAL_CANCEL_REASONS[self.phase]
        if not legal:
            return None
        reason = CancelSessionReason(int(wanted))
        if reason in legal:
            return reason
        if type(self).strict_cancel_reasons:
            raise IllegalTransition(
                f"{self.machine.label}: cannot cancel from {self.state}: "
                f"{_reason_refusal(self.state, reason)}",
                machine=self.machine.label, trigger="cancel", state=self.state, guard="reason_is_legal_here",
                kind="machine.download_session.illegal_cancel_reason")
        return CancelSessionReason.undefinedReason

    def cancel(self, reason: CancelSessionReason | int) -> Change:
        """Cancel with ``reason``; raises IllegalTransition if this phase does not allow it.
        The Change names the reason (``timeout``), as the history shows it."""
        try:
            reason = CancelSessionReason(int(reason))
        except (TypeError, ValueError):
            pass  # reason_is_legal_here refuses it with a message naming the bad value
        return self.fire("cancel", reason=reason)

    def note_confirmation_code_requirement(self, event: EventData) -> None:
        if "cc_required" in event.kwargs:
            self.cc_required = bool(event.kwargs["cc_required"])

    @guard("a confirmation code is required: ask for it before PrepareDownload",
           kind="machine.download_session.confirmation_code_missing",
           oh_result_name="RESULT_SOLVABLE_ERRORS", win_status_name="ConfirmationCodeMissing")
    def confirmation_code_not_required(self, event: EventData) -> bool:
        """PrepareDownload without a confirmation code only when none is required."""
        return not self.cc_required

    @guard(_illegal_reason, kind="machine.download_session.illegal_cancel_reason")
    def reason_is_legal_here(self, event: EventData) -> bool:
        """Each phase allows only the CancelSessionReason values SGP.22 gives it."""
        reason: Any = event.kwargs.get("reason")
        try:
            return CancelSessionReason(int(reason)) in LEGAL_CANCEL_REASONS[self.phase]
        except (TypeError, ValueError):
            return False

    @classmethod
    def edge_label(cls, trigger: str, transition: Any) -> str:
        if trigger == "cancel":
            reasons = sorted(LEGAL_CANCEL_REASONS[Phase(transition.source)])
            return f"cancel({', '.join(reason.name for reason in reasons)})"
        return super().edge_label(trigger, transition)

    @classmethod
    def diagram_notes(cls) -> str:
        rows = [f"| {phase} | {', '.join(f'{r.name} ({int(r)})' for r in sorted(reasons)) or '- (no session held)'} |"
                for phase, reasons in LEGAL_CANCEL_REASONS.items()]
        return "\n".join(["## Legal CancelSessionReason per phase", "", "| phase | reasons |", "| --- | --- |", *rows])
