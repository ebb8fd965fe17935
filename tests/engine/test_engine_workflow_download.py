"""DownloadProfile's decisions on the time-skipping server, with real workers, an in-process
virtual eUICC and the lab SM-DP+: consent and confirmation-code questions answered through
Temporal Updates, their timeout, declines, a CancelSession from another client, and SM-DP+
server errors retried by the activity."""
from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from esimflow import contract
from esimflow.client import AnswerRefusedError, OperationHandle
from tests.engine.engine_stack import new_iccid, running_engine

pytestmark = [pytest.mark.temporal]


@pytest.fixture
async def engine(time_skipping_env, tmp_path, unique_task_queue, smdp, card):
    async with running_engine(time_skipping_env.client, tmp_path, unique_task_queue, smdp=smdp,
                              cards={"card": card}) as stack:
        yield stack


async def until_awaiting(handle: OperationHandle, question: str, timeout: float = 30.0) -> contract.Progress:
    """The download's progress once it asks the user ``question``."""
    deadline = time.monotonic() + timeout
    while True:
        progress = await handle.progress()
        if progress.awaiting == question:
            return progress
        assert time.monotonic() < deadline, f"the download never asked for {question}; it is at {progress}"
        await asyncio.sleep(0.05)


async def iccids_on(engine, eid: str) -> list[str]:
    listed = await engine.run(contract.ListProfilesInput(eid))
    return [profile["iccid"] for profile in listed.data["profiles"]]


async def test_consent_timeout_cancels_the_session_with_reason_timeout(engine, smdp, card, time_skipping_env):
    iccid = new_iccid()
    code = smdp.add_profile(iccid, ppr1=True)
    handle = await engine.start(contract.DownloadProfileInput(card.eid, code, consent_timeout_seconds=120))
    progress = await until_awaiting(handle, "consent")
    assert progress.metadata.iccid == iccid
    assert progress.metadata.policy_rules == contract.PolicyRules.POLICY_RULE_DISABLE_NOT_ALLOWED
    assert progress.metadata.solvable_errors & contract.SolvableErrors.SOLVABLE_ERROR_NEED_POLICY_RULE

    await time_skipping_env.sleep(timedelta(seconds=121))
    result = await handle.result()

    assert not result.ok
    assert (result.oh_result_name, result.win_status_name) == ("RESULT_DOWNLOAD_TIMEOUT",
                                                               "TimeoutWaitingForUserConsent")
    assert result.data["cancel"] == {"cancelled": True, "reason": "timeout", "transaction_id": progress.transaction_id,
                                     "card": "ok", "smdp": "ok"}
    assert iccid not in await iccids_on(engine, card.eid)
    assert any(change.reason and "timeout" in change.reason for change in smdp.history(iccid))
    assert str(smdp.status(iccid)) == "AVAILABLE"  # the activation code can be used again


async def test_policy_rules_need_consent_and_install_once_given(engine, smdp, card):
    iccid = new_iccid()
    handle = await engine.start(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid, ppr2=True)))
    await until_awaiting(handle, "consent")
    answered = await handle.give_consent()
    assert answered.awaiting is None
    result = await handle.result()
    assert result.ok, result
    assert iccid in await iccids_on(engine, card.eid)


async def test_declined_policy_rules_cancel_with_ppr_not_allowed(engine, smdp, card):
    iccid = new_iccid()
    handle = await engine.start(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid, ppr1=True)))
    await until_awaiting(handle, "consent")
    await handle.give_consent(accept_policy_rules=False)
    result = await handle.result()
    assert (result.oh_result_name, result.win_status_name) == ("RESULT_PPR_FORBIDDEN", "PolicyViolation")
    assert result.data["cancel"]["reason"] == "pprNotAllowed"
    assert iccid not in await iccids_on(engine, card.eid)


async def test_user_postpones(engine, smdp, card):
    iccid = new_iccid()
    handle = await engine.start(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid),
                                                         require_user_consent=True))
    await until_awaiting(handle, "consent")
    await handle.decline(contract.CancelReason.POSTPONED)
    result = await handle.result()
    assert (result.oh_result_name, result.win_status_name) == ("RESULT_USER_CANCEL_DOWNLOAD", "OperationAborted")
    assert result.data["cancel"]["reason"] == "postponed"


async def test_a_wrong_confirmation_code_is_asked_again(engine, smdp, card):
    iccid = new_iccid()
    code = smdp.add_profile(iccid, confirmation_code="4711")
    handle = await engine.start(contract.DownloadProfileInput(card.eid, code))
    first = await until_awaiting(handle, "confirmation_code")
    assert first.metadata.confirmation_code_required
    await handle.provide_confirmation_code("1234")
    second = await until_awaiting(handle, "confirmation_code")
    assert second.session_attempt == 2 and second.transaction_id != first.transaction_id
    await handle.provide_confirmation_code("4711")
    result = await handle.result()
    assert result.ok, result
    assert result.data["session_attempts"] == 2
    assert iccid in await iccids_on(engine, card.eid)


async def test_a_session_the_smdp_forgot_gets_one_new_session(engine, smdp, card):
    """8.10.1/3.9 (the SM-DP+ restarted meanwhile): no retry of the step, one new session."""
    iccid = new_iccid()
    smdp.add_fault("getBoundProfilePackage", "restart", count=1)
    try:
        result = await engine.run(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid)))
    finally:
        smdp.clear_faults()
    assert result.ok, result
    assert result.data["session_attempts"] == 2


async def test_a_server_that_forgets_every_session_fails_after_the_second(engine, smdp, card):
    iccid = new_iccid()
    smdp.add_fault("getBoundProfilePackage", "restart")
    try:
        handle = await engine.start(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid)))
        result = await handle.result()
        rule, = smdp.faults.rules()
    finally:
        smdp.clear_faults()
    assert not result.ok
    assert (result.error_kind, result.oh_result_name, result.win_status_name) == (
        "es9.8.10.1/3.9", "RESULT_TRANSACTION_ID_INVALID", "NoCorrespondingRequest")
    assert rule["applied"] == 2, "one call per session, no retry of the step"
    assert (await handle.progress()).session_attempt == 2
    assert iccid not in await iccids_on(engine, card.eid)


async def test_an_expired_order_ends_the_download_at_once(engine, smdp, card):
    iccid = new_iccid()
    code = smdp.add_profile(iccid)
    smdp.expire(iccid)
    handle = await engine.start(contract.DownloadProfileInput(card.eid, code))
    result = await handle.result()
    assert (result.ok, result.error_kind) == (False, "es9.8.8.5/4.10")
    assert (result.oh_result_name, result.win_status_name) == ("RESULT_NO_PROFILE_ON_SERVER",
                                                               "ProfileNotAvailableForNewBinding")
    assert (await handle.progress()).session_attempt == 1
async def test_a_refused_code_given_up_front_ends_the_download_at_once(engine, smdp, card):
    """Through the API (and the CLI off a terminal, ESIMFLOW_CONFIRMATION_CODE) nobody can be
    asked again: the answer is IncorrectConfirmationCode, not a consent timeout or a decline."""
    iccid = new_iccid()
    handle = await engine.start(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid, confirmation_code="4711"),
                                                         confirmation_code="1234"))
    result = await handle.result()
    assert (result.ok, result.oh_result_name, result.win_status_name) == (
        False, "RESULT_CONFIRMATION_CODE_INCORRECT", "IncorrectConfirmationCode")
    assert result.data.get("session_attempts", 1) == 1 and "1234" not in result.message
    assert iccid not in await iccids_on(engine, card.eid)


async def test_a_refused_code_given_up_front_is_asked_again_when_the_caller_can_ask(engine, smdp, card):
    iccid = new_iccid()
    handle = await engine.start(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid, confirmation_code="4711"),
                                                         confirmation_code="1234", ask_again_if_code_refused=True))
    again = await until_awaiting(handle, "confirmation_code")
    assert again.session_attempt == 2
    await handle.provide_confirmation_code("4711")
    assert (await handle.result()).ok


async def test_too_many_refused_codes_end_with_the_try_limit(engine, smdp, card):
    handle = await engine.start(contract.DownloadProfileInput(
        card.eid, smdp.add_profile(new_iccid(), confirmation_code="4711", cc_retry_limit=10)))
    for attempt in (1, 2, 3):
        asked = await until_awaiting(handle, "confirmation_code")
        assert asked.session_attempt == attempt
        await handle.provide_confirmation_code(f"000{attempt}")
    result = await handle.result()
    assert (result.oh_result_name, result.win_status_name) == (
        "RESULT_EXCEEDED_CONFIRMATION_CODE_TRY_LIMIT", "ConfirmationCodeMaxRetriesExceeded")


async def test_the_smdp_try_limit_is_reported_as_such(engine, smdp, card):
    handle = await engine.start(contract.DownloadProfileInput(
        card.eid, smdp.add_profile(new_iccid(), confirmation_code="4711", cc_retry_limit=1)))
    await until_awaiting(handle, "confirmation_code")
    await handle.provide_confirmation_code("0000")
    result = await handle.result()
    assert (result.oh_result_name, result.win_status_name) == (
        "RESULT_EXCEEDED_CONFIRMATION_CODE_TRY_LIMIT", "ConfirmationCodeMaxRetriesExceeded")


async def test_an_update_the_download_does_not_expect_is_rejected(engine, smdp, card):
    handle = await engine.start(contract.DownloadProfileInput(card.eid, smdp.add_profile(new_iccid()),
                                                         require_user_consent=True))
    await until_awaiting(handle, "consent")
    with pytest.raises(AnswerRefusedError, match="not waiting for a confirmation code"):
        await handle.provide_confirmation_code("0000")
    await handle.give_consent()
    assert (await handle.result()).ok


async def test_cancel_session_from_another_client_reaches_the_waiting_download(engine, smdp, card):
    iccid = new_iccid()
    handle = await engine.start(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid),
                                                         require_user_consent=True))
    waiting = await until_awaiting(handle, "consent")
    cancelled = await engine.run(contract.CancelSessionInput(card.eid, waiting.transaction_id,
                                                        int(contract.CancelReason.END_USER_REJECTION)))
    result = await handle.result()
    assert cancelled.ok, cancelled
    assert (result.oh_result_name, result.data["cancel"]["reason"]) == ("RESULT_USER_CANCEL_DOWNLOAD",
                                                                        "endUserRejection")
    assert iccid not in await iccids_on(engine, card.eid)


async def test_smdp_server_errors_are_retried_by_the_step(engine, smdp, card):
    iccid = new_iccid()
    code = smdp.add_profile(iccid)
    rule = smdp.add_fault("getBoundProfilePackage", "http_error", status=503, count=2)
    try:
        result = await engine.run(contract.DownloadProfileInput(card.eid, code))
    finally:
        smdp.faults.remove(rule)
    assert result.ok, result
    assert result.data["session_attempts"] == 1
    assert str(smdp.status(iccid)) == "INSTALLED"


async def test_an_smdp_refusal_is_final_and_typed(engine, smdp, card):
    result = await engine.run(contract.DownloadProfileInput(card.eid, f"LPA:1${smdp.address}$NOSUCHMATCHINGID"))
    assert not result.ok
    assert result.error_kind.startswith("es9.")
    assert result.win_status_name == "InvalidMatchingId"
    assert "NOSUCHMATCHINGID" not in result.message


async def test_a_bad_activation_code_is_refused_without_repeating_it(engine, card):
    result = await engine.run(contract.DownloadProfileInput(card.eid, "LPA:1$smdp.example.com$SECRET MATCHING ID"))
    assert (result.ok, result.oh_result_name) == (False, "RESULT_ACTIVATION_CODE_INVALID")
    assert "SECRET" not in result.message


@pytest.mark.parametrize("smdp_address", ["LPA:1$smdp.example.com$SMDP-FIELD-SECRET-7", "SMDP-FIELD-SECRET-7",
                                          "smdp.example.com:SMDP-FIELD-SECRET-7"])
async def test_a_secret_given_as_the_smdp_address_through_the_api_is_refused_masked(engine, card, smdp_address):
    result = await engine.run(contract.DownloadProfileInput(card.eid, None, smdp_address=smdp_address))
    assert (result.ok, result.oh_result_name) == (False, "RESULT_SMDP_ADDRESS_INVALID"), result
    assert "SMDP-FIELD-SECRET-7" not in result.message


async def test_matching_id_and_confirmation_code_never_reach_the_history_in_plain(engine, smdp, card,
                                                                                   time_skipping_env):
    from temporalio.client import Client

    confirmation_code = "93518207"
    code = smdp.add_profile(new_iccid(), confirmation_code=confirmation_code)
    matching_id = code.split("$")[2]
    handle = await engine.start(contract.DownloadProfileInput(card.eid, code, confirmation_code=confirmation_code))
    assert (await handle.result()).ok

    plain = Client(time_skipping_env.client.service_client, namespace=time_skipping_env.client.namespace)
    secrets = [matching_id.encode(), matching_id.encode().hex().upper().encode(), confirmation_code.encode()]
    for workflow_id in (handle.workflow_id, contract.euicc_workflow_id(card.eid)):
        history = await plain.get_workflow_handle(workflow_id).fetch_history()
        stored = b"".join(event.SerializeToString() for event in history.events)
        assert len(history.events) > 5
        for secret in secrets:
            assert secret not in stored, f"{workflow_id} history holds a secret in plain"


async def test_policy_rules_the_euicc_forbids_are_refused_before_install(time_skipping_env, tmp_path,
                                                                         unique_task_queue, smdp, lab_pki,
                                                                         fresh_eid):
    from rsplab.euicc.card import VirtualEuicc
    from rsplab.euicc.config import EuiccConfig

    iccid = new_iccid()
    with VirtualEuicc(lab_pki.root, tmp_path / "strict.json", eid=fresh_eid, config=EuiccConfig(rat=())) as strict:
        async with running_engine(time_skipping_env.client, tmp_path, unique_task_queue, smdp=smdp,
                                  cards={"strict": strict}) as engine:
            result = await engine.run(contract.DownloadProfileInput(strict.eid, smdp.add_profile(iccid, ppr1=True),
                                                               is_ppr_allowed=True))
            assert (result.oh_result_name, result.win_status_name) == ("RESULT_PPR_NOT_MATCH", "PolicyViolation")
            assert result.data["cancel"]["reason"] == "pprNotAllowed"
            assert iccid not in await iccids_on(engine, strict.eid)


async def test_an_activation_code_pinning_another_smdp_oid_is_refused(engine, smdp, card):
    code = smdp.add_profile(new_iccid())
    result = await engine.run(contract.DownloadProfileInput(card.eid, f"{code}$1.3.6.1.4.1.99999"))
    assert (result.ok, result.error_kind) == (False, "server.oid_mismatch")


async def test_progress_shows_segments_during_a_long_install(engine, smdp, card):
    """The steps run inside workflow tasks as local activities; the worker heartbeats a long
    task every few seconds, and each heartbeat lets a progress query through."""
    card.faults.delay_s = 0.06  # about 8 s of LoadBoundProfilePackage (some 130 blocks of 255 bytes)
    try:
        handle = await engine.start(contract.DownloadProfileInput(card.eid, smdp.add_profile(new_iccid(), size=30_000)))
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            progress = await handle.progress()
            if progress.phase == "installing" and progress.segments_done:
                seen.append((progress.segments_done, progress.segments_total))
            if progress.phase in ("delivering installation result", "done"):
                break
            await asyncio.sleep(0.2)
        result = await handle.result()
    finally:
        card.faults.delay_s = 0.0
    assert result.ok, result
    assert seen and all(0 < done <= total for done, total in seen), "no segment progress while installing"
