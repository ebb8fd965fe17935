"""Answering what a running download asks: a confirmation code, or consent to the profile and
its policy rules.

On a terminal the user is asked (the code without echo). Elsewhere nobody can answer, so the
session is cancelled at once with the reason that fits, instead of holding the eUICC's RSP
session until the workflow's consent timer runs out.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import click

from esimflow.client import OperationHandle
from esimflow.contract import CancelReason, PolicyRules, ProfileClass, Progress

from esimcli.render import policy_names, value_label
from esimcli.secrets import Redactor

Answer = Callable[[OperationHandle], Awaitable[Any]]

CONFIRMATION_CODE_ENV = "ESIMFLOW_CONFIRMATION_CODE"


class Responder:
    """``confirmation_code`` and ``accept_policy_rules``: answers given in advance (a code
    from the environment, consent from a flag), sent when the question comes."""

    def __init__(self, *, interactive: bool, redactor: Redactor, confirmation_code: str | None = None,
                 accept_policy_rules: bool = False) -> None:
        self._interactive = interactive
        self._redactor = redactor
        self._code = confirmation_code
        self._accept_policy_rules = accept_policy_rules
        redactor.add(confirmation_code)
        self._answered: set[tuple[str, int]] = set()
        self.hint: str | None = None  # why a question was declined, for the final report

    def answer(self, progress: Progress) -> Answer | None:
        """The reply to what ``progress`` waits for, asked at most once per question."""
        if not progress.awaiting:
            return None
        question = (progress.awaiting, progress.session_attempt)
        if question in self._answered:
            return None
        self._answered.add(question)
        if progress.awaiting == "confirmation_code":
            return self._confirmation_code_answer()
        if progress.awaiting == "consent":
            return self._consent_answer(progress)
        self.hint = f"the operation waits for {progress.awaiting!r}, which this CLI cannot answer"
        return _decline(CancelReason.UNDEFINED_REASON)

    def _confirmation_code_answer(self) -> Answer:
        if self._code:
            code = self._code
            return lambda handle: handle.provide_confirmation_code(code)
        if self._interactive:
            try:
                code = click.prompt("Confirmation code", hide_input=True, err=True, default="",
                                    show_default=False)
            except click.Abort:
                code = ""
            if code:
                self._redactor.add(code)
                return lambda handle: handle.provide_confirmation_code(code)
            self.hint = "no confirmation code entered: download cancelled"
            return _decline(CancelReason.END_USER_REJECTION)
        self.hint = (f"the SM-DP+ asks for a confirmation code: run on a terminal to be asked, "
                     f"or set {CONFIRMATION_CODE_ENV}")
        return _decline(CancelReason.POSTPONED)

    def _consent_answer(self, progress: Progress) -> Answer:
        metadata = progress.metadata
        rules = PolicyRules(metadata.policy_rules) if metadata else PolicyRules(0)
        if self._accept_policy_rules:
            return lambda handle: handle.give_consent(accept_policy_rules=True)
        if self._interactive:
            click.echo(self._redactor(describe_metadata(progress)), err=True)
            question = ("Allow these policy rules and install the profile?" if rules
                        else "Install this profile?")
            try:
                accepted = click.confirm(question, default=False, err=True)
            except click.Abort:
                accepted = False
            if accepted:
                return lambda handle: handle.give_consent(accept_policy_rules=True)
            return _decline(CancelReason.PPR_NOT_ALLOWED if rules else CancelReason.END_USER_REJECTION)
        if rules:
            self.hint = ("the profile has policy rules and nobody can consent here: "
                         "re-run with --ppr-allowed to accept them")
            return _decline(CancelReason.PPR_NOT_ALLOWED)
        self.hint = "the download waits for consent and nobody can give it here: re-run on a terminal"
        return _decline(CancelReason.POSTPONED)


async def answer_when_asked(handle: OperationHandle, responder: Responder, *, wait_seconds: float,
                            poll_seconds: float = 0.5) -> Progress | None:
    """Wait up to ``wait_seconds`` for ``handle`` to ask something, then answer it as
    ``responder`` decides (a prompt runs outside the event loop); None: nothing was asked."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        progress = await handle.progress()
        if progress.awaiting:
            answer = await asyncio.to_thread(responder.answer, progress)
            return await answer(handle) if answer is not None else progress
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(poll_seconds)


def _decline(reason: CancelReason) -> Answer:
    return lambda handle: handle.decline(reason)


def describe_metadata(progress: Progress) -> str:
    metadata = progress.metadata
    if metadata is None:
        return "The SM-DP+ sent no profile metadata."
    lines = [
        f"Profile     {metadata.profile_name or '-'}",
        f"Provider    {metadata.service_provider_name or '-'}",
        f"ICCID       {metadata.iccid}",
        f"Class       {value_label(ProfileClass, metadata.profile_class)}",
        f"Policy      {', '.join(policy_names(metadata.policy_rules)) or 'none'}",
    ]
    return "\n".join(lines)
