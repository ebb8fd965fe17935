"""The esimflow CLI as a script or a person meets it: arguments, output, exit codes, secrets.

The engine is replaced by a recording driver here (the real one is exercised end to end in
test_engine_cli_e2e.py); everything between the command line and the driver is the real code.
"""
from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from esimcli import download_cmd, driver, operation_cmd
from esimcli.envelope import SCHEMA_KEYS
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure
from esimcli.main import main
from esimflow import contract
from sgp22.results import OhResultCode, WinStatus

EID = "89049032000000000000000000000163"
ICCID = "8944000000000000019"
MATCHING_ID = "MATCH-7Q2K-9ZX4-SECRET"
ACTIVATION_CODE = f"LPA:1$smdp.lab.example:8443${MATCHING_ID}"
CONFIRMATION_CODE = "73915528"
API_KEY = "tmprl-api-key-0123456789abcdef"
CODEC_KEY = "11" * 32


class RecordingEngine:
    """Stands in for the Temporal driver: records inputs, answers with a prepared result."""

    def __init__(self) -> None:
        self.inputs: list = []
        self.answer: contract.OperationResult | CliFailure | None = None

    def driver(self, connection, *, display, responder, timeout):
        engine = self

        class _Driver:
            def run(self, op_input):
                engine.inputs.append(op_input)
                if isinstance(engine.answer, CliFailure):
                    raise engine.answer
                return engine.answer

        return _Driver()


@pytest.fixture
def engine(monkeypatch) -> RecordingEngine:
    recording = RecordingEngine()
    monkeypatch.setattr(operation_cmd, "OperationDriver", recording.driver)
    return recording


@pytest.fixture
def runner(monkeypatch, tmp_path) -> CliRunner:
    for name in ("ESIMFLOW_EID", "TEMPORAL_ADDRESS", "TEMPORAL_API_KEY", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY",
                 "TEMPORAL_TLS_CA", "ESIMFLOW_CONFIRMATION_CODE", "ESIMFLOW_ACTIVATION_CODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ESIMFLOW_CODEC_KEY", CODEC_KEY)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return CliRunner()


def invoke(runner: CliRunner, *args: str, **kwargs):
    return runner.invoke(main, list(args), catch_exceptions=False, **kwargs)


def profiles_result() -> contract.OperationResult:
    return contract.OperationResult.success(contract.Operation.LIST_PROFILES, EID, {
        "profiles": [{"iccid": ICCID, "state": 1, "nickname": "work", "service_provider_name": "Lab Telecom",
                      "profile_name": "Lab 1", "profile_class": 2, "policy_rules": 0}],
        "is_removable": True,
    }, workflow_id="ListProfiles-x")


def failed_download(message: str = "the SM-DP+ refused the confirmation code") -> contract.OperationResult:
    return contract.OperationResult.failure(
        contract.Operation.DOWNLOAD_PROFILE, EID, oh_result=OhResultCode.RESULT_CONFIRMATION_CODE_INCORRECT,
        win_status=WinStatus.IncorrectConfirmationCode, error_kind="es9.8.2.7/3.8", message=message,
        workflow_id="DownloadProfile-x",
    )


# --- JSON schema ---------------------------------------------------------------------------------


def test_json_success_has_the_documented_keys_and_codes(runner, engine):
    engine.answer = profiles_result()
    outcome = invoke(runner, "profiles", "--eid", EID, "--json")
    assert outcome.exit_code == ExitCode.OK
    document = json.loads(outcome.stdout)
    assert tuple(document) == SCHEMA_KEYS
    assert document["ok"] is True
    assert document["operation"] == "profiles"
    assert document["eid"] == EID
    assert document["result_code"] == {"openharmony": {"name": "RESULT_OK", "value": 0},
                                       "windows": {"name": "Success", "value": 0}}
    assert document["data"]["profiles"][0]["iccid"] == ICCID
    assert document["error"] is None
    assert engine.inputs == [contract.ListProfilesInput(eid=EID)]


def test_json_failure_carries_both_result_codes_and_a_typed_error(runner, engine):
    engine.answer = failed_download()
    outcome = invoke(runner, "download", "--eid", EID, "--json", ACTIVATION_CODE)
    assert outcome.exit_code == ExitCode.OPERATION_FAILED
    document = json.loads(outcome.stdout)
    assert tuple(document) == SCHEMA_KEYS
    assert document["ok"] is False
    assert document["result_code"]["openharmony"] == {"name": "RESULT_CONFIRMATION_CODE_INCORRECT", "value": 212}
    assert document["result_code"]["windows"] == {"name": "IncorrectConfirmationCode", "value": 8}
    assert document["error"] == {"kind": "es9.8.2.7/3.8", "message": "the SM-DP+ refused the confirmation code",
                                 "retryable": False}


def test_a_transient_failure_is_reported_retryable(runner, engine):
    engine.answer = contract.OperationResult.failure(
        contract.Operation.LIST_PROFILES, EID, oh_result=OhResultCode.RESULT_CAT_BUSY, win_status=WinStatus.CardBusy,
        error_kind="es10.catBusy", message="an RSP session is open on the card")
    document = json.loads(invoke(runner, "profiles", "--eid", EID, "--json").stdout)
    assert document["error"]["retryable"] is True


def test_every_operation_names_itself_by_its_command_path(runner, engine):
    engine.answer = contract.OperationResult.success(contract.Operation.GET_DEFAULT_SMDP_ADDRESS, EID,
                                                {"default_smdp_address": "smdp.lab.example"})
    document = json.loads(invoke(runner, "smdp", "get", "--eid", EID, "--json").stdout)
    assert document["operation"] == "smdp get"
    assert document["data"] == {"default_smdp_address": "smdp.lab.example"}


# --- human output -------------------------------------------------------------------------------


def test_human_profiles_are_a_table_on_stdout(runner, engine):
    engine.answer = profiles_result()
    outcome = invoke(runner, "profiles", "--eid", EID)
    assert outcome.exit_code == 0
    header, row = outcome.stdout.splitlines()[:2]
    assert header.split() == ["ICCID", "STATE", "CLASS", "PROVIDER", "NAME", "NICKNAME", "POLICY"]
    assert row.split()[:3] == [ICCID, "enabled", "operational"]


def test_human_failure_goes_to_stderr_with_both_codes(runner, engine):
    engine.answer = failed_download()
    outcome = invoke(runner, "download", "--eid", EID, ACTIVATION_CODE)
    assert outcome.exit_code == ExitCode.OPERATION_FAILED
    assert outcome.stdout == ""
    assert "error: the SM-DP+ refused the confirmation code" in outcome.stderr
    assert "RESULT_CONFIRMATION_CODE_INCORRECT (212)" in outcome.stderr
    assert "IncorrectConfirmationCode (8)" in outcome.stderr


def test_the_eid_can_come_from_the_environment(runner, engine, monkeypatch):
    monkeypatch.setenv("ESIMFLOW_EID", EID)
    engine.answer = profiles_result()
    assert invoke(runner, "profiles").exit_code == 0
    assert engine.inputs == [contract.ListProfilesInput(eid=EID)]


# --- usage errors: exit code 2, nothing submitted ------------------------------------------------


@pytest.mark.parametrize("args", [
    ["profiles"],                                             # no EID at all
    ["profiles", "--eid", "1234"],                            # not 32 digits
    ["profiles", "--eid", EID[:-1] + "4"],                    # check digits wrong
    ["switch", "--eid", EID, "12345"],                        # not an ICCID
    ["download", "--eid", EID, "LPA:9$x$y"],                  # not an activation code
    ["nickname", "--eid", EID, ICCID, "x" * 65],              # longer than SGP.22 allows
    ["reset", "--eid", EID],                                  # nothing named to reset
    ["reset", "--eid", EID, "--delete-operational-profiles"],  # destructive, no --yes, no terminal
    ["cancel-session", "--eid", EID, "not-hex"],
    ["smdp", "set", "--eid", EID, "https://smdp.example/path"],
    ["profiles", "--eid", EID, "--no-such-option"],
])
def test_bad_usage_exits_2_and_submits_nothing(runner, engine, args):
    outcome = invoke(runner, *args, "--json")
    assert outcome.exit_code == ExitCode.USAGE
    document = json.loads(outcome.stdout)
    assert tuple(document) == SCHEMA_KEYS
    assert document["ok"] is False
    assert document["result_code"] is None
    assert document["error"]["kind"].startswith("input.")
    assert engine.inputs == []


def test_bad_usage_without_json_is_a_message_on_stderr(runner, engine):
    outcome = invoke(runner, "profiles", "--eid", "1234")
    assert outcome.exit_code == ExitCode.USAGE
    assert outcome.stdout == ""
    assert "--eid" in outcome.stderr


# --- options reach the engine as the OpenHarmony configuration ---------------------------------


def test_download_options_become_the_download_configuration(runner, engine, monkeypatch):
    monkeypatch.setenv("ESIMFLOW_CONFIRMATION_CODE", CONFIRMATION_CODE)
    engine.answer = contract.OperationResult.success(contract.Operation.DOWNLOAD_PROFILE, EID, {"iccid": ICCID})
    outcome = invoke(runner, "download", "--eid", EID, "--switch", "--force-disable", "--ppr-allowed",
                     ACTIVATION_CODE)
    assert outcome.exit_code == 0
    (sent,) = engine.inputs
    assert sent.activation_code == ACTIVATION_CODE
    assert sent.confirmation_code == CONFIRMATION_CODE
    assert (sent.switch_after_download, sent.force_disable_profile, sent.is_ppr_allowed) == (True, True, True)
    assert not sent.ask_again_if_code_refused  # no terminal: a refused code ends the download at once


def test_on_a_terminal_a_refused_code_is_asked_again(runner, engine, monkeypatch):
    monkeypatch.setattr(download_cmd, "stdin_is_terminal", lambda: True)
    engine.answer = contract.OperationResult.success(contract.Operation.DOWNLOAD_PROFILE, EID, {"iccid": ICCID})
    assert invoke(runner, "download", "--eid", EID, ACTIVATION_CODE).exit_code == 0
    assert engine.inputs[0].ask_again_if_code_refused


def test_the_activation_code_can_be_read_from_stdin(runner, engine):
    engine.answer = contract.OperationResult.success(contract.Operation.DOWNLOAD_PROFILE, EID, {"iccid": ICCID})
    outcome = invoke(runner, "download", "--eid", EID, "-", input=ACTIVATION_CODE + "\n")
    assert outcome.exit_code == 0
    assert engine.inputs[0].activation_code == ACTIVATION_CODE


def test_the_activation_code_can_come_from_the_environment(runner, engine, monkeypatch):
    monkeypatch.setenv("ESIMFLOW_ACTIVATION_CODE", ACTIVATION_CODE)
    engine.answer = contract.OperationResult.success(contract.Operation.DOWNLOAD_PROFILE, EID, {"iccid": ICCID})
    assert invoke(runner, "download", "--eid", EID).exit_code == 0
    assert engine.inputs[0].activation_code == ACTIVATION_CODE


def test_reset_flags_combine_into_reset_options(runner, engine):
    engine.answer = contract.OperationResult.success(contract.Operation.RESET_MEMORY, EID, {})
    invoke(runner, "reset", "--eid", EID, "--delete-test-profiles", "--reset-default-smdp", "--yes")
    assert engine.inputs == [contract.ResetMemoryInput(eid=EID, options=int(
        contract.ResetOption.DELETE_FIELD_LOADED_TEST_PROFILES | contract.ResetOption.RESET_DEFAULT_SMDP_ADDRESS))]


@pytest.mark.parametrize("args, expected", [
    (["osu", "status"], contract.OsUpdateInput(eid=EID, start=False)),
    (["osu", "start"], contract.OsUpdateInput(eid=EID, start=True)),
    (["smdp", "set", "smdp.lab.example:8443"], contract.SetDefaultSmdpAddressInput(eid=EID, address="smdp.lab.example:8443")),
    (["smdp", "set", "--clear"], contract.SetDefaultSmdpAddressInput(eid=EID, address="")),
    (["switch", ICCID], contract.SwitchProfileInput(eid=EID, iccid=ICCID)),
    (["delete", ICCID], contract.DeleteProfileInput(eid=EID, iccid=ICCID)),
    (["notifications", "--seq", "3", "--seq", "5"], contract.ProcessNotificationsInput(eid=EID, sequence_numbers=[3, 5])),
    (["cancel-session", "0A1B2C", "--reason", "postponed"],
     contract.CancelSessionInput(eid=EID, transaction_id="0A1B2C", reason=int(contract.CancelReason.POSTPONED))),
    (["reserve-for-factory-restore"], contract.ReserveProfilesForFactoryRestoreInput(eid=EID)),
    (["available"], contract.GetDownloadableProfilesInput(eid=EID)),
    (["euicc-info"], contract.GetEuiccInfoInput(eid=EID)),
])
def test_each_verb_submits_its_operation(runner, engine, args, expected):
    engine.answer = contract.OperationResult.success(contract.operation_name(expected), EID, {})
    assert invoke(runner, *args, "--eid", EID).exit_code == 0
    assert engine.inputs == [expected]


# --- secrets -------------------------------------------------------------------------------------


def test_no_secret_is_printed_even_when_a_layer_echoes_it(runner, engine, monkeypatch):
    """A server error message quoting the matching ID or the code must not reach the terminal."""
    monkeypatch.setenv("ESIMFLOW_CONFIRMATION_CODE", CONFIRMATION_CODE)
    monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
    engine.answer = failed_download(f"refused {MATCHING_ID} with code {CONFIRMATION_CODE} (key {API_KEY})")
    for extra in ([], ["--json"]):
        outcome = invoke(runner, "download", "--eid", EID, ACTIVATION_CODE, *extra)
        assert outcome.exit_code == ExitCode.OPERATION_FAILED
        printed = outcome.stdout + outcome.stderr
        for secret in (MATCHING_ID, CONFIRMATION_CODE, API_KEY, CODEC_KEY):
            assert secret not in printed
        assert "refused" in printed  # the message itself still comes through, masked


def test_an_unreachable_temporal_exits_3_without_showing_the_api_key(runner, monkeypatch):
    monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
    outcome = invoke(runner, "profiles", "--eid", EID, "--json", "--address", "127.0.0.1:1")
    assert outcome.exit_code == ExitCode.TEMPORAL_UNREACHABLE
    document = json.loads(outcome.stdout)
    assert document["error"]["kind"] == "temporal.unreachable"
    assert "127.0.0.1:1" in document["error"]["message"]
    assert API_KEY not in outcome.stdout + outcome.stderr


def test_a_malformed_codec_key_is_a_usage_error_that_does_not_quote_it(runner, monkeypatch):
    monkeypatch.setenv("ESIMFLOW_CODEC_KEY", "zz-not-a-key-SECRETISH")
    outcome = invoke(runner, "profiles", "--eid", EID, "--json", "--address", "127.0.0.1:1")
    assert outcome.exit_code == ExitCode.USAGE
    assert "SECRETISH" not in outcome.stdout + outcome.stderr


def test_help_lists_every_openharmony_verb(runner):
    listed = invoke(runner, "--help").stdout
    for verb in ("eid", "euicc-info", "profiles", "available", "metadata", "download", "switch", "delete",
                 "nickname", "reset", "reserve-for-factory-restore", "smdp", "cancel-session", "osu",
                 "notifications", "worker", "lab"):
        assert f"  {verb} " in listed or f"  {verb}\n" in listed, verb


# --- what Temporal's failures become ------------------------------------------------------------


@pytest.mark.parametrize("error, exit_code, kind", [
    (RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""), ExitCode.TEMPORAL_UNREACHABLE,
     "temporal.unreachable"),
    (RPCError("bad API key", RPCStatusCode.UNAUTHENTICATED, b""), ExitCode.TEMPORAL_UNREACHABLE,
     "temporal.unreachable"),
    (RPCError("namespace esim not found", RPCStatusCode.NOT_FOUND, b""), ExitCode.TEMPORAL_UNREACHABLE,
     "temporal.unreachable"),
    (WorkflowFailureError(cause=ApplicationError("workflow bug")), ExitCode.ENGINE_FAILURE, "engine.failed"),
])
def test_temporal_failures_become_documented_exit_codes(error, exit_code, kind):
    async def failing():
        raise error

    with pytest.raises(CliFailure) as caught:
        asyncio.run(driver.engine_call(failing()))
    assert (caught.value.exit_code, caught.value.kind) == (exit_code, kind)


def test_a_worker_that_would_serve_nothing_is_refused(runner):
    outcome = invoke(runner, "worker", "--no-net")
    assert outcome.exit_code == ExitCode.USAGE
    assert "net mode" in outcome.stderr


def test_a_worker_connect_override_must_name_both_ends(runner):
    outcome = invoke(runner, "worker", "--connect", "smdp.example.com")
    assert outcome.exit_code == ExitCode.USAGE
    assert "FQDN[:PORT]=IP:PORT" in outcome.stderr


def test_a_payload_key_of_the_wrong_size_is_a_usage_error(runner, monkeypatch):
    monkeypatch.setenv("ESIMFLOW_CODEC_KEY", "ab" * 16)  # AES-128: the codec wants AES-256
    outcome = invoke(runner, "profiles", "--eid", EID, "--json", "--address", "127.0.0.1:1")
    assert outcome.exit_code == ExitCode.USAGE
    assert json.loads(outcome.stdout)["error"]["kind"].startswith(("codec", "input"))
    assert "ab" * 16 not in outcome.stdout + outcome.stderr


@pytest.mark.parametrize("verb", [["profiles", "--eid", EID, "--json"], ["worker"]])
def test_without_a_payload_key_neither_client_nor_worker_starts(runner, monkeypatch, tmp_path, verb):
    """A key made up per host (as before) would encrypt what no other host can read."""
    monkeypatch.delenv("ESIMFLOW_CODEC_KEY")
    monkeypatch.delenv("ESIMFLOW_CODEC_KEY_FILE", raising=False)
    outcome = invoke(runner, *verb, "--address", "127.0.0.1:1")
    assert outcome.exit_code == ExitCode.USAGE
    assert "no payload key configured" in outcome.stdout + outcome.stderr
    assert not (tmp_path / "state" / "esimflow" / "codec.key").exists()


def test_a_submit_under_another_payload_key_is_reported_by_its_type():
    async def failing():
        raise ApplicationError("payload encrypted with key k1, which this process was not given (it has k2)",
                               type="codec.unknown_key", non_retryable=True)

    with pytest.raises(CliFailure) as caught:
        asyncio.run(driver.engine_call(failing()))
    assert caught.value.kind == "codec.unknown_key" and "k1" in caught.value.message
