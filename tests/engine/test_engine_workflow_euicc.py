"""eUICC-wide operations on the time-skipping server with real workers, an in-process virtual
eUICC and the lab SM-DP+ (which is also the lab SM-DS): memory reset, factory-restore
preparation, nicknames, notification delivery, discovery of waiting profiles, metadata
preview, stray sessions and OS updates."""
from __future__ import annotations

import pytest

from esimflow import contract
from tests.engine.engine_stack import new_iccid, running_engine

pytestmark = [pytest.mark.temporal]


@pytest.fixture(scope="module")
def smdp(lab_pki):
    from rsplab.smdp.server import LabSmdp

    with LabSmdp(lab_pki.root) as server:
        yield server


@pytest.fixture
def card(lab_pki, fresh_eid, tmp_path, smdp):
    """A virtual eUICC whose root SM-DS is the lab SM-DS."""
    from rsplab.euicc.card import VirtualEuicc
    from rsplab.euicc.config import EuiccConfig

    with VirtualEuicc(lab_pki.root, tmp_path / "euicc.json", eid=fresh_eid,
                      config=EuiccConfig(root_ds_address=smdp.smds_address)) as euicc:
        yield euicc


@pytest.fixture
async def engine(time_skipping_env, tmp_path, unique_task_queue, smdp, card):
    async with running_engine(time_skipping_env.client, tmp_path, unique_task_queue, smdp=smdp,
                              cards={"card": card}) as stack:
        yield stack


async def install(engine, smdp, eid: str, **profile) -> str:
    iccid = new_iccid()
    result = await engine.run(contract.DownloadProfileInput(eid, smdp.add_profile(iccid, **profile), is_ppr_allowed=True))
    assert result.ok, result
    return iccid


async def profiles(engine, eid: str) -> dict[str, dict]:
    listed = await engine.run(contract.ListProfilesInput(eid))
    return {profile["iccid"]: profile for profile in listed.data["profiles"]}


async def test_memory_reset_deletes_what_the_options_name(engine, smdp, card):
    operational = await install(engine, smdp, card.eid)
    test_profile = await install(engine, smdp, card.eid, profile_class="test")

    reset = await engine.run(contract.ResetMemoryInput(card.eid, int(contract.ResetOption.DELETE_OPERATIONAL_PROFILES)))
    assert reset.ok, reset
    assert reset.data["deleted"] == [operational]
    assert list(await profiles(engine, card.eid)) == [test_profile]
    with engine.history() as history:
        assert str(history.history(operational)[-1].to_status) == "DELETED"

    invalid = await engine.run(contract.ResetMemoryInput(card.eid, 8))
    assert (invalid.ok, invalid.error_kind) == (False, "input.invalid")


async def test_memory_reset_reports_first_and_records_every_erased_profile_deleted(engine, smdp, card):
    """The reset takes the erased profiles' pending notifications with it: the engine delivers
    them first, then records each erased profile, the enabled one too, as DELETED."""
    enabled, disabled = await install(engine, smdp, card.eid), await install(engine, smdp, card.eid)
    smdp.add_fault("handleNotification", "http_error", status=503)  # the enable stays pending on the card
    try:
        switched = await engine.run(contract.SwitchProfileInput(card.eid, enabled))
        assert switched.ok and switched.data["notifications"]["failed"], switched
    finally:
        smdp.clear_faults()
    assert str(smdp.status(enabled)) == "INSTALLED"

    reset = await engine.run(contract.ResetMemoryInput(card.eid, int(contract.ResetOption.DELETE_OPERATIONAL_PROFILES)))

    assert reset.ok, reset
    assert sorted(reset.data["deleted"]) == sorted([enabled, disabled])
    assert reset.data["notifications_before_reset"]["delivered"]
    assert str(smdp.status(enabled)) == "ENABLED", "the SM-DP+ heard of the enable before the profile vanished"
    with engine.history() as history:
        for iccid in (enabled, disabled):
            assert str(history.history(iccid)[-1].to_status) == "DELETED"
        # one change per erased profile, the enabled one straight from ENABLED (not "disable, then delete")
        after_switch = [(str(c.from_status), str(c.to_status), c.operation, c.drift)
                        for c in history.history(enabled) if c.operation == "ResetMemory"]
        assert after_switch == [("ENABLED", "DELETED", "ResetMemory", None)]
    assert card.store.state.notifications == [], "nothing left that could report an erased profile"


async def test_factory_restore_keeps_operational_profiles_and_their_nicknames(engine, smdp, card):
    operational = await install(engine, smdp, card.eid)
    test_profile = await install(engine, smdp, card.eid, profile_class="test")
    named = await engine.run(contract.SetNicknameInput(card.eid, operational, "work phone"))
    assert named.ok, named

    reserved = await engine.run(contract.ReserveProfilesForFactoryRestoreInput(card.eid))

    assert reserved.ok, reserved
    assert reserved.data["deleted"] == [test_profile]
    left = await profiles(engine, card.eid)
    assert list(left) == [operational] and left[operational]["nickname"] == "work phone"


async def test_nickname_of_a_missing_profile_is_reported(engine, card):
    result = await engine.run(contract.SetNicknameInput(card.eid, "8949000000000099996", "x"))
    assert (result.ok, result.error_kind) == (False, "es10.setNickname.iccidNotFound")


async def test_undelivered_notifications_stay_on_the_card_until_processed(engine, smdp, card):
    iccid = new_iccid()
    rule = smdp.add_fault("handleNotification", "http_error", status=503)
    try:
        result = await engine.run(contract.DownloadProfileInput(card.eid, smdp.add_profile(iccid)))
    finally:
        smdp.faults.remove(rule)
    assert result.ok, result  # the profile is installed whether or not the SM-DP+ heard of it
    assert result.data["notifications"]["delivered"] == []
    assert str(smdp.status(iccid)) == "DOWNLOADED"

    processed = await engine.run(contract.ProcessNotificationsInput(card.eid))

    assert processed.ok and len(processed.data["delivered"]) == 1
    assert str(smdp.status(iccid)) == "INSTALLED"


async def test_metadata_preview_installs_nothing(engine, smdp, card):
    iccid = new_iccid()
    code = smdp.add_profile(iccid, ppr1=True, profile_name="Preview me")
    preview = await engine.run(contract.GetDownloadableProfileMetadataInput(card.eid, code))
    assert preview.ok, preview
    assert preview.data["metadata"]["profile_name"] == "Preview me"
    assert preview.data["metadata"]["solvable_errors"] & contract.SolvableErrors.SOLVABLE_ERROR_NEED_POLICY_RULE
    assert preview.data["cancel"]["reason"] == "postponed"
    assert iccid not in await profiles(engine, card.eid)
    assert (await engine.run(contract.DownloadProfileInput(card.eid, code, is_ppr_allowed=True))).ok


async def test_downloadable_profiles_at_the_default_smdp_and_the_smds(engine, smdp, card):
    bound = new_iccid()
    smdp.add_profile(bound, eid=card.eid)
    assert (await engine.run(contract.SetDefaultSmdpAddressInput(card.eid, smdp.address))).ok

    found = await engine.run(contract.GetDownloadableProfilesInput(card.eid))

    assert found.ok, found
    sources = {(entry["source"], entry["smdp_address"]) for entry in found.data["profiles"]}
    assert sources == {("smdp", smdp.address), ("smds", smdp.address)}
    from_smds = next(entry for entry in found.data["profiles"] if entry["source"] == "smds")
    installed = await engine.run(contract.DownloadProfileInput(card.eid, from_smds["activation_code"]))
    assert installed.ok and installed.data["iccid"] == bound


async def test_download_from_the_default_smdp_without_activation_code(engine, smdp, card):
    bound = new_iccid()
    smdp.add_profile(bound, eid=card.eid)
    assert (await engine.run(contract.SetDefaultSmdpAddressInput(card.eid, smdp.address))).ok
    result = await engine.run(contract.DownloadProfileInput(card.eid))
    assert result.ok and result.data["iccid"] == bound
    none_left = await engine.run(contract.DownloadProfileInput(card.eid))
    assert (none_left.ok, none_left.win_status_name) == (False, "NoEligibleProfileForThisDevice")


async def test_cancelling_a_session_the_card_does_not_hold(engine, card):
    result = await engine.run(contract.CancelSessionInput(card.eid, "00112233445566778899AABBCCDDEEFF",
                                                     int(contract.CancelReason.POSTPONED)))
    assert (result.ok, result.oh_result_name) == (False, "RESULT_TRANSACTION_ID_INVALID")


async def test_os_update_to_the_offered_image(time_skipping_env, tmp_path, unique_task_queue, smdp, card, lab_pki):
    from rsplab.euicc.osu import build_os_image

    images = tmp_path / "os-images"
    images.mkdir()
    (images / "os-1.2.0.img").write_bytes(build_os_image((1, 2, 0), b"\x5a" * 3000, lab_pki.eum.private_key))
    async with running_engine(time_skipping_env.client, tmp_path, unique_task_queue, smdp=smdp,
                              cards={"card": card}, os_image_dir=images) as engine:
        updated = await engine.run(contract.OsUpdateInput(card.eid, start=True))
        assert updated.ok, updated
        assert (updated.data["osu_status_name"], updated.data["os_version"]) == ("EUICC_UPGRADE_SUCCESSFUL", "1.2.0")
        again = await engine.run(contract.OsUpdateInput(card.eid, start=True))
        assert again.ok and again.data["osu_status_name"] == "EUICC_UPGRADE_ALREADY_LATEST"
        status = await engine.run(contract.OsUpdateInput(card.eid))
        assert status.data["os_version"] == "1.2.0"


async def test_os_update_without_an_image_source_is_unavailable(engine, card):
    result = await engine.run(contract.OsUpdateInput(card.eid, start=True))
    assert (result.ok, result.data["osu_status_name"]) == (False, "EUICC_UPGRADE_SERVICE_UNAVAILABLE")
