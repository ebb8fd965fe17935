"""SGP.22 certificates: loading, chain checks, roles and the identifiers they carry.

The RSP PKI is shallow (CI -> EUM -> eUICC, CI -> DPauth/DPpb/DPtls) and has rules generic
path validation does not know (EUM name constraints are EIN prefixes on the subject
serialNumber), so chains are checked link by link here, with ``cryptography`` doing the
signature work. Every refusal is a typed ``CertificateError`` naming the failing certificate's role.
"""
from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sgp22.crypto import curve_of
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

ROLE_POLICY_PREFIX = "2.23.146.1.2.1."


class Role(enum.Enum):
    """Certificate roles of SGP.22 section 4.5.2.1, by certificate policy OID."""

    CI = "2.23.146.1.2.1.0"
    EUICC = "2.23.146.1.2.1.1"
    EUM = "2.23.146.1.2.1.2"
    DPTLS = "2.23.146.1.2.1.3"
    DPAUTH = "2.23.146.1.2.1.4"
    DPPB = "2.23.146.1.2.1.5"

    @property
    def oid(self) -> x509.ObjectIdentifier:
        return x509.ObjectIdentifier(self.value)


# --- loading -----------------------------------------------------------------------------------


def _read(source: str | os.PathLike[str] | bytes, what: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    try:
        with open(source, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise BadInputError(f"cannot read {what} file {os.fspath(source)}: {exc.strerror}") from exc


def load_certificate(source: str | os.PathLike[str] | bytes) -> x509.Certificate:
    """A certificate from a path or from bytes, DER or PEM."""
    data = _read(source, "certificate")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CertificateFormatError("not a DER or PEM X.509 certificate") from exc


def load_private_key(source: str | os.PathLike[str] | bytes) -> ec.EllipticCurvePrivateKey:
    """An EC private key: SEC1 PEM (with or without the SGP.26 ``EC PARAMETERS`` block), PKCS#8, or DER."""
    data = _read(source, "private key")
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # the message of these exceptions never carries key material, but keep it out anyway
        raise CertificateFormatError("not an unencrypted PEM or DER private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateFormatError(f"expected an EC private key, got {type(key).__name__}")
    curve_of(key)
    return key


def certificate_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# --- what a certificate says ---------------------------------------------------------------------


ExtensionT = TypeVar("ExtensionT", bound=x509.ExtensionType)


def _extension(cert: x509.Certificate, kind: type[ExtensionT], what: str, role: str | None = None) -> ExtensionT:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound as exc:
        raise CertificateFormatError(f"certificate '{_label(cert)}' has no {what}", role=role) from exc
    except ValueError as exc:
        raise CertificateFormatError(f"certificate '{_label(cert)}' has a malformed {what}", role=role) from exc


def _label(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def role_of(cert: x509.Certificate) -> Role:
    """The SGP.22 role from the certificate policies extension."""
    policies: Iterable[x509.PolicyInformation]
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        policies = []
    except ValueError as exc:
        raise CertificateFormatError(f"certificate '{_label(cert)}' has malformed certificate policies") from exc
    for policy in policies:
        try:
            return Role(policy.policy_identifier.dotted_string)
        except ValueError:
            continue
    raise CertificateRoleError(f"certificate '{_label(cert)}' has no SGP.22 role policy")


def require_role(cert: x509.Certificate, role: Role) -> None:
    try:
        actual = role_of(cert)
    except CertificateRoleError as exc:
        raise CertificateRoleError(str(exc), role=role.name) from exc
    if actual is not role:
        raise CertificateRoleError(
            f"certificate '{_label(cert)}' is a {actual.name} certificate, expected {role.name}", role=role.name
        )


def eid_of(cert: x509.Certificate) -> str:
    """The EID an eUICC certificate carries in its subject serialNumber (32 digits)."""
    values = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if not values:
        raise CertificateFormatError(f"certificate '{_label(cert)}' has no subject serialNumber (EID)", role="EUICC")
    eid = str(values[0].value)
    if len(eid) != 32 or not eid.isdigit():
        raise CertificateFormatError(f"subject serialNumber of '{_label(cert)}' is not a 32-digit EID", role="EUICC")
    return eid


def smdp_oid_of(cert: x509.Certificate) -> str:
    """The SM-DP+ (or CI/EUM) OID in the subjectAltName registeredID."""
    san = _extension(cert, x509.SubjectAlternativeName, "subjectAltName")
    for oid in san.get_values_for_type(x509.RegisteredID):
        return str(oid.dotted_string)
    raise CertificateFormatError(f"certificate '{_label(cert)}' has no registeredID in its subjectAltName")


def dns_names_of(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.DNSName)


def ski_of(cert: x509.Certificate) -> bytes:
    return _extension(cert, x509.SubjectKeyIdentifier, "subjectKeyIdentifier").digest


def aki_of(cert: x509.Certificate) -> bytes:
    aki = _extension(cert, x509.AuthorityKeyIdentifier, "authorityKeyIdentifier")
    if aki.key_identifier is None:
        raise CertificateFormatError(f"authorityKeyIdentifier of '{_label(cert)}' has no keyIdentifier")
    return aki.key_identifier


def _optional_aki(cert: x509.Certificate) -> bytes | None:
    try:
        return aki_of(cert)
    except CertificateFormatError:
        return None


def _optional_ski(cert: x509.Certificate) -> bytes | None:
    try:
        return ski_of(cert)
    except CertificateFormatError:
        return None


# --- one link of a chain -----------------------------------------------------------------------


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(timezone.utc)
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def check_validity(cert: x509.Certificate, at: datetime | None = None, *, role: str | None = None) -> None:
    moment = _utc(at)
    if moment < cert.not_valid_before_utc:
        raise CertificateNotYetValidError(
            f"certificate '{_label(cert)}' is not valid before {cert.not_valid_before_utc:%Y-%m-%d}", role=role
        )
    if moment > cert.not_valid_after_utc:
        raise CertificateExpiredError(
            f"certificate '{_label(cert)}' expired on {cert.not_valid_after_utc:%Y-%m-%d}", role=role
        )


def verify_issued_by(
    cert: x509.Certificate,
    issuer_cert: x509.Certificate,
    *,
    at: datetime | None = None,
    check_time: bool = True,
    role: str | None = None,
) -> None:
    """``issuer_cert`` issued ``cert``: names, key identifiers, signature, then validity at ``at``.

    ``check_time=False`` is for the eUICC, which has no trusted clock.
    """
    label = role or _role_name(cert)
    issuer_aki = _optional_aki(cert)
    issuer_ski = _optional_ski(issuer_cert)
    if issuer_aki is not None and issuer_ski is not None and issuer_aki != issuer_ski:
        raise CertificateSignatureError(
            f"certificate '{_label(cert)}' names issuer key {issuer_aki.hex()}, not '{_label(issuer_cert)}'", role=label
        )
    try:
        cert.verify_directly_issued_by(issuer_cert)
    except ValueError as exc:
        raise CertificateSignatureError(
            f"certificate '{_label(cert)}' was not issued by '{_label(issuer_cert)}'", role=label
        ) from exc
    except InvalidSignature as exc:
        raise CertificateSignatureError(
            f"signature of certificate '{_label(cert)}' does not verify with '{_label(issuer_cert)}'", role=label
        ) from exc
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateSignatureError(f"certificate '{_label(cert)}' uses an unsupported signature", role=label) from exc
    if check_time:
        check_validity(cert, at, role=label)


def _role_name(cert: x509.Certificate) -> str | None:
    try:
        return role_of(cert).name
    except CertificateError:
        return None


# --- EUM name constraints ----------------------------------------------------------------------


def permitted_eid_prefixes(eum_cert: x509.Certificate) -> list[tuple[str | None, str]]:
    """(organisation, EIN prefix) pairs the EUM may issue eUICC certificates for.

    SGP.22 puts them in nameConstraints permittedSubtrees as directoryName ``O=..., serialNumber=<prefix>``.
    An empty list means the EUM is not constrained.
    """
    try:
        constraints = eum_cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return []
    prefixes = []
    for subtree in constraints.permitted_subtrees or []:
        if not isinstance(subtree, x509.DirectoryName):
            continue
        organisations = subtree.value.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        serials = subtree.value.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
        if serials:
            prefixes.append((str(organisations[0].value) if organisations else None, str(serials[0].value)))
    return prefixes


def check_eid_permitted(eum_cert: x509.Certificate, euicc_cert: x509.Certificate) -> str:
    """The eUICC certificate's EID, if its EUM may issue it; else ``EidOutsideEumRangeError``."""
    eid = eid_of(euicc_cert)
    allowed = permitted_eid_prefixes(eum_cert)
    if not allowed:
        return eid
    organisations = [str(a.value) for a in euicc_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    for organisation, prefix in allowed:
        if eid.startswith(prefix) and (organisation is None or organisation in organisations):
            return eid
    ranges = ", ".join(prefix for _, prefix in allowed)
    raise EidOutsideEumRangeError(
        f"EID {eid} is outside the range of EUM '{_label(eum_cert)}' (permitted: {ranges})", role="EUICC"
    )


# --- whole chains ------------------------------------------------------------------------------


def find_ci(cert: x509.Certificate, trusted_cis: Iterable[x509.Certificate], *, role: str | None = None) -> x509.Certificate:
    """The trusted CI that ``cert`` points to (by AKI, else by issuer name)."""
    cis = list(trusted_cis)
    aki = _optional_aki(cert)
    if aki is not None:
        for ci in cis:
            if _optional_ski(ci) == aki:
                return ci
        raise UnknownCiError(f"certificate '{_label(cert)}' chains to unknown CI key {aki.hex()}", role=role)
    for ci in cis:
        if ci.subject == cert.issuer:
            return ci
    if cert.issuer == cert.subject:
        raise CertificateSignatureError(f"certificate '{_label(cert)}' is self-signed, not issued by a CI", role=role)
    raise UnknownCiError(f"certificate '{_label(cert)}' is issued by unknown CI '{cert.issuer.rfc4514_string()}'", role=role)


def verify_server_certificate(
    cert: x509.Certificate,
    trusted_cis: Iterable[x509.Certificate],
    role: Role,
    *,
    ci_pkid: bytes | None = None,
    at: datetime | None = None,
    check_time: bool = True,
) -> x509.Certificate:
    """Check a DPauth/DPpb/DPtls certificate against the trusted CIs; returns the CI it chains to.

    ``ci_pkid`` (euiccCiPKIdToBeUsed) pins which CI the server must have used.
    """
    ci = find_ci(cert, trusted_cis, role=role.name)
    if ci_pkid is not None and _optional_ski(ci) != bytes(ci_pkid):
        raise UnknownCiError(
            f"certificate '{_label(cert)}' chains to CI {(_optional_ski(ci) or b'').hex()}, not the requested {bytes(ci_pkid).hex()}",
            role=role.name,
        )
    verify_issued_by(cert, ci, at=at, check_time=check_time, role=role.name)
    require_role(cert, role)
    curve_of(cert)
    return ci


def verify_euicc_chain(
    euicc_cert: x509.Certificate,
    eum_cert: x509.Certificate,
    trusted_cis: Iterable[x509.Certificate],
    *,
    ci_pkid: bytes | None = None,
    at: datetime | None = None,
) -> str:
    """The SM-DP+ check of an eUICC: EUM -> CI, eUICC -> EUM, roles, EID inside the EUM range.

    Returns the EID. Errors carry ``role`` ``"EUM"`` or ``"EUICC"`` (8.1.2 vs 8.1.3 in ES9+).
    """
    ci = find_ci(eum_cert, trusted_cis, role=Role.EUM.name)
    if ci_pkid is not None and _optional_ski(ci) != bytes(ci_pkid):
        raise UnknownCiError(f"EUM '{_label(eum_cert)}' does not chain to the CI the eUICC was asked to use", role="EUM")
    verify_issued_by(eum_cert, ci, at=at, role=Role.EUM.name)
    require_role(eum_cert, Role.EUM)
    verify_issued_by(euicc_cert, eum_cert, at=at, role=Role.EUICC.name)
    require_role(euicc_cert, Role.EUICC)
    curve_of(euicc_cert)
    return check_eid_permitted(eum_cert, euicc_cert)
