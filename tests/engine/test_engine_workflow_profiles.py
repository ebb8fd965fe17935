"""Profile operations end to end on the dev server: real workers, an in-process virtual eUICC and
the lab SM-DP+ over TLS. What a user sees: the profile list, the OpenHarmony and Windows
outcomes, the SM-DP+ inventory and the profile status history."""
from __future__ import annotations

import asyncio

import pytest

from esimflow import contract
from tests.engine.engine_stack import new_iccid, running_engine

pytestmark = [pytest.mark.temporal]



@pytest.fixture
async def engine(dev_client, tmp_path, unique_task_queue, smdp, card):
    async with running_engine(dev_client, tmp_path, unique_task_queue, smdp=smdp, cards={"card": card}) as stack:
        yield stack


def profiles_of(result: contract.OperationResult) -> dict[str, int]:
    return {profile["iccid"]: profile["state"] for profile in result.data["profiles"]}




async def test_download_switch_delete_list(engine, smdp, card):
    eid = card.eid
    iccid_a, iccid_b = new_iccid(), new_iccid()
    code_a, code_b = smdp.add_profile(iccid_a), smdp.add_profile(iccid_b)

    first = await engine.run(contract.DownloadProfileInput(eid, code_a, switch_after_download=True))
    assert first.ok, first
    assert (first.oh_result_name, first.win_status_name) == ("RESULT_OK", "Success")
    assert first.data["iccid"] == iccid_a and first.data["enabled"] is True
    second = await engine.run(contract.DownloadProfileInput(eid, code_b))
    assert second.ok and second.data["enabled"] is False

    listed = await engine.run(contract.ListProfilesInput(eid))
    assert profiles_of(listed) == {iccid_a: contract.ProfileState.PROFILE_STATE_ENABLED,
                                   iccid_b: contract.ProfileState.PROFILE_STATE_DISABLED}
    assert str(smdp.status(iccid_a)) == "ENABLED" and str(smdp.status(iccid_b)) == "INSTALLED"

    refused = await engine.run(contract.SwitchProfileInput(eid, iccid_b))
    assert not refused.ok
    assert refused.oh_result_name == "RESULT_MUST_DISABLE_PROFILE"
    assert refused.data["enabled_iccid"] == iccid_a
    assert profiles_of(await engine.run(contract.ListProfilesInput(eid)))[iccid_a] == contract.ProfileState.PROFILE_STATE_ENABLED

    switched = await engine.run(contract.SwitchProfileInput(eid, iccid_b, force_disable_profile=True))
    assert switched.ok and switched.data["disabled_iccid"] == iccid_a
    assert str(smdp.status(iccid_a)) == "DISABLED" and str(smdp.status(iccid_b)) == "ENABLED"

    deleted = await engine.run(contract.DeleteProfileInput(eid, iccid_a))
    assert deleted.ok, deleted
    assert profiles_of(await engine.run(contract.ListProfilesInput(eid))) == {iccid_b: contract.ProfileState.PROFILE_STATE_ENABLED}
    leftover = await engine.run(contract.ProcessNotificationsInput(eid))
    assert leftover.ok and leftover.data == {"delivered": [], "failed": []}, "every notification reached the SM-DP+"

    with engine.history() as history:
        statuses = [str(change.to_status) for change in history.history(iccid_a)]
    assert statuses == ["DOWNLOADED", "INSTALLED", "ENABLED", "DISABLED", "DELETED"]


async def test_refusals_are_explained_before_the_card_is_touched(engine, smdp, card):
    eid = card.eid
    iccid = new_iccid()
    code = smdp.add_profile(iccid, ppr2=True)
    installed = await engine.run(contract.DownloadProfileInput(eid, code, is_ppr_allowed=True, switch_after_download=True))
    assert installed.ok, installed
    assert installed.data["metadata"]["policy_rules"] == contract.PolicyRules.POLICY_RULE_DELETE_NOT_ALLOWED

    enabled = await engine.run(contract.DeleteProfileInput(eid, iccid))
    assert (enabled.ok, enabled.oh_result_name, enabled.win_status_name, enabled.error_kind) == (
        False, "RESULT_MUST_DISABLE_PROFILE", "PolicyViolation", "engine.must_disable_profile")
    missing = await engine.run(contract.DeleteProfileInput(eid, "8949000000000099996"))
    assert (missing.oh_result_name, missing.win_status_name) == ("RESULT_NOTHING_TO_DELETE", "ProfileNotPresent")
    unknown = await engine.run(contract.SwitchProfileInput(eid, "8949000000000099996"))
    assert unknown.win_status_name == "ProfileNotPresent"
    assert profiles_of(await engine.run(contract.ListProfilesInput(eid))) == {iccid: contract.ProfileState.PROFILE_STATE_ENABLED}


async def test_operations_on_one_euicc_run_one_at_a_time(engine, card, dev_client):
    eid = card.eid
    handles = await asyncio.gather(*(engine.start(op) for op in [
        contract.ListProfilesInput(eid), contract.GetEuiccInfoInput(eid), contract.SetDefaultSmdpAddressInput(eid, "smdp.example.com"),
        contract.GetDefaultSmdpAddressInput(eid), contract.ListProfilesInput(eid),
    ]))
    results = await asyncio.gather(*(handle.result() for handle in handles))
    assert all(result.ok for result in results), results
    spans = []
    for result in results:
        description = await dev_client.get_workflow_handle(result.workflow_id).describe()
        spans.append((description.start_time, description.close_time))
    spans.sort()
    for (_, closed), (started, _) in zip(spans, spans[1:]):
        assert closed <= started, "two operations on one eUICC overlapped"


async def test_an_unknown_euicc_is_reported_not_hung(engine):
    result = await engine.run(contract.ListProfilesInput("89049032000000000000000000009999"))
    assert (result.ok, result.error_kind, result.win_status_name) == (False, "device.not_found", "NotFound")


async def test_identity_information_and_default_smdp(engine, card):
    eid = card.eid
    found = await engine.run(contract.GetEidInput("card"))
    assert found.ok and found.data["eid"] == eid
    devices = await engine.run(contract.ListDevicesInput())
    assert eid in [device["eid"] for device in devices.data["devices"]]
    info = await engine.run(contract.GetEuiccInfoInput(eid))
    assert info.ok and info.data["os_version"] and info.data["svn"] == "2.2.2"
    assert (await engine.run(contract.SetDefaultSmdpAddressInput(eid, "smdp.example.com"))).ok
    address = await engine.run(contract.GetDefaultSmdpAddressInput(eid))
    assert address.data["default_smdp_address"] == "smdp.example.com"
    status = await engine.run(contract.OsUpdateInput(eid))
    assert status.ok and status.data["osu_status_name"] == "EUICC_UPGRADE_ALREADY_LATEST"


async def test_split_deployment_card_host_serving_only_card_steps(dev_client, tmp_path, unique_task_queue, smdp,
                                                                  lab_pki, fresh_eid):
    """Workflows and SM-DP+ steps on one worker, the card's steps on another that runs no
    workflows: the card steps travel to the card host's queue as ordinary activities."""
    from rsplab.euicc.card import VirtualEuicc

    iccid = new_iccid()
    with VirtualEuicc(lab_pki.root, tmp_path / "split.json", eid=fresh_eid) as card:
        async with running_engine(dev_client, tmp_path, unique_task_queue, smdp=smdp) as engine, \
                running_engine(dev_client, tmp_path, unique_task_queue, cards={"card": card}, net=False,
                               card_host_runs_workflows=False) as card_host:
            assert card_host.worker.devices[0].workflow_task_queue == ""
            downloaded = await engine.run(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid),
                                                                   switch_after_download=True))
            assert downloaded.ok, downloaded
            listed = await engine.run(contract.ListProfilesInput(card.eid))
            assert profiles_of(listed) == {iccid: contract.ProfileState.PROFILE_STATE_ENABLED}
            history = await dev_client.get_workflow_handle(downloaded.workflow_id).fetch_history()
            scheduled = {event.activity_task_scheduled_event_attributes.task_queue.name for event in history.events
                         if event.HasField("activity_task_scheduled_event_attributes")}
            assert scheduled == {contract.card_task_queue(unique_task_queue), contract.net_task_queue(unique_task_queue)}
