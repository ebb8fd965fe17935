"""OpenHarmony's DownloadableProfile in and out: `available` answers it, `download` and
`metadata` take it back (`--profile-json`), so an OpenHarmony-style front end can hand the same
JSON object around. The CLI half runs against the recording driver of test_engine_cli.py; the
engine half on the time-skipping server with the lab SM-DP+ (also the lab SM-DS)."""
from __future__ import annotations

import json

import pytest

from esimcli.exit_codes import ExitCode
from esimflow import contract
from esimflow.openharmony import DownloadableProfileError, downloadable_profile_from_json
from tests.engine.engine_stack import new_iccid
from tests.engine.test_engine_cli import (  # noqa: F401  (fixtures)
    ACTIVATION_CODE, CONFIRMATION_CODE, EID, ICCID, MATCHING_ID, engine, invoke, runner,
)
from tests.engine.test_engine_workflow_euicc import card, smdp  # noqa: F401  (fixtures)
from tests.engine.engine_stack import running_engine

CERT_HASH = "AB" * 32
PROFILE = {
    "activationCode": ACTIVATION_CODE,
    "confirmationCode": CONFIRMATION_CODE,
    "carrierName": "Lab Telecom",
    "accessRules": [{"certificateHashHexStr": CERT_HASH.lower(), "packageName": "com.example.dialer",
                     "accessType": 0}],
}


def downloaded() -> contract.OperationResult:
    return contract.OperationResult.success(contract.Operation.DOWNLOAD_PROFILE, EID, {"iccid": ICCID})


@pytest.mark.parametrize("verb", ["download", "metadata"])
def test_a_downloadable_profile_from_stdin_becomes_the_input(runner, engine, verb):
    engine.answer = downloaded()
    outcome = invoke(runner, verb, "--eid", EID, "--profile-json", "-", "--json", input=json.dumps(PROFILE))
    assert outcome.exit_code == 0, outcome.output
    (sent,) = engine.inputs
    assert (sent.activation_code, sent.confirmation_code, sent.carrier_name) == (
        ACTIVATION_CODE, CONFIRMATION_CODE, "Lab Telecom")
    assert sent.access_rules == [{"certificate_hash": CERT_HASH, "package_name": "com.example.dialer",
                                  "access_type": 0}]
    assert MATCHING_ID not in outcome.output and CONFIRMATION_CODE not in outcome.output


def test_a_downloadable_profile_file_without_activation_code_uses_the_argument(runner, engine, tmp_path):
    engine.answer = downloaded()
    document = tmp_path / "profile.json"
    document.write_text(json.dumps({"carrierName": "Lab Telecom"}))
    outcome = invoke(runner, "download", "--eid", EID, "--profile-json", str(document), ACTIVATION_CODE)
    assert outcome.exit_code == 0, outcome.output
    assert engine.inputs[0].activation_code == ACTIVATION_CODE
    assert engine.inputs[0].carrier_name == "Lab Telecom"


@pytest.mark.parametrize("document, args, expected", [
    (PROFILE, [ACTIVATION_CODE], "not both"),
    ({"confirmationCode": CONFIRMATION_CODE}, ["--confirmation-code", CONFIRMATION_CODE], "not both"),
    ({**PROFILE, "matchingId": MATCHING_ID}, [], "unknown DownloadableProfile keys: matchingId"),
    ({**PROFILE, "accessRules": [{"certificateHashHexStr": "zz"}]}, [], "accessRules[0].certificateHashHexStr is not hex"),
    ({**PROFILE, "accessRules": [{"certificateHashHexStr": "AB"}]}, [], "20 or 32 bytes, not 1"),
    ({**PROFILE, "accessRules": [{"certificateHashHexStr": CERT_HASH, "accessType": "all"}]}, [], "accessType"),
    ({**PROFILE, "activationCode": f"LPA:9${MATCHING_ID}"}, [], "LPA:1"),
    ([PROFILE], [], "expected a DownloadableProfile JSON object"),
    ("[" * 5000, [], "not a JSON document"),
])
def test_a_bad_downloadable_profile_is_a_usage_error_that_quotes_no_secret(runner, engine, document, args,
                                                                            expected):
    text = document if isinstance(document, str) else json.dumps(document)
    outcome = invoke(runner, "download", "--eid", EID, "--json", "--profile-json", "-", *args, input=text)
    assert outcome.exit_code == ExitCode.USAGE
    error = json.loads(outcome.stdout)["error"]
    assert error["kind"].startswith("input.") and expected in error["message"]
    assert MATCHING_ID not in outcome.output and CONFIRMATION_CODE not in outcome.output
    assert engine.inputs == []


def test_the_parser_keeps_secrets_out_of_its_repr():
    spec = downloadable_profile_from_json(json.dumps(PROFILE))
    assert MATCHING_ID not in repr(spec) and CONFIRMATION_CODE not in repr(spec)
    with pytest.raises(DownloadableProfileError):
        downloadable_profile_from_json(json.dumps({**PROFILE, "carrierName": 7}))


@pytest.fixture
async def lab_engine(time_skipping_env, tmp_path, unique_task_queue, smdp, card):  # noqa: F811
    async with running_engine(time_skipping_env.client, tmp_path, unique_task_queue, smdp=smdp,
                              cards={"card": card}) as stack:
        yield stack


@pytest.mark.temporal
async def test_available_answers_downloadable_profiles_that_download_takes_back(lab_engine, smdp, card):  # noqa: F811
    bound = new_iccid()
    smdp.add_profile(bound, eid=card.eid, service_provider_name="Lab Telecom")
    assert (await lab_engine.run(contract.SetDefaultSmdpAddressInput(card.eid, smdp.address))).ok

    found = await lab_engine.run(contract.GetDownloadableProfilesInput(card.eid))

    assert found.ok, found
    shapes = found.data["downloadable_profiles"]
    assert all(set(shape) == {"activationCode", "confirmationCode", "carrierName", "accessRules"} for shape in shapes)
    default, event = sorted(shapes, key=lambda shape: shape["activationCode"] is not None)
    assert (default["activationCode"], default["carrierName"]) == (None, "Lab Telecom")
    assert event["activationCode"].startswith(f"LPA:1${smdp.address}$")

    spec = downloadable_profile_from_json(json.dumps(event))
    installed = await lab_engine.run(contract.DownloadProfileInput(
        card.eid, spec.activation_code, carrier_name="Lab Telecom"))
    assert installed.ok, installed
    assert (installed.data["iccid"], installed.data["carrier_name"]) == (bound, "Lab Telecom")


@pytest.mark.temporal
async def test_metadata_answers_the_downloadable_profile_with_the_matching_id_masked(lab_engine, smdp, card):  # noqa: F811
    iccid = new_iccid()
    code = smdp.add_profile(iccid, service_provider_name="Lab Telecom")
    matching_id = code.rsplit("$", 1)[-1]

    preview = await lab_engine.run(contract.GetDownloadableProfileMetadataInput(card.eid, code, carrier_name="Mine"))

    assert preview.ok, preview
    shape = preview.data["downloadable_profile"]
    assert shape["carrierName"] == "Mine" and shape["confirmationCode"] is None
    assert shape["activationCode"].startswith(f"LPA:1${smdp.address}$") and matching_id not in shape["activationCode"]
