"""The download's progress line and its questions, as a user at a terminal or a log sees them."""
from __future__ import annotations

import asyncio
import io

from click.testing import CliRunner

from esimcli.progress import ProgressDisplay
from esimcli.questions import Responder
from esimcli.secrets import Redactor
from sgp22.secret_text import mask_secret
from esimflow import contract


def progress(phase: str, **fields) -> contract.Progress:
    return contract.Progress(operation=contract.Operation.DOWNLOAD_PROFILE, phase=phase, **fields)


def test_a_terminal_gets_one_line_rewritten_in_place():
    stream = io.StringIO()
    display = ProgressDisplay(stream, is_tty=True, redact=Redactor(), label="download")
    display.show(progress("loading profile package", segments_done=1, segments_total=4))
    display.show(progress("loading profile package", segments_done=4, segments_total=4))
    display.finish()
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert text.startswith("\rdownload: loading profile package, 1/4 segments")
    assert "\rdownload: loading profile package, 4/4 segments" in text


def test_a_log_gets_one_plain_line_per_phase():
    stream = io.StringIO()
    display = ProgressDisplay(stream, is_tty=False, redact=Redactor(), label="download")
    for done in range(5):
        display.show(progress("loading profile package", segments_done=done, segments_total=4))
    display.show(progress("installed"))
    assert stream.getvalue().splitlines() == [
        "download: loading profile package, 0/4 segments",
        "download: installed",
    ]
    assert "\r" not in stream.getvalue()


def test_progress_details_are_redacted():
    redactor = Redactor()
    redactor.add("MATCH-SECRET-ID")
    stream = io.StringIO()
    ProgressDisplay(stream, is_tty=False, redact=redactor, label="download").show(
        progress("authenticating", detail="matching ID MATCH-SECRET-ID"))
    assert "MATCH-SECRET-ID" not in stream.getvalue()
    assert mask_secret("MATCH-SECRET-ID") in stream.getvalue()


class RecordingHandle:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def provide_confirmation_code(self, code):
        self.calls.append(("code", code))

    async def give_consent(self, accept_policy_rules=True):
        self.calls.append(("consent", accept_policy_rules))

    async def decline(self, reason=contract.CancelReason.END_USER_REJECTION):
        self.calls.append(("decline", contract.CancelReason(reason)))


def answer(responder: Responder, state: contract.Progress) -> list[tuple]:
    handle = RecordingHandle()
    reply = responder.answer(state)
    if reply is not None:
        asyncio.run(reply(handle))
    return handle.calls


def test_on_a_terminal_the_confirmation_code_is_asked_without_echo():
    redactor = Redactor()
    responder = Responder(interactive=True, redactor=redactor)
    with CliRunner().isolation(input="55501234\n") as (stdout, stderr, _):
        calls = answer(responder, progress("awaiting confirmation code", awaiting="confirmation_code"))
        shown = stdout.getvalue() + stderr.getvalue()
    assert calls == [("code", "55501234")]
    assert "Confirmation code" in shown.decode()
    assert b"55501234" not in shown
    assert "55501234" not in redactor("typed 55501234")


def test_the_same_question_is_answered_once():
    responder = Responder(interactive=False, redactor=Redactor())
    waiting = progress("awaiting confirmation code", awaiting="confirmation_code")
    assert answer(responder, waiting) == [("decline", contract.CancelReason.POSTPONED)]
    assert answer(responder, waiting) == []


def test_without_a_terminal_a_code_request_is_postponed_with_a_hint():
    responder = Responder(interactive=False, redactor=Redactor())
    assert answer(responder, progress("awaiting", awaiting="confirmation_code")) == [
        ("decline", contract.CancelReason.POSTPONED)]
    assert "ESIMFLOW_CONFIRMATION_CODE" in responder.hint


def test_policy_rules_without_a_terminal_are_refused_as_ppr_not_allowed():
    metadata = contract.ProfileMetadata(iccid="8944000000000000019", policy_rules=int(
        contract.PolicyRules.POLICY_RULE_DELETE_NOT_ALLOWED))
    responder = Responder(interactive=False, redactor=Redactor())
    assert answer(responder, progress("metadata reviewed", awaiting="consent", metadata=metadata)) == [
        ("decline", contract.CancelReason.PPR_NOT_ALLOWED)]
    assert "--ppr-allowed" in responder.hint


def test_on_a_terminal_consent_shows_the_profile_and_its_rules():
    metadata = contract.ProfileMetadata(iccid="8944000000000000019", profile_name="Lab 2",
                                   service_provider_name="Lab Telecom",
                                   policy_rules=int(contract.PolicyRules.POLICY_RULE_DISABLE_NOT_ALLOWED))
    responder = Responder(interactive=True, redactor=Redactor())
    with CliRunner().isolation(input="y\n") as (stdout, stderr, _):
        calls = answer(responder, progress("metadata reviewed", awaiting="consent", metadata=metadata))
        shown = (stdout.getvalue() + stderr.getvalue()).decode()
    assert calls == [("consent", True)]
    assert "Lab Telecom" in shown and "disable_not_allowed" in shown and "policy rules" in shown


def test_declining_consent_on_a_terminal_cancels_as_the_user():
    responder = Responder(interactive=True, redactor=Redactor())
    metadata = contract.ProfileMetadata(iccid="8944000000000000019")
    with CliRunner().isolation(input="n\n"):
        calls = answer(responder, progress("metadata reviewed", awaiting="consent", metadata=metadata))
    assert calls == [("decline", contract.CancelReason.END_USER_REJECTION)]
