"""Fault injection in the lab SM-DP+, per endpoint, from a file and at run time."""
from __future__ import annotations

import json
import os

import httpx
import pytest

from sgp22.errors import BadInputError, HttpStatusError, ServerResponseError
from sgp22.es9 import Es9Client, Es9Config

from rsplab.smdp.faults import FaultPlan
from rsplab.smdp.server import LabSmdp
from rsplab.smdp.status import ProfileStatus

from tests.lab.test_lab_smdp_kit import Download, LpaClient, b64, iccid_for


@pytest.fixture(autouse=True)
def no_faults_left(smdp):
    yield
    smdp.clear_faults()


def initiate(lpa, euicc, path="/gsma/rsp2/es9plus/initiateAuthentication", *, smds=False) -> httpx.Response:
    return lpa.post(path, {"euiccChallenge": b64(os.urandom(16)), "euiccInfo1": b64(euicc.info1()),
                           "smdpAddress": lpa.smdp.address, "smdsAddress": lpa.smdp.smds_address}, smds=smds)


def test_http_error_for_a_number_of_calls_then_normal_answers(smdp, lpa, euicc):
    smdp.add_fault("initiateAuthentication", "http_error", status=503, count=2)
    assert [initiate(lpa, euicc).status_code for _ in range(3)] == [503, 503, 200]
    (rule,) = smdp.faults.rules()
    assert (rule["seen"], rule["applied"]) == (2, 2)


def test_dropped_connection_gives_the_client_no_answer(smdp, lpa, euicc):
    smdp.add_fault("initiateAuthentication", "drop", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        initiate(lpa, euicc)
    assert initiate(lpa, euicc).status_code == 200


def test_wrong_shape_and_garbage_answers(smdp, lpa, euicc):
    smdp.add_fault("initiateAuthentication", "wrong_shape", count=1)
    smdp.add_fault("initiateAuthentication", "garbage", count=1)
    shaped = initiate(lpa, euicc)
    assert shaped.status_code == 200 and shaped.json() == {
        "header": {"functionExecutionStatus": {"status": "Executed-Success"}}}
    garbage = initiate(lpa, euicc)
    assert garbage.status_code == 200 and garbage.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        json.loads(garbage.content)


def test_delay_then_the_normal_answer(smdp, lpa, euicc):
    smdp.add_fault("*", "delay", seconds=0.01)
    assert initiate(lpa, euicc).status_code == 200
    assert smdp.faults.rules()[0]["applied"] == 1


def test_fault_after_some_calls_on_one_endpoint_only(smdp, lpa, euicc):
    smdp.add_fault("es11.initiateAuthentication", "http_error", after=1)
    assert initiate(lpa, euicc).status_code == 200
    # at the SM-DS both path sets are ES11, so the rule counts them together
    at_smds = [initiate(lpa, euicc, f"/gsma/rsp2/{group}/initiateAuthentication", smds=True).status_code
               for group in ("es11", "es9plus", "es11")]
    assert at_smds == [200, 500, 500]


def test_error_after_processing_keeps_what_the_function_did(smdp, lpa, euicc):
    iccid = iccid_for(4001)
    matching_id = smdp.add_profile(iccid).split("$")[2]
    download = Download(lpa, euicc)
    download.authenticate_client(matching_id)
    smdp.add_fault("getBoundProfilePackage", "http_error", status=502, count=1, after_processing=True)
    response, _ = euicc.prepare_download_response(download.authenticate)
    answer = lpa.post("/gsma/rsp2/es9plus/getBoundProfilePackage", {
        "transactionId": download.initiate["transactionId"], "prepareDownloadResponse": b64(response)})
    assert answer.status_code == 502
    assert smdp.status(iccid) == ProfileStatus.DOWNLOADED


def test_probability_with_a_seed_is_reproducible(lab_identities, tmp_path):
    def applied(seed: int) -> list[int]:
        plan = FaultPlan([{"endpoint": "*", "kind": "http_error", "probability": 0.5}], seed=seed)
        return [i for i in range(40) if plan.decide("cancelSession").fault is not None]

    assert applied(7) == applied(7)
    assert 0 < len(applied(7)) < 40
    assert applied(7) != applied(8)


def test_faults_from_a_file_at_start(lab_identities, tmp_path, euicc):
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"seed": 1, "faults": [
        {"endpoint": "initiateAuthentication", "kind": "http_error", "status": 500, "count": 1}]}))
    with LabSmdp(lab_identities, tmp_path / "smdp.db", faults=faults) as server:
        client = LpaClient(server)
        try:
            assert [initiate(client, euicc).status_code for _ in range(2)] == [500, 200]
        finally:
            client.close()


@pytest.mark.parametrize("document, message", [
    ('{"faults": [{"endpoint": "nowhere", "kind": "drop"}]}', "endpoint"),
    ('{"faults": [{"kind": "explode"}]}', "kind"),
    ('{"faults": [{"kind": "delay"}]}', "seconds"),
    ('{"faults": [{"kind": "http_error", "status": 200}]}', "status"),
    ('{"faults": [{"kind": "drop", "probability": 2}]}', "probability"),
    ('{"faults": [{"kind": "drop", "colour": "red"}]}', "unknown"),
    ('{"faults": {}}', "list"),
    ("not json", "cannot read"),
])
def test_bad_fault_rules_are_refused(tmp_path, document, message):
    path = tmp_path / "faults.json"
    path.write_text(document)
    with pytest.raises(BadInputError, match=message):
        FaultPlan.from_file(path)


def test_faults_at_run_time_through_the_admin_api(smdp, lpa, euicc):
    created = lpa.admin("POST", "/faults", {"endpoint": "initiateAuthentication", "kind": "http_error",
                                             "status": 429, "count": 1})
    assert created.status_code == 201 and created.json()["kind"] == "http_error"
    assert [rule["id"] for rule in lpa.admin("GET", "/faults").json()] == [created.json()["id"]]
    assert initiate(lpa, euicc).status_code == 429
    assert lpa.admin("POST", "/faults", {"kind": "explode"}).status_code == 400
    lpa.admin("POST", "/faults", {"kind": "drop"})
    assert lpa.admin("DELETE", "/faults").json() == []
    assert initiate(lpa, euicc).status_code == 200


async def test_esimflow_client_classifies_the_injected_faults(smdp, euicc):
    config = Es9Config(ca_file=smdp.ca_file, connect_overrides=smdp.connect_overrides)
    smdp.add_fault("initiateAuthentication", "http_error", status=503, count=1)
    smdp.add_fault("initiateAuthentication", "wrong_shape", count=1, after=1)
    smdp.add_fault("initiateAuthentication", "garbage", count=1, after=2)
    async with Es9Client(smdp.address, config) as client:
        with pytest.raises(HttpStatusError) as unavailable:
            await client.initiate_authentication(os.urandom(16), euicc.info1())
        assert unavailable.value.retryable
        for _ in range(2):
            with pytest.raises(ServerResponseError):
                await client.initiate_authentication(os.urandom(16), euicc.info1())
        assert (await client.initiate_authentication(os.urandom(16), euicc.info1())).transaction_id
