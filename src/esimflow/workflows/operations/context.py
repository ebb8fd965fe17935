"""The explicit context an operation body runs in, whichever workflow runs it.

An operation (download, switch, delete, ...) is a plain ``async def body(ctx, request)``. Its
own ``@workflow.defn`` class gives it an :class:`OperationContext` and the progress query, the
skip signal and (for RSP sessions) the user's updates; a holder such as DeviceMigration gives it
one sharing the holder's :class:`RunContext` and routes the same updates to it. The body sees
only the context: the card it works on, the progress it reports, the status recorder and the
questions it may put to the user.
"""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import CancelSessionInput, ConfirmationCodeInput, ConsentInput, DeclineInput, Progress
    from esimflow.machines import Status
    from sgp22.cancel_reasons import USER_DECLINE_REASONS, Stop, cancel_reason
    from sgp22.es10_enums import CancelSessionReason
    from esimflow.workflows.operations.records import record_status
    from esimflow.workflows.steps import Card, RunContext, card_of

R = CancelSessionReason


class UserPrompts:
    """The questions an operation puts to its user (consent, a confirmation code) and the user's
    answers, including a decline and a cancel of the session forwarded by the entity. The
    ``check_*`` methods are the update validators: they refuse an answer nobody asked for."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self.confirmation_code: str | None = None
        self.consent: ConsentInput | None = None
        self.declined: int | None = None
        self.cancel_requested: int | None = None
        self._waiting_for: str | None = None

    def check_confirmation_code(self, answer: ConfirmationCodeInput) -> None:
        if self._progress.awaiting != "confirmation_code" or self.confirmation_code is not None:
            raise ValueError("this download is not waiting for a confirmation code")
        if not answer.code:
            raise ValueError("the confirmation code is empty")

    def give_confirmation_code(self, answer: ConfirmationCodeInput) -> Progress:
        self.confirmation_code = answer.code
        return self._answered_with("confirmation code received")

    def check_consent(self, answer: ConsentInput) -> None:
        if self._progress.awaiting != "consent" or self.consent is not None:
            raise ValueError("this download is not waiting for consent")

    def give_consent(self, answer: ConsentInput) -> Progress:
        self.consent = answer
        return self._answered_with("consent received")

    def check_decline(self, answer: DeclineInput) -> None:
        if self._progress.awaiting is None:
            raise ValueError("this download is not waiting for the user")
        if answer.reason not in USER_DECLINE_REASONS:
            raise ValueError("a user declines with endUserRejection, postponed or pprNotAllowed")

    def decline(self, answer: DeclineInput) -> Progress:
        self.declined = answer.reason
        return self._answered_with("declined")

    def request_cancel(self, request: CancelSessionInput) -> None:
        """A CancelSession for this operation's session (others are not ours to end)."""
        if request.transaction_id == self._progress.transaction_id:
            self.cancel_requested = request.reason

    def _answered_with(self, phase: str) -> Progress:
        """The progress as the answer leaves it (the wait ends at the workflow's next step)."""
        self._progress.awaiting = None
        self._progress.phase = phase
        self._progress.detail = ""
        return self._progress

    def _answered(self) -> bool:
        return (self.declined is not None or self.cancel_requested is not None
                or (self._waiting_for == "consent" and self.consent is not None)
                or (self._waiting_for == "confirmation_code" and self.confirmation_code is not None))

    async def ask(self, awaiting: str, timeout_seconds: float) -> str:
        """Wait for an answer: ``answered``, ``declined`` or ``timeout``."""
        self._progress.awaiting = self._waiting_for = awaiting
        self._progress.phase = f"awaiting {awaiting.replace('_', ' ')}"
        self._progress.detail = ""
        try:
            await workflow.wait_condition(self._answered, timeout=timedelta(seconds=timeout_seconds))
        except TimeoutError:
            return "timeout"
        finally:
            self._progress.awaiting = self._waiting_for = None
        if self.declined is not None or self.cancel_requested is not None:
            return "declined"
        return "answered"

    def user_reason(self) -> CancelSessionReason:
        reason = self.declined if self.declined is not None else self.cancel_requested
        return R(int(reason)) if reason is not None else cancel_reason(Stop.USER_DECLINED)


class OperationContext:
    """Everything an operation body may use besides its request: ``run`` (the card a holder was
    granted and the statuses recorded in this workflow), ``progress``, ``prompts`` and the
    operator's ``skip_reason``."""

    def __init__(self, operation: str, run: RunContext | None = None) -> None:
        self.operation = operation
        self.run = run if run is not None else RunContext()
        self.progress = Progress(operation=operation, phase="starting")
        self.prompts = UserPrompts(self.progress)
        self.skip_reason: str | None = None

    def phase(self, phase: str, detail: str = "") -> None:
        self.progress.phase = phase
        self.progress.detail = detail

    def on_transaction(self, transaction_id: str) -> None:
        """The RSP session's transaction ID, shown in the progress (and matched by a cancel)."""
        self.progress.transaction_id = transaction_id

    async def card(self, eid: str) -> Card:
        return await card_of(self.run, eid)

    async def record_status(self, card: Card, iccid: str, trigger: str, *, fallback: Status,
                            error_reason: str | None = None) -> None:
        """The profile's platform status moved by ``trigger``, recorded as this operation's."""
        await record_status(card, iccid, self.operation, trigger, fallback=fallback, error_reason=error_reason)
