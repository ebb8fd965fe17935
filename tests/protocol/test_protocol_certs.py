"""sgp22.certs against every file of the SGP.26 test PKI, including the InvalidTestCases set."""
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sgp22 import certs, crypto
from sgp22.certs import Role
from sgp22.errors import (
    BadInputError,
    CertificateError,
    CertificateExpiredError,
    CertificateFormatError,
    CertificateNotYetValidError,
    CertificateRoleError,
    CertificateSignatureError,
    EidOutsideEumRangeError,
    UnknownCiError,
)

SGP26 = Path("/work/shared/reference/sgp26")
# A fixed moment inside every valid SGP.26 certificate's lifetime (VARO DPtls ends 2027-02-06),
# so the tests do not change verdict with the calendar.
AT = datetime(2026, 12, 1, tzinfo=timezone.utc)
SGP26_EID = "89049032123451234512345678901235"
NIST_CI_SKI = "f54172bdf98a95d65cbeb88a38a1c11d800a85c3"
BRP_CI_SKI = "c0bc70ba36929d43b467ff57570530e57ab8fcd8"


def cert(rel: str) -> x509.Certificate:
    return certs.load_certificate(SGP26 / rel)


@pytest.fixture(scope="module")
def cis():
    return [cert("CertificateIssuer/CERT_CI_ECDSA_NIST.der"), cert("CertificateIssuer/CERT_CI_ECDSA_BRP.der")]


ALL_CERT_FILES = sorted(
    p.relative_to(SGP26).as_posix()
    for p in SGP26.rglob("*")
    if p.suffix in (".der", ".pem") and p.name.startswith("CERT_")
)
ALL_KEY_FILES = sorted(p.relative_to(SGP26).as_posix() for p in SGP26.rglob("SK_*.pem"))

EXPECTED_ROLES = {
    "CertificateIssuer": Role.CI,
    "EUM": Role.EUM,
    "eUICC": Role.EUICC,
    "DPauth": Role.DPAUTH,
    "DPpb": Role.DPPB,
    "DPtls": Role.DPTLS,
}


def test_inventory_is_complete():
    assert len(ALL_CERT_FILES) >= 30 and len(ALL_KEY_FILES) >= 17


@pytest.mark.parametrize("rel", ALL_CERT_FILES)
def test_every_sgp26_certificate_loads_with_its_role(rel):
    certificate = cert(rel)
    folder = rel.split("/")[0]
    if folder in EXPECTED_ROLES:
        assert certs.role_of(certificate) is EXPECTED_ROLES[folder]
    # DER and PEM of the same certificate are the same certificate
    twin = SGP26 / rel.replace(".pem", ".der") if rel.endswith(".pem") else None
    if twin is not None and twin.exists():
        assert certs.load_certificate(twin) == certificate


@pytest.mark.parametrize("rel", ALL_KEY_FILES)
def test_every_sgp26_private_key_loads_and_signs(rel):
    key = certs.load_private_key(SGP26 / rel)
    crypto.verify_plain(key.public_key(), crypto.sign_plain(key, b"probe"), b"probe")


@pytest.mark.parametrize(
    "cert_rel, key_rel",
    [
        ("CertificateIssuer/CERT_CI_ECDSA_NIST.der", "CertificateIssuer/SK_CI_ECDSA_NIST.pem"),
        ("CertificateIssuer/CERT_CI_ECDSA_BRP.der", "CertificateIssuer/SK_CI_ECDSA_BRP.pem"),
        ("EUM/CERT_EUM_ECDSA_NIST.der", "EUM/SK_EUM_ECDSA_NIST.pem"),
        ("eUICC/CERT_EUICC_ECDSA_BRP.der", "eUICC/SK_EUICC_ECDSA_BRP.pem"),
        ("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der", "DPauth/SK_S_SM_DPauth_ECDSA_NIST.pem"),
        ("DPpb/CERT_S_SM_DPpb_ECDSA_BRP.der", "DPpb/SK_S_SM_DPpb_ECDSA_BRP.pem"),
        ("DPtls/CERT_S_SM_DP_VARO_TLS_NIST.der", "DPtls/SK_S_SM_DP_TLS_NIST.pem"),
    ],
)
def test_keys_match_their_certificates(cert_rel, key_rel):
    key = certs.load_private_key(SGP26 / key_rel)
    assert crypto.public_point(key) == crypto.public_point(cert(cert_rel))


def test_ci_key_identifiers_are_the_euicc_ci_pkids(cis):
    assert [certs.ski_of(c).hex() for c in cis] == [NIST_CI_SKI, BRP_CI_SKI]
    assert certs.aki_of(cert("EUM/CERT_EUM_ECDSA_BRP.der")).hex() == BRP_CI_SKI


@pytest.mark.parametrize("curve", ["NIST", "BRP"])
def test_valid_euicc_chain_gives_the_eid(cis, curve):
    euicc = cert(f"eUICC/CERT_EUICC_ECDSA_{curve}.der")
    eum = cert(f"EUM/CERT_EUM_ECDSA_{curve}.der")
    assert certs.verify_euicc_chain(euicc, eum, cis, at=AT) == SGP26_EID
    assert certs.eid_of(euicc) == SGP26_EID
    assert certs.permitted_eid_prefixes(eum) == [("RSP Test EUM", "89049032")]


@pytest.mark.parametrize("curve", ["NIST", "BRP"])
@pytest.mark.parametrize(
    "role, rel",
    [
        (Role.DPAUTH, "DPauth/CERT_S_SM_DPauth_ECDSA_{}.der"),
        (Role.DPAUTH, "DPauth/CERT_S_SM_DP2auth_ECDSA_{}.der"),
        (Role.DPPB, "DPpb/CERT_S_SM_DPpb_ECDSA_{}.der"),
        (Role.DPPB, "DPpb/CERT_S_SM_DP2pb_ECDSA_{}.der"),
        (Role.DPTLS, "DPtls/CERT_S_SM_DP_VARO_TLS_{}.der"),
    ],
)
def test_valid_server_certificates_chain_to_their_ci(cis, curve, role, rel):
    server = cert(rel.format(curve))
    ci = certs.verify_server_certificate(server, cis, role, at=AT)
    assert certs.ski_of(ci).hex() == (NIST_CI_SKI if curve == "NIST" else BRP_CI_SKI)


def test_smdp_oids_and_dns_names():
    assert certs.smdp_oid_of(cert("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der")) == "2.999.10"
    assert certs.smdp_oid_of(cert("DPpb/CERT_S_SM_DP2pb_ECDSA_NIST.der")) == "2.999.12"
    assert certs.dns_names_of(cert("DPtls/CERT_S_SM_DP_VARO_TLS_NIST.der")) == ["testsmdpplus1.example.com"]
    with pytest.raises(CertificateFormatError):
        certs.smdp_oid_of(cert("eUICC/CERT_EUICC_ECDSA_NIST.der"))


@pytest.mark.parametrize("name", ["CERT_S_SM_DP2_TLS", "CERT_S_SM_DP4_TLS", "CERT_S_SM_DP8_TLS"])
def test_old_dptls_certificates_are_expired(cis, name):
    with pytest.raises(CertificateExpiredError) as info:
        certs.verify_server_certificate(cert(f"DPtls/{name}.der"), cis, Role.DPTLS, at=AT)
    assert info.value.role == "DPTLS"


def test_eum_not_yet_valid_before_2020(cis):
    with pytest.raises(CertificateNotYetValidError):
        certs.verify_euicc_chain(
            cert("eUICC/CERT_EUICC_ECDSA_NIST.der"), cert("EUM/CERT_EUM_ECDSA_NIST.der"), cis,
            at=datetime(2019, 1, 1, tzinfo=timezone.utc),
        )


def test_euicc_check_without_clock_ignores_expiry(cis):
    certs.verify_server_certificate(cert("DPtls/CERT_S_SM_DP2_TLS.der"), cis, Role.DPTLS, check_time=False)


# --- InvalidTestCases: each refused with its own error, naming the failing certificate

INVALID_EUICC = [
    ("CERT_EUICC_ECDSA_NIST_EXPIRED.der", CertificateExpiredError),
    ("CERT_EUICC_ECDSA_NIST_INVALID.der", CertificateSignatureError),
    ("CERT_EUICC_ECDSA_NIST_INVALID_EID.der", EidOutsideEumRangeError),
    ("CERT_EUICC_ECDSA_NIST_INVALID_EID.pem", EidOutsideEumRangeError),
]
INVALID_EUM = [
    ("CERT_EUM_ECDSA_NIST_EXPIRED.der", CertificateExpiredError),
    ("CERT_EUM_ECDSA_NIST_INVALID.der", CertificateSignatureError),
    ("CERT_EUM_ECDSA_NIST_UNKNOWN_CI.der", UnknownCiError),
]


@pytest.mark.parametrize("name, error", INVALID_EUICC)
def test_invalid_euicc_certificates_are_refused(cis, name, error):
    with pytest.raises(error) as info:
        certs.verify_euicc_chain(cert(f"InvalidTestCases/{name}"), cert("EUM/CERT_EUM_ECDSA_NIST.der"), cis, at=AT)
    assert info.value.role == "EUICC"


@pytest.mark.parametrize("name, error", INVALID_EUM)
def test_invalid_eum_certificates_are_refused(cis, name, error):
    with pytest.raises(error) as info:
        certs.verify_euicc_chain(cert("eUICC/CERT_EUICC_ECDSA_NIST.der"), cert(f"InvalidTestCases/{name}"), cis, at=AT)
    assert info.value.role == "EUM"


@pytest.mark.parametrize("suffix", ["der", "pem"])
def test_unmatched_eid_is_a_valid_chain_left_for_the_profile_binding(cis, suffix):
    """The certificate is fine; only the SM-DP+'s EID binding refuses it (8.1.1/3.8)."""
    eid = certs.verify_euicc_chain(
        cert(f"InvalidTestCases/CERT_EUICC_ECDSA_NIST_UNMATCHED_EID.{suffix}"), cert("EUM/CERT_EUM_ECDSA_NIST.der"), cis, at=AT
    )
    assert eid == "89049032123451234512345678901299" != SGP26_EID


def test_unknown_ci_itself_is_not_trusted(cis):
    unknown = cert("InvalidTestCases/CERT_UNKNOWN_CI_ECDSA_NIST.der")
    eum = cert("InvalidTestCases/CERT_EUM_ECDSA_NIST_UNKNOWN_CI.der")
    with pytest.raises(UnknownCiError):
        certs.find_ci(eum, cis)
    with pytest.raises(CertificateRoleError):
        certs.require_role(unknown, Role.CI)


def test_trusting_only_the_other_curve_ci_means_unknown_ci(cis):
    with pytest.raises(UnknownCiError):
        certs.verify_server_certificate(cert("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der"), cis[1:], Role.DPAUTH, at=AT)


def test_requested_ci_pkid_is_enforced(cis):
    with pytest.raises(UnknownCiError):
        certs.verify_server_certificate(
            cert("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der"), cis, Role.DPAUTH, ci_pkid=bytes.fromhex(BRP_CI_SKI), at=AT
        )


def test_wrong_role_is_refused(cis):
    with pytest.raises(CertificateRoleError) as info:
        certs.verify_server_certificate(cert("DPtls/CERT_S_SM_DP_VARO_TLS_NIST.der"), cis, Role.DPAUTH, at=AT)
    assert info.value.role == "DPAUTH"
    with pytest.raises(CertificateRoleError):
        certs.verify_server_certificate(cert("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der"), cis, Role.DPPB, at=AT)


def test_certificate_from_another_issuer_has_bad_signature():
    with pytest.raises(CertificateSignatureError):
        certs.verify_issued_by(cert("eUICC/CERT_EUICC_ECDSA_NIST.der"), cert("EUM/CERT_EUM_ECDSA_BRP.der"), at=AT)


def test_tampered_certificate_signature_fails():
    der = bytearray(cert("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der").public_bytes(Encoding.DER))
    der[-5] ^= 0x01  # inside the signature value
    tampered = certs.load_certificate(bytes(der))
    with pytest.raises(CertificateSignatureError):
        certs.verify_issued_by(tampered, cert("CertificateIssuer/CERT_CI_ECDSA_NIST.der"), at=AT)


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01\x01", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_garbage_certificate_is_a_format_error(data):
    with pytest.raises(CertificateFormatError):
        certs.load_certificate(data)


def test_garbage_key_is_a_format_error_without_echoing_it():
    with pytest.raises(CertificateFormatError) as info:
        certs.load_private_key(b"-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0\n-----END EC PRIVATE KEY-----\n")
    assert "c2VjcmV0" not in str(info.value)


def test_missing_file_is_bad_input(tmp_path):
    with pytest.raises(BadInputError):
        certs.load_certificate(tmp_path / "nope.der")


def test_every_certificate_error_is_a_certificate_error():
    for error in (CertificateExpiredError, CertificateSignatureError, UnknownCiError, EidOutsideEumRangeError,
                  CertificateRoleError, CertificateFormatError, CertificateNotYetValidError):
        assert issubclass(error, CertificateError)
