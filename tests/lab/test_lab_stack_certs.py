"""The SGP.26 invalid test certificates through the whole stack: a virtual eUICC in a vpcd
reader, the protocol library on pyscard, the lab SM-DP+ (SGP.26 identities) over TLS. Each
certificate is refused with its SGP.22 code, nothing is installed and the order stays open.
The eUICC side refuses a server certificate that does not chain to a CI it trusts."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sgp22 import codec, es10, lpa, tlv
from sgp22.errors import Es9FunctionError, Es10ResultError
from sgp22.es9 import Es9Client
from sgp22.activation_code import ActivationCode
from carddrivers.pcsc import PcscTransport

from rsplab import pki
from rsplab.euicc import VirtualEuicc
from rsplab.smdp.server import LabSmdp
from rsplab.smdp.status import ProfileStatus

from tests.lab.euicc_kit import Lpa, Smdp
from tests.lab.stack_kit import (  # noqa: F401 - stack_pcscd is a fixture
    INVALID_CERTS,
    SGP26,
    SGP26_EID,
    bridged_card,
    download,
    es9_config,
    isdr_over_pcsc,
    new_iccid,
    stack_pcscd,
)

pytestmark = pytest.mark.pcsc

NIST_CHAIN = ("CertificateIssuer/CERT_CI_ECDSA_NIST.der", "CertificateIssuer/CERT_CI_ECDSA_BRP.der",
              "EUM/CERT_EUM_ECDSA_NIST.der", "eUICC/CERT_EUICC_ECDSA_NIST.der", "eUICC/SK_EUICC_ECDSA_NIST.pem")
EUM_CERT = "EUM/CERT_EUM_ECDSA_NIST.der"
EUICC_CERT = "eUICC/CERT_EUICC_ECDSA_NIST.der"


@pytest.fixture(scope="module")
def smdp(tmp_path_factory):
    server = LabSmdp(SGP26, tmp_path_factory.mktemp("certs-smdp") / "smdp.sqlite3").start()
    yield server
    server.stop()


def sgp26_card_with(root: Path, slot: str, invalid_file: str) -> VirtualEuicc:
    """A virtual eUICC with the SGP.26 NIST chain and key, one certificate swapped for an
    invalid one (they all carry the SGP.26 eUICC or EUM public key)."""
    for relative in NIST_CHAIN:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SGP26 / relative, root / relative)
    shutil.copy(INVALID_CERTS / invalid_file, root / slot)
    return VirtualEuicc(root)


def bound_order(smdp) -> tuple[str, str]:
    """(ICCID, activation code) of a profile reserved for the SGP.26 eUICC."""
    iccid = new_iccid()
    return iccid, smdp.add_profile(iccid, eid=SGP26_EID, reusable=False)


def assert_nothing_happened(isdr, smdp, iccid: str) -> None:
    assert es10.get_profiles_info(isdr) == []
    assert es10.retrieve_notifications_list(isdr) == []
    assert smdp.status(iccid) == ProfileStatus.AVAILABLE


@pytest.mark.parametrize("slot, invalid_file, expected", [
    pytest.param(EUICC_CERT, "CERT_EUICC_ECDSA_NIST_EXPIRED.der", ("8.1.3", "6.3"), id="euicc-expired"),
    pytest.param(EUICC_CERT, "CERT_EUICC_ECDSA_NIST_INVALID.der", ("8.1.3", "6.1"), id="euicc-invalid"),
    pytest.param(EUICC_CERT, "CERT_EUICC_ECDSA_NIST_INVALID_EID.der", ("8.1.3", "6.1"), id="euicc-eid-outside-eum"),
    pytest.param(EUICC_CERT, "CERT_EUICC_ECDSA_NIST_UNMATCHED_EID.der", ("8.1.1", "3.8"), id="euicc-unmatched-eid"),
    pytest.param(EUM_CERT, "CERT_EUM_ECDSA_NIST_EXPIRED.der", ("8.1.2", "6.3"), id="eum-expired"),
    # a card whose EUM chains to an unknown CI offers only that CI: refused before any certificate is sent
    pytest.param(EUM_CERT, "CERT_EUM_ECDSA_NIST_UNKNOWN_CI.der", ("8.8.2", "3.1"), id="eum-unknown-ci"),
])
async def test_an_euicc_carrying_an_invalid_test_certificate_is_refused_by_the_smdp(
        smdp, stack_pcscd, tmp_path, slot, invalid_file, expected):
    iccid, code = bound_order(smdp)
    card = sgp26_card_with(tmp_path / "identities", slot, invalid_file)
    with bridged_card(card) as reader, isdr_over_pcsc(reader) as isdr:
        with pytest.raises(Es9FunctionError) as refused:
            await download(isdr, smdp, code)
        assert (refused.value.subject_code, refused.value.reason_code) == expected
        assert refused.value.kind == f"es9.{expected[0]}/{expected[1]}"
        assert_nothing_happened(isdr, smdp, iccid)


def presenting(authenticate_server_response: bytes, eum_certificate: bytes) -> bytes:
    """The eUICC's signed answer with another EUM certificate beside it (the signature covers
    euiccSigned1 only, so the SM-DP+ must catch this from the certificate itself)."""
    (ok,) = tlv.children(tlv.parse_one(authenticate_server_response).value)
    signed1, signature1, euicc_certificate, _ = tlv.children(ok.value)
    return tlv.build(0xBF38, tlv.build(0xA0, signed1.raw + signature1.raw + euicc_certificate.raw + eum_certificate))


@pytest.mark.parametrize("invalid_file, expected", [
    pytest.param("CERT_EUM_ECDSA_NIST_INVALID.der", ("8.1.2", "6.1"), id="eum-invalid"),
    pytest.param("CERT_EUM_ECDSA_NIST_UNKNOWN_CI.der", ("8.11.1", "3.9"), id="eum-unknown-ci"),
])
async def test_an_eum_certificate_no_card_can_hold_is_refused_when_presented(
        smdp, stack_pcscd, invalid_file, expected):
    """These EUM certificates name no CI, or another CI than the card offers, so a card cannot
    carry them consistently; they reach the SM-DP+ only beside a genuine eUICC signature."""
    iccid, code = bound_order(smdp)
    with bridged_card(VirtualEuicc(SGP26)) as reader, isdr_over_pcsc(reader) as isdr:
        async with Es9Client(smdp.address, es9_config(smdp)) as es9:
            challenge = await lpa.initiate_authentication(es9, lpa.read_euicc_auth_data(isdr))
            auth = lpa.authenticate_server(isdr, challenge, ActivationCode.parse(code).matching_id)
            response = presenting(bytes.fromhex(auth.authenticate_server_response),
                                  (INVALID_CERTS / invalid_file).read_bytes())
            with pytest.raises(Es9FunctionError) as refused:
                await es9.authenticate_client(auth.transaction_id, response)
        assert (refused.value.subject_code, refused.value.reason_code) == expected
        assert_nothing_happened(isdr, smdp, iccid)


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory) -> Path:
    """A PKI under a CI that SGP.26 eUICCs do not know."""
    return pki.generate(tmp_path_factory.mktemp("foreign-pki")).root


@pytest.mark.parametrize("named_ci, error_code", [
    pytest.param("foreign", 7, id="ciPKUnknown"),
    pytest.param("sgp26", 1, id="invalidCertificate"),
])
def test_the_euicc_refuses_a_server_certificate_from_an_unknown_ci(stack_pcscd, foreign_pki, named_ci, error_code):
    """AuthenticateServer signed with a DPauth key of a CI the card does not trust, naming that
    CI (ciPKUnknown) or claiming the SGP.26 CI (the chain does not verify: invalidCertificate)."""
    foreign = Smdp(foreign_pki)
    ci_pkid = foreign.ids.ci_pkid if named_ci == "foreign" else pki.load(SGP26).ci_pkid
    with bridged_card(VirtualEuicc(SGP26)) as reader, PcscTransport(reader) as transport:
        card = Lpa(transport=transport)
        attempt = card.authenticate(foreign, ci_pkid=ci_pkid)
        card.channel.close()
    assert codec.decode("AuthenticateServerResponse", attempt.auth_response) == ("authenticateResponseError", {
        "transactionId": attempt.transaction_id, "authenticateErrorCode": error_code})


async def test_a_lab_smdp_whose_dpauth_chains_to_another_ci_is_refused_by_the_euicc(
        stack_pcscd, foreign_pki, tmp_path):
    """An SM-DP+ that names the SGP.26 CI but signs with certificates of another CI: the eUICC
    answers invalidCertificate and the LPA stops before sending anything the eUICC signed."""
    identities = tmp_path / "mixed"
    for relative in ("CertificateIssuer/CERT_CI_ECDSA_NIST.der", "EUM/CERT_EUM_ECDSA_NIST.der",
                     "EUM/SK_EUM_ECDSA_NIST.pem", "eUICC/CERT_EUICC_ECDSA_NIST.der", "eUICC/SK_EUICC_ECDSA_NIST.pem"):
        (identities / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SGP26 / relative, identities / relative)
    for folder in ("DPauth", "DPpb", "DPtls"):
        shutil.copytree(foreign_pki / folder, identities / folder)
    shutil.copy(foreign_pki / "ca.pem", identities / "ca.pem")  # TLS still chains to the foreign CI

    with LabSmdp(identities) as mixed:
        iccid = new_iccid()
        code = mixed.add_profile(iccid)
        with bridged_card(VirtualEuicc(SGP26)) as reader, isdr_over_pcsc(reader) as isdr:
            with pytest.raises(Es10ResultError) as refused:
                await download(isdr, mixed, code)
            assert refused.value.result_name == "invalidCertificate"
            assert_nothing_happened(isdr, mixed, iccid)
