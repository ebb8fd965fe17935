"""The lab SM-DP+ inventory: the status model, history, confirmation codes, persistence."""
from __future__ import annotations

import hashlib
import sqlite3

import pytest

from sgp22.errors import BadInputError

from rsplab.smdp.inventory import Inventory, InventoryError, NewProfile, ProfileNotFoundError, mask
from esimflow.machines import ProfileStatus as StatusMachine
from rsplab.smdp.status import CANCEL_REASON_EVENTS, EVENTS, IllegalStatusChange, ProfileStatus, move

from tests.lab.test_lab_smdp_kit import iccid_for

S = ProfileStatus
EID = "89049032000000000000000000000163"


@pytest.mark.parametrize("status", list(ProfileStatus))
def test_the_lab_moves_profiles_through_the_platform_machine_and_refuses_with_a_lab_error(status):
    for event in EVENTS:
        machine = StatusMachine(status)
        if machine.can(event):
            change = move(status, event, reason="why")
            assert (change.trigger, change.from_state, change.to_state, change.reason) == (
                event, status, machine.fire(event).to_state, "why")
        else:
            with pytest.raises(IllegalStatusChange) as refused:
                move(status, event)
            assert (refused.value.current, refused.value.event) == (status, event)
            assert f"cannot {event} from {status}" in refused.value.message


def test_a_memory_reset_deletes_an_enabled_profile_in_one_change_a_delete_does_not():
    assert (move(S.ENABLED, "reset").trigger, move(S.ENABLED, "reset").to_state) == ("reset", S.DELETED)
    with pytest.raises(IllegalStatusChange):
        move(S.ENABLED, "delete")


def test_user_rejection_cancels_the_order_while_postponing_keeps_it():
    assert set(CANCEL_REASON_EVENTS.values()) <= set(EVENTS)
    assert CANCEL_REASON_EVENTS["endUserRejection"] == "refuse"
    assert CANCEL_REASON_EVENTS["pprNotAllowed"] == "refuse"
    assert {CANCEL_REASON_EVENTS[r] for r in ("postponed", "timeout", "loadBppExecutionError")} == {"abandon"}


@pytest.fixture
def inventory(tmp_path):
    with Inventory(tmp_path / "smdp.db") as inventory:
        yield inventory


def test_added_profile_is_available_with_a_generated_matching_id(inventory):
    profile = inventory.add_profile(NewProfile(iccid=iccid_for(1)))
    assert profile.status == S.AVAILABLE and profile.released and not profile.cc_required
    assert len(profile.matching_id) == 19 and profile.matching_id.count("-") == 3
    assert profile.matching_id not in repr(profile)
    assert inventory.find_by_matching_id(profile.matching_id).iccid == profile.iccid
    (change,) = inventory.history(profile.iccid)
    assert (change.event, change.from_status, change.to_status) == ("add", None, "AVAILABLE")


def test_confirmation_code_is_stored_as_its_sha256_only(inventory, tmp_path):
    inventory.add_profile(NewProfile(iccid=iccid_for(2), confirmation_code="8452-ZZ"))
    raw = (tmp_path / "smdp.db").read_bytes() + (tmp_path / "smdp.db-wal").read_bytes()
    assert b"8452-ZZ" not in raw
    profile = inventory.get(iccid_for(2))
    assert profile.cc_required and profile.cc_hash == hashlib.sha256(b"8452-ZZ").digest()
    assert inventory.record_cc_failure(profile.iccid) == (1, 3)
    assert inventory.record_cc_failure(profile.iccid) == (2, 3)
    assert inventory.get(profile.iccid).cc_failures == 2


@pytest.mark.parametrize("fields, message", [
    ({"iccid": "89490000000000000016"}, "Luhn"),
    ({"iccid": "12"}, "ICCID"),
    ({"iccid": iccid_for(3), "eid": "89049032000000000000000000000164"}, "check digits"),
    ({"iccid": iccid_for(3), "profile_class": "gold"}, "profile class"),
    ({"iccid": iccid_for(3), "matching_id": "A$B"}, "matching ID"),
    ({"iccid": iccid_for(3), "confirmation_code": ""}, "confirmation code"),
    ({"iccid": iccid_for(3), "size": -1}, "size"),
])
def test_bad_profile_input_is_refused_before_anything_is_stored(inventory, fields, message):
    with pytest.raises(BadInputError, match=message):
        inventory.add_profile(NewProfile(**fields))
    assert inventory.profiles() == []


def test_duplicate_iccid_or_matching_id_is_refused_without_echoing_the_matching_id(inventory):
    inventory.add_profile(NewProfile(iccid=iccid_for(4), matching_id="SECRET-MATCHING-ID"))
    with pytest.raises(InventoryError, match="ICCID"):
        inventory.add_profile(NewProfile(iccid=iccid_for(4)))
    with pytest.raises(InventoryError) as raised:
        inventory.add_profile(NewProfile(iccid=iccid_for(5), matching_id="SECRET-MATCHING-ID"))
    assert "SECRET-MATCHING-ID" not in raised.value.message and mask("SECRET-MATCHING-ID") in raised.value.message


def test_status_changes_are_recorded_with_time_from_to_reason_and_eid(inventory):
    iccid = inventory.add_profile(NewProfile(iccid=iccid_for(6))).iccid
    inventory.apply(iccid, "download", eid=EID, reason="bound profile package delivered")
    assert inventory.get(iccid).downloaded_eid == EID
    inventory.apply(iccid, "install", eid=EID)
    with pytest.raises(IllegalStatusChange):
        inventory.apply(iccid, "expire")
    history = inventory.history(iccid)
    assert [(c.event, c.from_status, c.to_status) for c in history] == [
        ("add", None, "AVAILABLE"), ("download", "AVAILABLE", "DOWNLOADED"), ("install", "DOWNLOADED", "INSTALLED")]
    assert history[1].reason == "bound profile package delivered" and history[1].eid == EID
    assert history[0].at <= history[1].at <= history[2].at


def test_expect_refuses_a_change_when_an_admin_moved_the_profile_first(inventory):
    iccid = inventory.add_profile(NewProfile(iccid=iccid_for(7))).iccid
    inventory.apply(iccid, "expire")
    with pytest.raises(IllegalStatusChange):
        inventory.apply(iccid, "download", expect=S.AVAILABLE)
    assert inventory.get(iccid).status == S.EXPIRED


def test_reissue_gives_a_new_matching_id_and_resets_the_code_counter(inventory):
    profile = inventory.add_profile(NewProfile(iccid=iccid_for(8), confirmation_code="1"))
    inventory.record_cc_failure(profile.iccid)
    inventory.apply(profile.iccid, "cancel")
    again = inventory.reissue(profile.iccid, confirmation_code="2")
    assert again.status == S.AVAILABLE and again.cc_failures == 0
    assert again.matching_id != profile.matching_id
    assert again.cc_hash == hashlib.sha256(b"2").digest()


def test_waiting_for_lists_released_available_profiles_bound_to_the_eid(inventory):
    inventory.add_profile(NewProfile(iccid=iccid_for(9), eid=EID))
    inventory.add_profile(NewProfile(iccid=iccid_for(10), eid=EID, released=False))
    inventory.add_profile(NewProfile(iccid=iccid_for(11)))
    assert [p.iccid for p in inventory.waiting_for(EID)] == [iccid_for(9)]
    inventory.set_released(iccid_for(10))
    assert [p.iccid for p in inventory.waiting_for(EID)] == [iccid_for(9), iccid_for(10)]


def test_inventory_survives_reopening(tmp_path):
    with Inventory(tmp_path / "smdp.db") as first:
        iccid = first.add_profile(NewProfile(iccid=iccid_for(12), eid=EID, ppr1=True, size=2048)).iccid
        first.apply(iccid, "download", eid=EID)
        first.remember_euicc(EID, b"euicc-cert", b"eum-cert")
        first.set_meta("address", "localhost:9443")
    with Inventory(tmp_path / "smdp.db") as second:
        profile = second.get(iccid)
        assert (profile.status, profile.ppr1, profile.size, profile.eid) == (S.DOWNLOADED, True, 2048, EID)
        assert len(second.history(iccid)) == 2
        assert second.euicc_certificates(EID) == (b"euicc-cert", b"eum-cert")
        assert second.meta("address") == "localhost:9443"


def test_unknown_profile_and_foreign_file_are_typed_errors(inventory, tmp_path):
    with pytest.raises(ProfileNotFoundError):
        inventory.get(iccid_for(13))
    with pytest.raises(ProfileNotFoundError):
        inventory.history(iccid_for(13))
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)").connection.execute(
        "INSERT INTO meta VALUES ('schema', '99')").connection.commit()
    with pytest.raises(InventoryError, match="schema"):
        Inventory(other)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(InventoryError):
        Inventory(garbage)
