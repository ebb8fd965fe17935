"""The user's answers to a running operation (consent, a confirmation code, a decline) and the
entity's forwarded CancelSession, on whichever workflow runs it: the operation's own workflow,
or a holder (DeviceMigration) running it under a hold. One set of handlers, delegated to the
running operation's :class:`UserPrompts`; names are those clients already use."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import (
        UPDATE_DECLINE,
        UPDATE_GIVE_CONSENT,
        UPDATE_PROVIDE_CONFIRMATION_CODE,
        CancelSessionInput,
        ConfirmationCodeInput,
        ConsentInput,
        DeclineInput,
        Progress,
    )
    from esimflow.workflows.operations.context import UserPrompts

SIGNAL_CANCEL_SESSION = "cancel_session"


class UserUpdates:
    """Mixin of a workflow that runs operations which may ask the user."""

    def running_prompts(self) -> UserPrompts | None:
        """The prompts of the operation running now (None: nothing here can be asked)."""
        raise NotImplementedError

    def _asked(self) -> UserPrompts:
        prompts = self.running_prompts()
        if prompts is None:
            raise ValueError(self.nothing_asked())
        return prompts

    def nothing_asked(self) -> str:
        return "no operation here is waiting for the user"

    @workflow.update(name=UPDATE_PROVIDE_CONFIRMATION_CODE)
    async def provide_confirmation_code(self, answer: ConfirmationCodeInput) -> Progress:
        return self._asked().give_confirmation_code(answer)

    @provide_confirmation_code.validator
    def _validate_code(self, answer: ConfirmationCodeInput) -> None:
        self._asked().check_confirmation_code(answer)

    @workflow.update(name=UPDATE_GIVE_CONSENT)
    async def give_consent(self, answer: ConsentInput) -> Progress:
        return self._asked().give_consent(answer)

    @give_consent.validator
    def _validate_consent(self, answer: ConsentInput) -> None:
        self._asked().check_consent(answer)

    @workflow.update(name=UPDATE_DECLINE)
    async def decline(self, answer: DeclineInput) -> Progress:
        return self._asked().decline(answer)

    @decline.validator
    def _validate_decline(self, answer: DeclineInput) -> None:
        self._asked().check_decline(answer)

    @workflow.signal(name=SIGNAL_CANCEL_SESSION)
    def cancel_session_requested(self, request: CancelSessionInput) -> None:
        prompts = self.running_prompts()
        if prompts is not None:
            prompts.request_cancel(request)
