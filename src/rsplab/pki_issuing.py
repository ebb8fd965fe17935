"""How the lab makes each certificate of an SGP.26-shaped PKI: subject, issuer, the lifetime per
role, the extensions (certificate policy, key usage, name constraints, subjectAltName). The
generator (``rsplab.pki``) decides which certificates a directory holds and where they go; this
module how each one looks.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sgp22.certs import Role

CURVES = {"NIST": ec.SECP256R1, "BRP": ec.BrainpoolP256R1}
CI_OID = "2.999.1"
EUM_OID = "2.999.5"
LAB_ORG = "esimflow lab"
EUM_ORG = "esimflow lab EUM"

FOREVER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
LIFETIME_YEARS = {Role.CI: 35, Role.EUM: 30, Role.DPAUTH: 10, Role.DPPB: 10, Role.DPTLS: 35}


class Issuer:
    """A signing identity plus the fields every certificate it issues repeats."""

    def __init__(self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.certificate = certificate
        self.key = key
        self.aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())


def x509_name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def key_usage(*, digital_signature: bool = False, cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=crl_sign,
        encipher_only=False, decipher_only=False,
    )


def role_builder(subject: x509.Name, issuer_name: x509.Name, public_key, role: Role, now: dt.datetime) -> x509.CertificateBuilder:
    years = LIFETIME_YEARS.get(role, 0)
    not_after = FOREVER if role is Role.EUICC else now + dt.timedelta(days=365 * years + years // 4)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))  # tolerate clocks a little behind ours
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(role.oid, None)]), critical=True)
    )


def issue_time() -> dt.datetime:
    """Now, to the second: what every certificate of one generation is dated from."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def issue(builder: x509.CertificateBuilder, issuer: Issuer) -> x509.Certificate:
    return builder.add_extension(issuer.aki, critical=False).sign(issuer.key, hashes.SHA256())


def make_ci(curve: str, now: dt.datetime) -> Issuer:
    key = ec.generate_private_key(CURVES[curve]())
    subject = x509_name((NameOID.COUNTRY_NAME, "XX"), (NameOID.ORGANIZATION_NAME, LAB_ORG),
                    (NameOID.ORGANIZATIONAL_UNIT_NAME, "TESTCERT"), (NameOID.COMMON_NAME, f"{LAB_ORG} CI {curve}"))
    certificate = (
        role_builder(subject, subject, key.public_key(), Role.CI, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage(cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.RegisteredID(x509.ObjectIdentifier(CI_OID))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(certificate, key)


def make_eum(ci: Issuer, curve: str, ein: str, now: dt.datetime) -> Issuer:
    key = ec.generate_private_key(CURVES[curve]())
    subject = x509_name((NameOID.COUNTRY_NAME, "XX"), (NameOID.ORGANIZATION_NAME, EUM_ORG), (NameOID.COMMON_NAME, f"{EUM_ORG} {ein}"))
    permitted = x509.DirectoryName(x509_name((NameOID.ORGANIZATION_NAME, EUM_ORG), (NameOID.SERIAL_NUMBER, ein)))
    builder = (
        role_builder(subject, ci.certificate.subject, key.public_key(), Role.EUM, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.RegisteredID(x509.ObjectIdentifier(EUM_OID))]), critical=False)
        .add_extension(x509.NameConstraints(permitted_subtrees=[permitted], excluded_subtrees=None), critical=True)
    )
    return Issuer(issue(builder, ci), key)


def make_euicc(eum: Issuer, eid: str, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(eum.key.curve)
    subject = x509_name((NameOID.COUNTRY_NAME, "XX"), (NameOID.ORGANIZATION_NAME, EUM_ORG),
                    (NameOID.SERIAL_NUMBER, eid), (NameOID.COMMON_NAME, "esimflow lab eUICC"))
    builder = role_builder(subject, eum.certificate.subject, key.public_key(), Role.EUICC, now).add_extension(
        key_usage(digital_signature=True), critical=True
    )
    return issue(builder, eum), key


def make_smdp(ci: Issuer, curve: str, role: Role, smdp_oid: str, tls_names: Sequence[str],
               tls_ips: Sequence[str], now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    # TLS stacks (OpenSSL's defaults, hence Python's ssl) offer no brainpool groups or signature
    # schemes, so a brainpool DPtls key could not be served; the BRP CI still signs it.
    key = ec.generate_private_key(ec.SECP256R1() if role is Role.DPTLS else CURVES[curve]())
    common_name = tls_names[0] if role is Role.DPTLS and tls_names else f"{LAB_ORG} SM-DP+"
    subject = x509_name((NameOID.ORGANIZATION_NAME, LAB_ORG), (NameOID.COMMON_NAME, common_name))
    alt_names: list[x509.GeneralName] = []
    if role is Role.DPTLS:
        alt_names += [x509.DNSName(name) for name in tls_names]
        alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in tls_ips]
    alt_names.append(x509.RegisteredID(x509.ObjectIdentifier(smdp_oid)))
    builder = (
        role_builder(subject, ci.certificate.subject, key.public_key(), role, now)
        .add_extension(key_usage(digital_signature=True), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    )
    if role is Role.DPTLS:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return issue(builder, ci), key
