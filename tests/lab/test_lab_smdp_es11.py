"""The lab SM-DS (ES11, on an address of its own), and the lab SM-DP+ and SM-DS driven by
esimflow's own ES9+/ES11 client."""
from __future__ import annotations

import os

import pytest

from sgp22.errors import Es9FunctionError
from sgp22.es9 import Es9Client, Es9Config, Es11Client

from rsplab import pki
from rsplab.smdp.status import ProfileStatus

from tests.lab.test_lab_smdp_kit import SoftEuicc, b64, codes, iccid_for, status_of

def es11_events(lpa, euicc: SoftEuicc, address: str, path_group: str = "es11") -> dict:
    initiate = lpa.es11("initiateAuthentication", {
        "euiccChallenge": b64(os.urandom(16)), "euiccInfo1": b64(euicc.info1()), "smdsAddress": address},
        path_group=path_group)
    if status_of(initiate) != "Executed-Success":
        return initiate
    return lpa.es11("authenticateClient", {
        "transactionId": initiate["transactionId"],
        "authenticateServerResponse": b64(euicc.authenticate_server_response(initiate))}, path_group=path_group)


def test_smds_has_an_address_of_its_own(smdp):
    assert smdp.smds_port != smdp.port
    assert smdp.smds_address == f"{smdp.fqdn}:{smdp.smds_port}"


@pytest.mark.parametrize("path_group", ["es11", "es9plus"])
def test_smds_lists_the_profiles_waiting_for_the_authenticated_eid(smdp, lpa, lab_identities, path_group):
    ids = pki.load(lab_identities)
    euicc = SoftEuicc.from_dir(lab_identities, ids.fleet_eids()[2])
    assert es11_events(lpa, euicc, smdp.smds_address, path_group)["eventEntries"] == []
    serial = 3001 if path_group == "es11" else 3011
    first = smdp.add_profile(iccid_for(serial), eid=euicc.eid).split("$")[2]
    second = smdp.add_profile(iccid_for(serial + 1), eid=euicc.eid).split("$")[2]
    smdp.add_profile(iccid_for(serial + 2), eid=euicc.eid, released=False)
    smdp.add_profile(iccid_for(serial + 3), eid=ids.eid)
    answer = es11_events(lpa, euicc, smdp.smds_address, path_group)
    assert status_of(answer) == "Executed-Success"
    # the events send the LPA to the SM-DP+, not back to the SM-DS
    assert answer["eventEntries"] == [{"eventId": first, "rspServerAddress": smdp.address},
                                      {"eventId": second, "rspServerAddress": smdp.address}]
    smdp.remove(iccid_for(serial))
    smdp.remove(iccid_for(serial + 1))


def test_smds_refuses_another_address_with_its_own_code(smdp, lpa, lab_identities):
    for address in ("smds.example.com", smdp.address):
        answer = es11_events(lpa, SoftEuicc.from_dir(lab_identities), address)
        assert codes(answer) == ("8.9.1", "3.8")


def test_the_smdp_address_serves_no_es11_and_the_smds_no_es9_download(smdp, lpa, lab_identities):
    assert lpa.post("/gsma/rsp2/es11/initiateAuthentication", {}).status_code == 404
    assert lpa.post("/gsma/rsp2/es9plus/getBoundProfilePackage", {}, smds=True).status_code == 404


def test_smds_session_cannot_be_used_for_es9(smdp, lpa, lab_identities):
    euicc = SoftEuicc.from_dir(lab_identities)
    initiate = lpa.es11("initiateAuthentication", {
        "euiccChallenge": b64(os.urandom(16)), "euiccInfo1": b64(euicc.info1()), "smdsAddress": smdp.smds_address})
    answer = lpa.es9("authenticateClient", {
        "transactionId": initiate["transactionId"],
        "authenticateServerResponse": b64(euicc.authenticate_server_response(initiate))})
    assert codes(answer) == ("8.10.1", "3.9")


def _client_config(smdp) -> Es9Config:
    return Es9Config(ca_file=smdp.ca_file, connect_overrides=smdp.connect_overrides)


async def test_esimflow_client_downloads_and_notifies(smdp, lab_identities):
    euicc = SoftEuicc.from_dir(lab_identities)
    iccid = iccid_for(3100)
    matching_id = smdp.add_profile(iccid, confirmation_code="9876").split("$")[2]
    async with Es9Client(smdp.address, _client_config(smdp), secrets=[matching_id]) as client:
        initiate = await client.initiate_authentication(os.urandom(16), euicc.info1())
        as_json = {"serverSigned1": b64(initiate.server_signed1), "transactionId": initiate.transaction_id}
        authenticated = await client.authenticate_client(
            initiate.transaction_id, euicc.authenticate_server_response(as_json, matching_id=matching_id))
        auth_json = {"smdpSigned2": b64(authenticated.smdp_signed2), "smdpCertificate": b64(authenticated.smdp_certificate),
                     "smdpSignature2": b64(authenticated.smdp_signature2), "transactionId": initiate.transaction_id}
        prepared, _ = euicc.prepare_download_response(auth_json, confirmation_code="9876")
        package = await client.get_bound_profile_package(initiate.transaction_id, prepared)
        assert package.bound_profile_package[:2] == b"\xbf\x36"
        await client.handle_notification(euicc.installation_result(
            bytes.fromhex(initiate.transaction_id), iccid, smdp.smdp_oid, smdp.address))
    assert smdp.status(iccid) == ProfileStatus.INSTALLED


async def test_esimflow_client_sees_refusals_as_typed_errors(smdp, lab_identities):
    euicc = SoftEuicc.from_dir(lab_identities)
    async with Es9Client(smdp.address, _client_config(smdp)) as client:
        initiate = await client.initiate_authentication(os.urandom(16), euicc.info1())
        as_json = {"serverSigned1": b64(initiate.server_signed1), "transactionId": initiate.transaction_id}
        with pytest.raises(Es9FunctionError) as raised:
            await client.authenticate_client(
                initiate.transaction_id, euicc.authenticate_server_response(as_json, matching_id="UNKNOWN-ONE"))
    assert (raised.value.subject_code, raised.value.reason_code) == ("8.2.6", "3.8")


async def test_esimflow_smds_client_reads_the_events(smdp, lab_identities):
    euicc = SoftEuicc.from_dir(lab_identities, pki.load(lab_identities).fleet_eids()[1])
    matching_id = smdp.add_profile(iccid_for(3200), eid=euicc.eid).split("$")[2]
    async with Es11Client(smdp.smds_address, _client_config(smdp)) as client:
        initiate = await client.initiate_authentication(os.urandom(16), euicc.info1())
        as_json = {"serverSigned1": b64(initiate.server_signed1), "transactionId": initiate.transaction_id}
        result = await client.authenticate_client(initiate.transaction_id,
                                                  euicc.authenticate_server_response(as_json))
    assert [(e.event_id, e.rsp_server_address) for e in result.events] == [(matching_id, smdp.address)]
