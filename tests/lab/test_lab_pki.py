"""rsplab.pki: a generated PKI is a correct SGP.22 PKI, usable for TLS, and loads like SGP.26."""
import json
import ssl
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from esimcli.main import main as cli
from rsplab import pki, pki_issuing

from tests.lab.memory_tls import handshake
from sgp22 import certs, crypto
from sgp22.certs import Role
from sgp22.errors import BadInputError, EidOutsideEumRangeError, UnknownCiError

SGP26 = Path("/work/shared/reference/sgp26")

LAYOUT_NIST = [
    "ca.pem",
    "CertificateIssuer/CERT_CI_ECDSA_NIST.der", "CertificateIssuer/SK_CI_ECDSA_NIST.pem",
    "EUM/CERT_EUM_ECDSA_NIST.der", "EUM/SK_EUM_ECDSA_NIST.pem",
    "eUICC/CERT_EUICC_ECDSA_NIST.der", "eUICC/SK_EUICC_ECDSA_NIST.pem",
    "DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der", "DPauth/SK_S_SM_DPauth_ECDSA_NIST.pem",
    "DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der", "DPpb/SK_S_SM_DPpb_ECDSA_NIST.pem",
    "DPtls/CERT_S_SM_DP_VARO_TLS_NIST.der", "DPtls/SK_S_SM_DP_TLS_NIST.pem",
]


@pytest.fixture(scope="module")
def nist(tmp_path_factory):
    return pki.generate(tmp_path_factory.mktemp("pki-nist"))


@pytest.fixture(scope="module")
def brp(tmp_path_factory):
    return pki.generate(tmp_path_factory.mktemp("pki-brp"), curve="BRP", smdp_oid="1.3.6.1.4.1.31746.1")


def ext(cert, oid):
    return cert.extensions.get_extension_for_oid(oid)


def test_files_follow_the_sgp26_layout(nist):
    for rel in LAYOUT_NIST:
        assert (nist.root / rel).is_file(), rel
    for rel in LAYOUT_NIST:
        if "/SK_" in rel:
            assert stat.S_IMODE((nist.root / rel).stat().st_mode) == 0o600, rel
    assert nist.ca_file == nist.root / "ca.pem"
    assert certs.load_certificate(nist.ca_file) == nist.ci.certificate


def test_roles_curves_and_keys(nist):
    for role in Role:
        identity = getattr(nist, role.name.lower())
        assert certs.role_of(identity.certificate) is role
        assert ext(identity.certificate, ExtensionOID.CERTIFICATE_POLICIES).critical
        assert identity.certificate.public_key().curve.name == "secp256r1"
        assert crypto.public_point(identity.private_key) == crypto.public_point(identity.certificate)


def test_chains_verify_as_an_smdp_and_an_euicc_would(nist):
    assert certs.verify_euicc_chain(nist.euicc.certificate, nist.eum.certificate, nist.trusted_cis) == nist.eid
    for role in (Role.DPAUTH, Role.DPPB, Role.DPTLS):
        ci = certs.verify_server_certificate(getattr(nist, role.name.lower()).certificate, nist.trusted_cis, role,
                                             ci_pkid=nist.ci_pkid)
        assert ci == nist.ci.certificate
    # SKI/AKI link every certificate to its issuer
    assert certs.aki_of(nist.eum.certificate) == certs.ski_of(nist.ci.certificate) == nist.ci_pkid
    assert certs.aki_of(nist.euicc.certificate) == certs.ski_of(nist.eum.certificate)


def test_ci_and_eum_are_cas_with_the_right_limits(nist):
    ci_bc = ext(nist.ci.certificate, ExtensionOID.BASIC_CONSTRAINTS).value
    eum_bc = ext(nist.eum.certificate, ExtensionOID.BASIC_CONSTRAINTS).value
    assert ci_bc.ca and eum_bc.ca and eum_bc.path_length == 0
    ci_ku = ext(nist.ci.certificate, ExtensionOID.KEY_USAGE).value
    assert ci_ku.key_cert_sign and ci_ku.crl_sign and not ci_ku.digital_signature
    assert ext(nist.eum.certificate, ExtensionOID.KEY_USAGE).value.key_cert_sign
    assert ext(nist.eum.certificate, ExtensionOID.NAME_CONSTRAINTS).critical
    assert certs.permitted_eid_prefixes(nist.eum.certificate) == [(pki_issuing.EUM_ORG, pki.DEFAULT_EIN)]


def test_end_entities_sign_only(nist):
    for identity in (nist.euicc, nist.dpauth, nist.dppb, nist.dptls):
        usage = ext(identity.certificate, ExtensionOID.KEY_USAGE).value
        assert usage.digital_signature and not usage.key_cert_sign


def test_euicc_carries_a_valid_eid_under_the_ein(nist):
    assert pki.eid_is_valid(nist.eid) and nist.eid.startswith(pki.DEFAULT_EIN)
    assert nist.euicc.certificate.not_valid_after_utc.year == 9999


def test_smdp_certificates_carry_oid_and_tls_names(nist):
    assert certs.smdp_oid_of(nist.dpauth.certificate) == certs.smdp_oid_of(nist.dppb.certificate) == "2.999.10"
    assert nist.tls_names == ["localhost", "testsmdpplus1.example.com"]
    san = ext(nist.dptls.certificate, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = ext(nist.dptls.certificate, ExtensionOID.EXTENDED_KEY_USAGE).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


def _handshake(identities, server_name, tmp_path):
    cert_pem, key_pem = identities.export_tls(tmp_path)
    return handshake(cert_pem, key_pem, identities.ca_file, server_name)


@pytest.mark.parametrize("server_name", ["localhost", "testsmdpplus1.example.com", "127.0.0.1"])
def test_tls_clients_trust_the_smdp_with_ca_pem(nist, tmp_path, server_name):
    assert _handshake(nist, server_name, tmp_path).startswith("TLS")


def test_tls_client_refuses_a_name_not_in_the_certificate(nist, tmp_path):
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(nist, "smdp.example.org", tmp_path)


def test_brainpool_pki_keeps_tls_usable(brp, tmp_path):
    for identity in (brp.ci, brp.eum, brp.euicc, brp.dpauth, brp.dppb):
        assert identity.certificate.public_key().curve.name == "brainpoolP256r1"
    assert brp.curve == "BRP" and brp.smdp_oid == "1.3.6.1.4.1.31746.1"
    assert (brp.root / "DPtls/CERT_S_SM_DP_VARO_TLS_BRP.der").is_file()
    certs.verify_server_certificate(brp.dptls.certificate, brp.trusted_cis, Role.DPTLS)
    certs.verify_euicc_chain(brp.euicc.certificate, brp.eum.certificate, brp.trusted_cis)
    assert _handshake(brp, "localhost", tmp_path).startswith("TLS")


def test_sgp26_set_loads_unchanged():
    ids = pki.load(SGP26)
    assert ids.curve == "NIST"
    assert ids.eid == "89049032123451234512345678901235"
    assert ids.smdp_oid == "2.999.10"
    assert ids.ci_pkid.hex() == "f54172bdf98a95d65cbeb88a38a1c11d800a85c3"
    assert ids.dptls.cert_path.name == "CERT_S_SM_DP_VARO_TLS_NIST.der"
    assert ids.dptls.key_path.name == "SK_S_SM_DP_TLS_NIST.pem"
    assert ids.tls_names == ["testsmdpplus1.example.com"]
    assert len(ids.trusted_cis) == 2 and ids.ca_file.name == "CERT_CI_ECDSA_NIST.pem"
    assert ids.fleet_eids() == [] and ids.all_eids() == [ids.eid]
    brp = pki.load(SGP26, curve="brainpool")
    assert brp.dpauth.certificate.public_key().curve.name == "brainpoolP256r1"


def test_sgp26_tls_identity_exports_for_a_server(tmp_path):
    cert_pem, key_pem = pki.load(SGP26).export_tls(tmp_path)
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_pem, key_pem)


def test_lab_and_sgp26_do_not_trust_each_other(nist):
    sgp26 = pki.load(SGP26)
    with pytest.raises(UnknownCiError):
        certs.verify_server_certificate(nist.dpauth.certificate, sgp26.trusted_cis, Role.DPAUTH)
    with pytest.raises(UnknownCiError):
        certs.verify_euicc_chain(sgp26.euicc.certificate, sgp26.eum.certificate, nist.trusted_cis)


def test_fleet_euiccs(tmp_path):
    ids = pki.generate(tmp_path, eids=["89049032123451234512345678901235", pki.eid_for("89049032", 77)])
    assert ids.eid == "89049032123451234512345678901235"
    added = pki.add_euiccs(tmp_path, count=5)
    assert len(set(added)) == 5 and all(pki.eid_is_valid(e) for e in added)
    one = pki.add_euicc(tmp_path)
    ids = pki.load(tmp_path)
    assert ids.all_eids()[0] == ids.eid and len(ids.all_eids()) == 8
    assert (tmp_path / "eUICC" / certs.eid_of(one.certificate) / "CERT_EUICC_ECDSA_NIST.der").is_file()
    for eid in ids.fleet_eids():
        identity = ids.euicc_identity(eid)
        assert certs.verify_euicc_chain(identity.certificate, ids.eum.certificate, ids.trusted_cis) == eid
        assert crypto.public_point(identity.private_key) == crypto.public_point(identity.certificate)


def test_fleet_refuses_bad_or_duplicate_eids(nist):
    with pytest.raises(BadInputError):
        pki.add_euiccs(nist.root, [nist.eid])  # already issued
    with pytest.raises(BadInputError):
        pki.add_euiccs(nist.root, ["89049033123451234512345678901234"])  # other EIN
    with pytest.raises(BadInputError):
        pki.add_euiccs(nist.root, ["89049032123451234512345678901234"])  # bad check digits
    with pytest.raises(BadInputError):
        nist.euicc_identity("89049032000000000000000000099999")


def test_an_eum_cannot_issue_outside_its_ein(nist):
    """The EUM name constraint is real: an eUICC signed by it with a foreign EID is refused."""
    foreign = pki.eid_for("89044000", 5)
    certificate, _ = pki_issuing.make_euicc(pki_issuing.Issuer(nist.eum.certificate, nist.eum.private_key), foreign,
                                            pki_issuing.issue_time())
    with pytest.raises(EidOutsideEumRangeError):
        certs.verify_euicc_chain(certificate, nist.eum.certificate, nist.trusted_cis)


def test_existing_pki_is_not_replaced_by_accident(nist):
    with pytest.raises(BadInputError):
        pki.generate(nist.root)


@pytest.mark.parametrize("options", [{"curve": "secp384r1"}, {"smdp_oid": "not-an-oid"}, {"ein": "89A"},
                                     {"tls_names": []}, {"tls_ips": ["localhost"]}, {"eids": ["1"]}])
def test_bad_generation_options_are_bad_input(tmp_path, options):
    with pytest.raises(BadInputError):
        pki.generate(tmp_path / "x", **options)


def test_load_of_a_non_pki_directory_is_bad_input(tmp_path):
    with pytest.raises(BadInputError):
        pki.load(tmp_path)
    assert not pki.exists(tmp_path)


def test_ensure_generates_once(tmp_path):
    first = pki.ensure(tmp_path / "lab")
    assert pki.ensure(tmp_path / "lab").ci_pkid == first.ci_pkid


def test_cli_generates_and_extends(tmp_path):
    runner = CliRunner()
    target = tmp_path / "lab"
    result = runner.invoke(cli, ["lab", "pki", str(target), "--fleet", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["created"] and summary["euicc_count"] == 3 and len(summary["added_eids"]) == 2
    assert summary["ca_file"] == str(target / "ca.pem")
    again = runner.invoke(cli, ["lab", "pki", str(target), "--fleet", "1", "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["ci_pkid"] == summary["ci_pkid"]
    assert json.loads(again.output)["euicc_count"] == 4


def test_cli_brainpool_and_custom_names(tmp_path):
    result = CliRunner().invoke(cli, ["lab", "pki", str(tmp_path / "b"), "--curve", "brainpool",
                                      "--tls-name", "smdp.lab.test", "--smdp-oid", "2.999.77"])
    assert result.exit_code == 0, result.output
    ids = pki.load(tmp_path / "b")
    assert ids.curve == "BRP" and ids.tls_names == ["smdp.lab.test"] and ids.smdp_oid == "2.999.77"


def test_cli_bad_eid_exits_2_with_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["lab", "pki", str(tmp_path / "c"), "--eid", "1234"])
    assert result.exit_code == 2
    assert "EID" in result.output and len(result.output.strip().splitlines()) == 1
