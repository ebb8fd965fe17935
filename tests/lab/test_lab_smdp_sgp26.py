"""The lab SM-DP+ with the SGP.26 identities unchanged: the invalid test certificates are each
refused with their ES9+ code, and both curves (NIST, brainpool) download. The functions are
called directly (no TLS), so these checks do not depend on the SGP.26 DPtls validity dates."""
from __future__ import annotations

import os

import pytest

from sgp22 import certs, codec

from rsplab import pki
from rsplab.smdp.config import load_config
from rsplab.smdp.es9 import Es9Service
from rsplab.smdp.inventory import Inventory
from rsplab.smdp.profiles import NewProfile
from rsplab.smdp.sessions import SessionStore
from rsplab.smdp.status import ProfileStatus
from rsplab.smdp.wire import FunctionFailed

from tests.lab.test_lab_smdp_kit import SGP26, SoftEuicc, b64, iccid_for, unb64

INVALID = SGP26 / "InvalidTestCases"
SGP26_EID = "89049032123451234512345678901235"


@pytest.fixture
def service(tmp_path):
    config = load_config(SGP26, port=443)
    with Inventory(tmp_path / "smdp.db") as inventory:
        yield Es9Service(config, inventory, SessionStore(60))


def sgp26_euicc(curve: str = "NIST", *, euicc_file: str | None = None, eum_file: str | None = None) -> SoftEuicc:
    ids = pki.load(SGP26, curve)
    euicc_der = (INVALID / euicc_file).read_bytes() if euicc_file else ids.euicc.der
    eum_der = (INVALID / eum_file).read_bytes() if eum_file else ids.eum.der
    return SoftEuicc(euicc_der, eum_der, ids.euicc.private_key, (ids.ci_pkid,))


def call(function, body: dict) -> dict:
    try:
        return function(body)
    except FunctionFailed as failure:
        return {"failed": (failure.subject_code, failure.reason_code)}


def authenticate(service, euicc: SoftEuicc, matching_id: str | None) -> tuple[dict, dict]:
    initiate = service.initiate_authentication({
        "euiccChallenge": b64(os.urandom(16)), "euiccInfo1": b64(euicc.info1()), "smdpAddress": service.config.address})
    answer = call(service.authenticate_client, {
        "transactionId": initiate["transactionId"],
        "authenticateServerResponse": b64(euicc.authenticate_server_response(initiate, matching_id=matching_id))})
    return initiate, answer


def test_sgp26_smdp_identity_is_the_reference_one(service):
    assert service.config.address == "testsmdpplus1.example.com"
    assert service.config.oid == "2.999.10"
    assert [s.curve for s in service.config.signing_sets] == ["NIST", "BRP"]


@pytest.mark.parametrize("euicc_file, eum_file, expected", [
    ("CERT_EUICC_ECDSA_NIST_EXPIRED.der", None, ("8.1.3", "6.3")),
    ("CERT_EUICC_ECDSA_NIST_INVALID.der", None, ("8.1.3", "6.1")),
    ("CERT_EUICC_ECDSA_NIST_INVALID_EID.der", None, ("8.1.3", "6.1")),
    (None, "CERT_EUM_ECDSA_NIST_EXPIRED.der", ("8.1.2", "6.3")),
    (None, "CERT_EUM_ECDSA_NIST_INVALID.der", ("8.1.2", "6.1")),
    (None, "CERT_EUM_ECDSA_NIST_UNKNOWN_CI.der", ("8.11.1", "3.9")),
    ("CERT_EUICC_ECDSA_NIST_UNMATCHED_EID.der", None, ("8.1.1", "3.8")),
])
def test_invalid_test_certificates_are_refused_with_their_code(service, euicc_file, eum_file, expected):
    service.inventory.add_profile(NewProfile(iccid=iccid_for(1), matching_id="SGP26-MATCH", eid=SGP26_EID))
    _, answer = authenticate(service, sgp26_euicc(euicc_file=euicc_file, eum_file=eum_file), "SGP26-MATCH")
    assert answer == {"failed": expected}
    assert service.inventory.get(iccid_for(1)).status == ProfileStatus.AVAILABLE


@pytest.mark.parametrize("curve", ["NIST", "BRP"])
def test_reference_euicc_downloads_on_either_curve(service, curve):
    service.inventory.add_profile(NewProfile(iccid=iccid_for(2), matching_id="SGP26-MATCH", eid=SGP26_EID))
    euicc = sgp26_euicc(curve)
    initiate, answer = authenticate(service, euicc, "SGP26-MATCH")
    server_cert = certs.load_certificate(unb64(initiate["serverCertificate"]))
    assert certs.aki_of(server_cert) == pki.load(SGP26, curve).ci_pkid
    assert certs.role_of(certs.load_certificate(unb64(answer["smdpCertificate"]))) == certs.Role.DPPB
    response, _ = euicc.prepare_download_response(answer)
    package = service.get_bound_profile_package({"transactionId": answer["transactionId"],
                                                 "prepareDownloadResponse": b64(response)})
    assert codec.decode("BoundProfilePackage", unb64(package["boundProfilePackage"]))
    assert service.inventory.get(iccid_for(2)).status == ProfileStatus.DOWNLOADED
