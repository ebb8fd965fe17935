"""The state machines decide which changes are legal: what a user sees as "refused, because ..."
before anything touches a card or an SM-DP+."""
import asyncio
import itertools
import logging

import pytest
from transitions.core import MachineError

from esimflow.machines import (
    CardHold,
    Change,
    DeviceMigrationOutcome,
    DownloadSession,
    EuiccContext,
    HoldState,
    IllegalTransition,
    InvalidMachineData,
    OsUpdate,
    ProfileStatus,
    Status,
    legal_cancel_reasons,
)
from esimflow.machines.download_session import Phase as SessionPhase
from sgp22.es10_enums import CancelSessionReason, OsuStatus, PolicyRules, ProfileClass, ResetOption
from esimflow.migration.model import Outcome
from esimflow.workflows import rsp

R = CancelSessionReason

# --- ProfileStatus ----------------------------------------------------------------------------

# every legal (from, trigger) -> to of the operator platform model; anything else must raise
PLATFORM_CHANGES = {
    (Status.AVAILABLE, "regenerate_ac"): Status.AVAILABLE,
    (Status.DELETED, "regenerate_ac"): Status.AVAILABLE,
    (Status.EXPIRED, "regenerate_ac"): Status.AVAILABLE,
    (Status.CANCELED, "regenerate_ac"): Status.AVAILABLE,
    (Status.AVAILABLE, "download"): Status.DOWNLOADED,
    (Status.DOWNLOADED, "abandon"): Status.AVAILABLE,
    (Status.AVAILABLE, "refuse"): Status.CANCELED,
    (Status.DOWNLOADED, "refuse"): Status.CANCELED,
    (Status.DOWNLOADED, "install"): Status.INSTALLED,
    (Status.INSTALLED, "enable"): Status.ENABLED,
    (Status.DISABLED, "enable"): Status.ENABLED,
    (Status.ENABLED, "disable"): Status.DISABLED,
    (Status.INSTALLED, "delete"): Status.DELETED,
    (Status.DISABLED, "delete"): Status.DELETED,
    (Status.INSTALLED, "reset"): Status.DELETED,
    (Status.DISABLED, "reset"): Status.DELETED,
    (Status.ENABLED, "reset"): Status.DELETED,
    (Status.DELETED, "reuse"): Status.AVAILABLE,
    (Status.AVAILABLE, "expire"): Status.EXPIRED,
    (Status.DOWNLOADED, "expire"): Status.EXPIRED,
    (Status.AVAILABLE, "cancel"): Status.CANCELED,
    (Status.DOWNLOADED, "cancel"): Status.CANCELED,
    (Status.AVAILABLE, "remove"): Status.REMOVED,
    (Status.DELETED, "remove"): Status.REMOVED,
    (Status.EXPIRED, "remove"): Status.REMOVED,
    (Status.CANCELED, "remove"): Status.REMOVED,
}
TRIGGERS = sorted({trigger for _, trigger in PLATFORM_CHANGES})


@pytest.mark.parametrize("status,trigger", list(itertools.product(Status, TRIGGERS)))
def test_profile_status_allows_exactly_the_platform_changes(status, trigger):
    profile = ProfileStatus(status)
    expected = PLATFORM_CHANGES.get((status, trigger))
    if expected is None:
        with pytest.raises(IllegalTransition) as refused:
            getattr(profile, trigger)()
        assert f"cannot {trigger} from {status}" in str(refused.value)
        assert profile.status == status
    else:
        change = getattr(profile, trigger)(reason="operator request")
        assert change == Change("ProfileStatus", trigger, status, expected, "operator request")
        assert profile.status == expected


def test_a_profile_lifecycle_yields_its_records_in_order():
    profile = ProfileStatus()
    for trigger in ("download", "install", "enable", "disable", "delete", "regenerate_ac", "remove"):
        getattr(profile, trigger)()
    assert [(c.from_state, c.to_state, c.trigger) for c in profile.changes] == [
        ("AVAILABLE", "DOWNLOADED", "download"),
        ("DOWNLOADED", "INSTALLED", "install"),
        ("INSTALLED", "ENABLED", "enable"),
        ("ENABLED", "DISABLED", "disable"),
        ("DISABLED", "DELETED", "delete"),
        ("DELETED", "AVAILABLE", "regenerate_ac"),
        ("AVAILABLE", "REMOVED", "remove"),
    ]
    assert profile.is_final
    with pytest.raises(IllegalTransition, match=r"legal from REMOVED: none \(final state\)"):
        profile.regenerate_ac()


def test_illegal_change_is_a_machine_error_with_the_legal_alternatives():
    profile = ProfileStatus(Status.ENABLED)
    with pytest.raises(MachineError) as refused:
        profile.delete()
    error = refused.value
    assert isinstance(error, IllegalTransition)
    assert str(error) == "ProfileStatus: cannot delete from ENABLED (legal from ENABLED: disable, reset)"
    assert (error.kind, error.retryable, error.trigger, error.state) == (
        "machine.illegal_transition", False, "delete", "ENABLED")
    assert error.to_dict()["kind"] == "machine.illegal_transition"


def test_unknown_trigger_and_unknown_state_raise_typed_errors():
    with pytest.raises(IllegalTransition, match="no trigger 'explode'"):
        ProfileStatus().fire("explode")
    with pytest.raises(InvalidMachineData, match="no state 'LOST'"):
        ProfileStatus("LOST")


def test_a_memory_reset_of_an_enabled_profile_is_one_change_not_disable_then_delete():
    profile = ProfileStatus(Status.ENABLED)
    assert profile.reset() == Change("ProfileStatus", "reset", "ENABLED", "DELETED")
    assert profile.changes == [Change("ProfileStatus", "reset", "ENABLED", "DELETED")]


def test_drift_records_a_refused_move_the_device_made_naming_the_refusal():
    profile = ProfileStatus(Status.ENABLED, iccid="8949000000000000001")
    change = profile.drift("delete", reason="deleted by another LPA")
    assert (change.from_state, change.to_state, change.trigger, change.subject) == (
        "ENABLED", "DELETED", "delete", "8949000000000000001")
    assert change.drift == "ProfileStatus: cannot delete from ENABLED (legal from ENABLED: disable, reset)"
    assert profile.status == Status.DELETED and profile.changes == [change]
    legal = ProfileStatus(Status.DISABLED).drift("delete")
    assert legal.drift is None and legal.to_state == "DELETED"
    with pytest.raises(IllegalTransition, match="no trigger 'explode'"):
        ProfileStatus().drift("explode")


def test_can_answers_without_changing_anything():
    profile = ProfileStatus(Status.DOWNLOADED)
    assert profile.can("install") and not profile.can("enable") and not profile.can("explode")
    assert profile.status == Status.DOWNLOADED and profile.changes == []
    assert sorted(profile.legal_triggers()) == ["abandon", "cancel", "expire", "install", "refuse"]


def test_models_share_one_compiled_machine_but_keep_their_own_state():
    first, second = ProfileStatus(), ProfileStatus()
    first.download()
    assert first.machine is second.machine
    assert (first.status, second.status) == (Status.DOWNLOADED, Status.AVAILABLE)
    assert second.changes == [] and first.machine.models == []


# --- EuiccProfile ------------------------------------------------------------------------------


def test_switch_disables_the_profile_on_the_same_port_and_journals_both():
    euicc = EuiccContext()
    old = euicc.add("8949000000000000001", state="enabled")
    new = euicc.add("8949000000000000002")
    other_port = euicc.add("8949000000000000003", state="enabled", port=1)
    change = new.enable(reason="switch")
    assert (old.state, new.state, other_port.state) == ("disabled", "enabled", "enabled")
    assert change.subject == "8949000000000000002"
    assert [(c.subject, c.trigger, c.to_state, c.reason) for c in euicc.journal] == [
        ("8949000000000000001", "disable", "disabled", "replaced by 8949000000000000002"),
        ("8949000000000000002", "enable", "enabled", "switch"),
    ]


def test_ppr1_blocks_disable_and_a_switch_away():
    euicc = EuiccContext()
    locked = euicc.add("8949000000000000001", state="enabled", policy_rules=PolicyRules.POLICY_RULE_DISABLE_NOT_ALLOWED)
    target = euicc.add("8949000000000000002")
    with pytest.raises(IllegalTransition) as refused:
        locked.disable()
    assert refused.value.kind == "machine.euicc_profile.ppr1"
    assert refused.value.win_status_name == "PolicyViolation"
    assert "PPR1" in str(refused.value)
    with pytest.raises(IllegalTransition, match="8949000000000000001, enabled on port 0, has policy rule PPR1"):
        target.enable()
    assert (locked.state, target.state) == ("enabled", "installed")
    assert euicc.journal == []


def test_ppr2_blocks_delete_and_enabled_profiles_are_not_deleted():
    euicc = EuiccContext()
    keep = euicc.add("8949000000000000001", policy_rules=PolicyRules.POLICY_RULE_DELETE_NOT_ALLOWED)
    with pytest.raises(IllegalTransition) as refused:
        keep.delete()
    assert (refused.value.kind, refused.value.oh_result_name) == ("machine.euicc_profile.ppr2",
                                                                    "RESULT_PROFILE_NON_DELETE")
    enabled = euicc.add("8949000000000000002", state="enabled")
    with pytest.raises(IllegalTransition, match="cannot delete from enabled"):
        enabled.delete()
    enabled.disable()
    assert enabled.delete().to_state == "deleted"


def test_test_profiles_need_test_mode():
    euicc = EuiccContext(test_mode=False)
    test_profile = euicc.add("8949000000000000009", profile_class=ProfileClass.test)
    with pytest.raises(IllegalTransition) as refused:
        test_profile.enable()
    assert refused.value.win_status_name == "OperationProhibitedByProfileClass"
    assert "not in test mode" in str(refused.value)
    euicc.test_mode = True
    assert test_profile.enable().to_state == "enabled"


def test_provisioning_profile_does_not_replace_an_operational_one():
    euicc = EuiccContext()
    operational = euicc.add("8949000000000000001", state="enabled")
    provisioning = euicc.add("8949000000000000002", profile_class=ProfileClass.provisioning)
    with pytest.raises(IllegalTransition, match="is a provisioning profile"):
        provisioning.enable()
    operational.disable()
    assert provisioning.enable().to_state == "enabled"


def test_memory_reset_deletes_by_class_and_option_regardless_of_ppr2():
    euicc = EuiccContext()
    operational = euicc.add("8949000000000000001", state="enabled", policy_rules=PolicyRules.POLICY_RULE_DELETE_NOT_ALLOWED)
    test_profile = euicc.add("8949000000000000002", profile_class=ProfileClass.test)
    provisioning = euicc.add("8949000000000000003", profile_class=ProfileClass.provisioning)
    options = ResetOption.DELETE_OPERATIONAL_PROFILES
    assert [p.can("reset", options=options) for p in (operational, test_profile, provisioning)] == [True, False, False]
    with pytest.raises(IllegalTransition, match="reset options DELETE_OPERATIONAL_PROFILES do not delete test"):
        test_profile.reset(options=options)
    operational.reset(options=options)
    assert operational.state == "deleted"


def test_two_enabled_profiles_on_one_port_is_refused_as_bad_data():
    euicc = EuiccContext()
    euicc.add("8949000000000000001", state="enabled")
    with pytest.raises(InvalidMachineData, match="cannot both be enabled on port 0"):
        euicc.add("8949000000000000002", state="enabled")
    with pytest.raises(InvalidMachineData, match="unknown profile class"):
        euicc.add("8949000000000000003", profile_class=7)


# --- DownloadSession ---------------------------------------------------------------------------

PATH_TO = {
    SessionPhase.IDLE: [],
    SessionPhase.AUTHENTICATED: ["authenticate"],
    SessionPhase.METADATA_REVIEWED: ["authenticate", "review_metadata"],
    SessionPhase.AWAITING_CONSENT: ["authenticate", "review_metadata", "ask_consent"],
    SessionPhase.AWAITING_CONFIRMATION_CODE: ["authenticate", "review_metadata", "ask_confirmation_code"],
    SessionPhase.PREPARED: ["authenticate", "review_metadata", "prepare"],
    SessionPhase.PACKAGE_RECEIVED: ["authenticate", "review_metadata", "prepare", "receive_package"],
    SessionPhase.INSTALLING: ["authenticate", "review_metadata", "prepare", "receive_package", "load"],
    SessionPhase.INSTALLED: ["authenticate", "review_metadata", "prepare", "receive_package", "load",
                             "finish_install"],
    SessionPhase.NOTIFIED: ["authenticate", "review_metadata", "prepare", "receive_package", "load",
                            "finish_install", "notify"],
}

# SGP.22 / reference notes section 8, written out independently of the module's table
EXPECTED_REASONS = {
    SessionPhase.IDLE: set(),
    SessionPhase.AUTHENTICATED: {127},
    SessionPhase.METADATA_REVIEWED: {0, 1, 2, 3, 127},
    SessionPhase.AWAITING_CONSENT: {0, 1, 2, 3, 127},
    SessionPhase.AWAITING_CONFIRMATION_CODE: {0, 1, 2, 3, 127},
    SessionPhase.PREPARED: {127},
    SessionPhase.PACKAGE_RECEIVED: {4, 127},
    SessionPhase.INSTALLING: {5, 127},
    SessionPhase.INSTALLED: set(),
    SessionPhase.NOTIFIED: set(),
}


def session_in(phase):
    session = DownloadSession("A1B2C3")
    for trigger in PATH_TO[phase]:
        getattr(session, trigger)()
    assert session.phase == phase
    return session


def test_cancel_session_reason_values_are_sgp22s():
    assert {r.name: int(r) for r in R} == {
        "endUserRejection": 0, "postponed": 1, "timeout": 2, "pprNotAllowed": 3,
        "metadataMismatch": 4, "loadBppExecutionError": 5, "undefinedReason": 127}


@pytest.mark.parametrize("phase,reason", list(itertools.product(PATH_TO, R)))
def test_cancel_is_legal_exactly_with_the_phases_reasons(phase, reason):
    session = session_in(phase)
    legal = int(reason) in EXPECTED_REASONS[phase]
    assert (reason in legal_cancel_reasons(phase)) == legal
    assert session.holds_session == bool(EXPECTED_REASONS[phase])
    if legal:
        change = session.cancel(reason)
        assert (change.from_state, change.to_state, change.reason) == (phase, "cancelled", reason.name)
    else:
        with pytest.raises(IllegalTransition) as refused:
            session.cancel(reason)
        assert session.phase == phase
        if EXPECTED_REASONS[phase]:
            assert refused.value.kind == "machine.download_session.illegal_cancel_reason"
            assert f"reason {reason.name} ({int(reason)}) is not legal in {phase}" in str(refused.value)


def test_cancel_with_a_value_outside_the_enum_is_refused():
    session = session_in(SessionPhase.AWAITING_CONSENT)
    with pytest.raises(IllegalTransition, match=r"reason 42 is not legal in awaiting_consent \(legal here: "
                                                r"endUserRejection \(0\)"):
        session.cancel(42)
    assert session.cancel(2).reason == "timeout"


def test_confirmation_code_is_asked_for_before_prepare_when_required():
    session = DownloadSession("A1B2C3")
    session.authenticate()
    session.review_metadata(cc_required=True)
    with pytest.raises(IllegalTransition) as refused:
        session.prepare()
    assert refused.value.win_status_name == "ConfirmationCodeMissing"
    session.ask_consent()
    with pytest.raises(IllegalTransition, match="confirmation code is required"):
        session.prepare()
    session.ask_confirmation_code()
    assert session.prepare().to_state == "prepared"


def test_a_failed_session_is_final_and_cannot_be_cancelled():
    session = session_in(SessionPhase.PREPARED)
    session.fail(reason="es9.8.2/3.7")
    assert session.is_final
    with pytest.raises(IllegalTransition, match="cannot cancel from failed"):
        session.cancel(R.undefinedReason)


def test_cancel_reason_answers_the_wanted_reason_or_none_without_a_session():
    session = DownloadSession(state=SessionPhase.METADATA_REVIEWED)
    assert session.cancel_reason(R.postponed) is R.postponed and session.cancel_reason(int(R.timeout)) is R.timeout
    assert DownloadSession().cancel_reason(R.postponed) is None  # no session held: nothing to cancel


def test_an_illegal_cancel_reason_raises_in_tests_and_is_replaced_in_service(monkeypatch):
    session = DownloadSession(state=SessionPhase.PREPARED)
    assert DownloadSession.strict_cancel_reasons  # tests/conftest.py
    with pytest.raises(IllegalTransition, match=r"reason postponed \(1\) is not legal in prepared") as refused:
        session.cancel_reason(R.postponed)
    assert refused.value.kind == "machine.download_session.illegal_cancel_reason"
    monkeypatch.setattr(DownloadSession, "strict_cancel_reasons", False)
    assert session.cancel_reason(R.postponed) is R.undefinedReason
    assert session.phase == SessionPhase.PREPARED


# --- OsUpdate -----------------------------------------------------------------------------------


@pytest.mark.parametrize("triggers,outcome", [
    (["service_unavailable"], OsuStatus.EUICC_UPGRADE_SERVICE_UNAVAILABLE),
    (["check", "already_latest"], OsuStatus.EUICC_UPGRADE_ALREADY_LATEST),
    (["check", "start"], OsuStatus.EUICC_UPGRADE_IN_PROGRESS),
    (["check", "start", "succeed"], OsuStatus.EUICC_UPGRADE_SUCCESSFUL),
    (["check", "start", "fail"], OsuStatus.EUICC_UPGRADE_FAILED),
    (["check", "service_unavailable", "retry", "start", "succeed"], OsuStatus.EUICC_UPGRADE_SUCCESSFUL),
])
def test_os_update_reaches_each_osu_status(triggers, outcome):
    update = OsUpdate("89049032123451234512345678901235")
    for trigger in triggers:
        getattr(update, trigger)()
    assert update.osu_status == outcome


@pytest.mark.parametrize("reports,outcome", [
    ([OsuStatus.EUICC_UPGRADE_SUCCESSFUL], OsuStatus.EUICC_UPGRADE_SUCCESSFUL),
    ([OsuStatus.EUICC_UPGRADE_IN_PROGRESS, OsuStatus.EUICC_UPGRADE_IN_PROGRESS, OsuStatus.EUICC_UPGRADE_SUCCESSFUL],
     OsuStatus.EUICC_UPGRADE_SUCCESSFUL),
    ([OsuStatus.EUICC_UPGRADE_ALREADY_LATEST], OsuStatus.EUICC_UPGRADE_ALREADY_LATEST),
    ([OsuStatus.EUICC_UPGRADE_SERVICE_UNAVAILABLE], OsuStatus.EUICC_UPGRADE_SERVICE_UNAVAILABLE),
    ([OsuStatus.EUICC_UPGRADE_IN_PROGRESS, OsuStatus.EUICC_UPGRADE_SERVICE_UNAVAILABLE], OsuStatus.EUICC_UPGRADE_FAILED),
    ([int(OsuStatus.EUICC_UPGRADE_IN_PROGRESS), int(OsuStatus.EUICC_UPGRADE_FAILED)], OsuStatus.EUICC_UPGRADE_FAILED),
])
def test_the_os_update_machine_computes_the_outcome_from_the_cards_reports(reports, outcome):
    update = OsUpdate()
    update.check()
    answers = [update.report(reported) for reported in reports]
    assert answers[-1] == outcome == update.osu_status
    assert update.changes[-1].reason == OsuStatus(reports[-1]).name


def test_an_update_still_in_progress_when_polling_ends_is_failed_and_a_late_report_is_refused():
    update = OsUpdate()
    update.check()
    assert update.report(OsuStatus.EUICC_UPGRADE_IN_PROGRESS) == OsuStatus.EUICC_UPGRADE_IN_PROGRESS
    assert update.give_up() == OsuStatus.EUICC_UPGRADE_FAILED and not update.is_final
    done = OsUpdate()
    done.check()
    done.report(OsuStatus.EUICC_UPGRADE_SUCCESSFUL)
    with pytest.raises(IllegalTransition, match="a report of EUICC_UPGRADE_FAILED cannot follow"):
        done.report(OsuStatus.EUICC_UPGRADE_FAILED)


def test_osu_status_values_are_openharmonys():
    assert {s.name: int(s) for s in OsuStatus} == {
        "EUICC_UPGRADE_IN_PROGRESS": 1, "EUICC_UPGRADE_FAILED": 2, "EUICC_UPGRADE_SUCCESSFUL": 3,
        "EUICC_UPGRADE_ALREADY_LATEST": 4, "EUICC_UPGRADE_SERVICE_UNAVAILABLE": 5}


@pytest.mark.parametrize("triggers,illegal", [
    ([], "start"),  # an update starts only after the version check
    (["check", "start"], "service_unavailable"),  # lost mid-update is a failure
    (["check", "already_latest"], "retry"),
    (["check", "start", "succeed"], "fail"),
])
def test_os_update_refuses_other_changes(triggers, illegal):
    update = OsUpdate()
    for trigger in triggers:
        getattr(update, trigger)()
    with pytest.raises(IllegalTransition):
        getattr(update, illegal)()
    assert OsUpdate().osu_status is None


# --- DeviceMigrationOutcome --------------------------------------------------------------------


@pytest.mark.parametrize("triggers,outcome", [
    (["skip"], "skipped"),
    (["fail"], "failed"),
    (["withdraw"], "rolled_back"),
    (["start", "migrate"], "migrated"),
    (["start", "fail"], "failed"),  # rollback off: left as is
    (["start", "roll_back", "restore"], "rolled_back"),
    (["start", "roll_back", "fail"], "failed"),
])
def test_a_device_migration_ends_in_exactly_one_outcome(triggers, outcome):
    device = DeviceMigrationOutcome("89049032123451234512345678901235")
    *on_the_way, last = triggers
    for trigger in on_the_way:
        getattr(device, trigger)()
        assert device.outcome is None
    assert device.end(last, reason="why") == outcome == device.outcome
    for trigger in ("skip", "fail", "migrate", "restore", "withdraw"):
        with pytest.raises(IllegalTransition):
            device.end(trigger)  # never a second outcome
    assert device.outcome == outcome


def test_the_outcomes_are_the_migration_reports_and_only_ending_triggers_end():
    states = DeviceMigrationOutcome.machine.states
    assert sorted(name for name, state in states.items() if state.final) == sorted(Outcome.ALL)
    device = DeviceMigrationOutcome()
    with pytest.raises(IllegalTransition, match="start does not end a device migration"):
        device.end("start")
    with pytest.raises(IllegalTransition, match="cannot migrate from checking"):
        device.end("migrate")  # nothing was changed: a device is not migrated without a change
    assert device.state == "checking"


# --- CardHold ----------------------------------------------------------------------------------


@pytest.mark.parametrize("triggers,end", [
    (["grant", "release"], HoldState.RELEASED),
    (["release"], HoldState.WITHDRAWN),  # released while it waited its turn: never granted
    (["grant", "drop"], HoldState.DROPPED),  # the holder ended without releasing it
])
def test_a_hold_is_granted_once_and_ends_once(triggers, end):
    hold = CardHold("m1234")
    assert hold.waiting and not hold.granted
    for trigger in triggers:
        change = getattr(hold, trigger)(reason="why")
    assert (hold.state, hold.is_final, change.subject) == (end, True, "m1234")
    for trigger in ("grant", "release", "drop"):
        assert not hold.can(trigger)
        with pytest.raises(IllegalTransition):
            getattr(hold, trigger)()


def test_a_hold_not_granted_cannot_be_dropped():
    with pytest.raises(IllegalTransition, match="cannot drop from requested"):
        CardHold().drop()


class _SigningCard:
    """Stands for the card step of a cancel: signs whatever reason it is given."""

    ref = None

    def __init__(self) -> None:
        self.reasons: list[int] = []

    async def call(self, step, step_input, result_type=None, **options):
        self.reasons.append(step_input.reason)
        return "signed"


def test_a_replaced_cancel_reason_is_sent_legal_logged_and_reported_in_service(monkeypatch, caplog):
    monkeypatch.setattr(DownloadSession, "strict_cancel_reasons", False)
    monkeypatch.setattr(rsp.workflow, "logger", logging.getLogger("esimflow.test.rsp"))
    card, session = _SigningCard(), DownloadSession("tid", state=SessionPhase.PREPARED)
    with caplog.at_level(logging.WARNING, logger="esimflow.test.rsp"):
        outcome = asyncio.run(rsp.cancel_session(card, session, None, "tid", R.postponed))
    assert card.reasons == [int(R.undefinedReason)] and session.phase == SessionPhase.CANCELLED
    assert (outcome["reason"], outcome["requested"]) == ("undefinedReason", "postponed")
    assert "cancel reason postponed is not legal in prepared" in caplog.text
