"""The activities on their own (Temporal's ActivityEnvironment, no server): a real download
driven step by step against an in-process virtual eUICC and the lab SM-DP+, the
install-once rule of LoadBoundProfilePackage, its progress heartbeats, and how failures leave
an activity."""
from __future__ import annotations

import dataclasses

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from esimflow.activities import types as t
from esimflow.activities.card import CardActivities
from esimflow.activities.card_access import CardPool
from esimflow.activities import liveness
from esimflow.activities.errors import esim_errors_as_application_errors
from esimflow.activities.net import NetActivities
from sgp22.errors import CardRemovedError, Es10ResultError
from tests.engine.engine_stack import new_iccid


@pytest.fixture
def cards(card):
    pool = CardPool({"card": card})
    yield CardActivities(pool)
    pool.close()


@pytest.fixture
async def net(smdp):
    activities = NetActivities(ca_file=smdp.ca_file, connect_overrides=smdp.connect_overrides)
    yield activities
    await activities.aclose()


class CountingCard:
    """Counts the APDUs that reach the card."""

    def __init__(self, card) -> None:
        self.card = card
        self.commands: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.commands.append(bytes(apdu))
        return self.card.transmit(apdu)


async def prepared_package(cards: CardActivities, net: NetActivities, ref: t.CardRef, address: str,
                           matching_id: str) -> tuple[str, str]:
    """The card-and-server steps up to the bound profile package; returns (transaction, BPP hex)."""
    env = ActivityEnvironment()
    euicc = env.run(cards.read_auth_data, t.CardInput(ref))
    init = await env.run(net.initiate_authentication,
                         t.InitiateAuthenticationStepInput(address, euicc.euicc_challenge, euicc.euicc_info1))
    response = env.run(cards.authenticate_server, t.AuthenticateServerStepInput(
        ref, init.transaction_id, init.server_signed1, init.server_signature1, init.euicc_ci_pkid,
        init.server_certificate, matching_id))
    auth = await env.run(net.authenticate_client, t.AuthenticateClientStepInput(address, init.transaction_id, response))
    prepared = env.run(cards.prepare_download, t.PrepareDownloadStepInput(
        ref, init.transaction_id, auth.smdp_signed2, auth.smdp_signature2, auth.smdp_certificate))
    package = await env.run(net.get_bound_profile_package,
                            t.GetBppStepInput(address, init.transaction_id, prepared, auth.profile_metadata))
    assert package.metadata_matches
    assert package.iccid == auth.metadata.iccid
    return init.transaction_id, package.bound_profile_package


async def test_a_retried_load_never_installs_twice(card, smdp, net):
    counting = CountingCard(card)
    pool = CardPool({"card": counting})
    cards = CardActivities(pool)
    ref = t.CardRef(card.eid, "local:card")
    iccid = new_iccid()
    code = smdp.add_profile(iccid)
    transaction, package = await prepared_package(cards, net, ref, smdp.address, code.split("$")[2])

    first = ActivityEnvironment()
    beats: list[tuple] = []
    first.on_heartbeat = lambda *details: beats.append(details)
    loaded = first.run(cards.load_bound_profile_package, t.LoadBppStepInput(ref, transaction, package, iccid))
    assert loaded.installed and not loaded.already_installed and loaded.error is None
    segment_beats = [beat for beat in beats if beat]
    # the first segment is reported at once; later ones at most every DETAILS_GAP_SECONDS (a
    # lab card takes milliseconds per segment), never going back
    assert segment_beats[0][0] == 1 and segment_beats[0][1] > 1
    assert [done for done, _ in segment_beats] == sorted({done for done, _ in segment_beats})

    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2)
    sent_before = len(counting.commands)
    again = retry.run(cards.load_bound_profile_package, t.LoadBppStepInput(ref, transaction, package, iccid))
    resent = [apdu for apdu in counting.commands[sent_before:] if apdu[1] == 0xE2 and b"\xbf\x36" in apdu[:8]]
    assert again.already_installed and again.installed
    assert again.notification_seq == loaded.notification_seq  # the PIR still waiting for the SM-DP+
    assert resent == [], "the bound profile package went to the card again"
    profiles = ActivityEnvironment().run(cards.get_profiles_info, t.ProfilesInfoInput(ref))
    assert [profile.iccid for profile in profiles.profiles] == [iccid]
    pool.close()


def test_progress_details_go_out_at_once_then_at_most_every_gap(monkeypatch):
    clock = iter([0.0, 0.1, 0.2, 0.6, 0.7, 1.2])
    monkeypatch.setattr(liveness.time, "monotonic", lambda: next(clock))
    env = ActivityEnvironment()
    beats: list[tuple] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    def report_six_segments() -> tuple:
        heartbeat = liveness.Heartbeat()
        for done in range(1, 7):
            heartbeat(done, 6)
        return heartbeat.details

    assert env.run(report_six_segments) == (6, 6)  # what the side thread would repeat
    assert beats == [(1, 6), (4, 6), (6, 6)]


def test_a_card_with_another_eid_is_refused(cards, card):
    wrong = t.CardRef("89049032000000000000000000099900", "local:card")
    with pytest.raises(ApplicationError) as refused:
        ActivityEnvironment().run(cards.get_profiles_info, t.ProfilesInfoInput(wrong))
    assert refused.value.type == "card.eid_mismatch" and refused.value.non_retryable
    assert refused.value.details[0]["win_status"] == "EidMismatch"


def test_business_answers_are_final_and_glitches_are_retried(cards, card):
    ref = t.CardRef(card.eid, "local:card")
    with pytest.raises(ApplicationError) as missing:
        ActivityEnvironment().run(cards.enable_profile, t.EnableProfileInput(ref, "8949000000000099996"))
    assert missing.value.type == "es10.enableProfile.iccidOrAidNotFound"
    assert missing.value.non_retryable
    assert missing.value.details[0]["win_status"] == "ProfileNotPresent"

    card.faults.remove_after = 0
    try:
        with pytest.raises(ApplicationError) as removed:
            ActivityEnvironment().run(cards.get_profiles_info, t.ProfilesInfoInput(ref))
    finally:
        card.faults.remove_after = None
        card.reinsert()
    assert removed.value.type == "card.removed" and not removed.value.non_retryable
    assert ActivityEnvironment().run(cards.get_profiles_info, t.ProfilesInfoInput(ref)).profiles == []


async def test_smdp_server_errors_leave_as_retryable(lab_pki):
    # an SM-DP+ of its own: on the module's shared one a connection after the load test above
    # has been seen to time out under CI load, which says nothing about how a 503 is classified
    from rsplab.smdp.server import LabSmdp

    with LabSmdp(lab_pki.root) as smdp:
        smdp.add_fault("initiateAuthentication", "http_error", status=503, count=1)
        net = NetActivities(ca_file=smdp.ca_file, connect_overrides=smdp.connect_overrides)
        try:
            with pytest.raises(ApplicationError) as failed:
                await ActivityEnvironment().run(net.initiate_authentication, t.InitiateAuthenticationStepInput(
                    smdp.address, "00" * 16, "BF2000"))
        finally:
            await net.aclose()
    assert (failed.value.type, failed.value.message) == ("server.http", failed.value.message)
    assert not failed.value.non_retryable
    assert failed.value.details[0]["oh_result"] == "RESULT_RESPONSE_HTTP_FAILED"


def test_unexpected_exceptions_do_not_leak_their_text():
    @esim_errors_as_application_errors
    def broken(secret: str) -> None:
        raise KeyError(f"matching id {secret}")

    with pytest.raises(ApplicationError) as failed:
        broken("SECRET-MATCHING-ID")
    assert failed.value.type == "engine.internal" and not failed.value.non_retryable
    assert "SECRET" not in str(failed.value)


def test_typed_errors_keep_their_outcome():
    @esim_errors_as_application_errors
    def refused() -> None:
        raise Es10ResultError("ES10 disableProfile failed: disallowedByPolicy (3)", function="disableProfile",
                              result_name="disallowedByPolicy", result_code=3, kind="es10.disableProfile.disallowedByPolicy")

    with pytest.raises(ApplicationError) as failed:
        refused()
    assert failed.value.type == "es10.disableProfile.disallowedByPolicy"
    assert failed.value.details[0]["kind"] == failed.value.type
    assert {"oh_result_code", "win_status_code"} <= failed.value.details[0].keys()


def test_removed_card_is_a_transport_error_the_pool_recovers_from(card):
    pool = CardPool({"card": card})
    try:
        assert pool.eid_of("local:card") == card.eid
        card.faults.remove_after = 0
        with pytest.raises(CardRemovedError), pool.session("local:card", card.eid) as isdr:
            isdr.store_data(bytes.fromhex("BF2D00"))
        card.faults.remove_after = None
        card.reinsert()
        assert pool.eid_of("local:card") == card.eid  # reopened after the failure
    finally:
        pool.close()
