"""The lab's test PKI: generate one in the SGP.26 directory layout, or load any such directory.

A generated directory and the SGP.26 reference set load the same way, so every lab component
can run on either. The layout (file names per role and curve) is the one in docs/CONTRACTS.md;
extra eUICCs for fleets live in ``eUICC/<EID>/``.
"""
from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID

from sgp22 import certs
from sgp22.certs import Role
from sgp22.errors import BadInputError

from rsplab import pki_issuing as issuing
from rsplab.private_files import private_dir

_CURVE_NAMES = {"nist": "NIST", "p-256": "NIST", "p256": "NIST", "secp256r1": "NIST",
                "brp": "BRP", "brainpool": "BRP", "brainpoolp256r1": "BRP"}

DEFAULT_EIN = "89049032"
DEFAULT_SMDP_OID = "2.999.10"
DEFAULT_TLS_NAMES = ("localhost", "testsmdpplus1.example.com")
DEFAULT_TLS_IPS = ("127.0.0.1",)

# RFC 5280 4.1.2.5: 99991231235959Z means "no well-defined expiration", as SGP.22 wants for eUICCs.
"""The DPtls certificate lives as long as the CI: a lab must not stop serving TLS on a date."""


def _layout(curve: str) -> dict[Role, tuple[str, str]]:
    """(certificate, private key) paths per role, relative to the directory."""
    return {
        Role.CI: (f"CertificateIssuer/CERT_CI_ECDSA_{curve}.der", f"CertificateIssuer/SK_CI_ECDSA_{curve}.pem"),
        Role.EUM: (f"EUM/CERT_EUM_ECDSA_{curve}.der", f"EUM/SK_EUM_ECDSA_{curve}.pem"),
        Role.EUICC: (f"eUICC/CERT_EUICC_ECDSA_{curve}.der", f"eUICC/SK_EUICC_ECDSA_{curve}.pem"),
        Role.DPAUTH: (f"DPauth/CERT_S_SM_DPauth_ECDSA_{curve}.der", f"DPauth/SK_S_SM_DPauth_ECDSA_{curve}.pem"),
        Role.DPPB: (f"DPpb/CERT_S_SM_DPpb_ECDSA_{curve}.der", f"DPpb/SK_S_SM_DPpb_ECDSA_{curve}.pem"),
        Role.DPTLS: (f"DPtls/CERT_S_SM_DP_VARO_TLS_{curve}.der", f"DPtls/SK_S_SM_DP_TLS_{curve}.pem"),
    }


def _fleet_paths(curve: str, eid: str) -> tuple[str, str]:
    return f"eUICC/{eid}/CERT_EUICC_ECDSA_{curve}.der", f"eUICC/{eid}/SK_EUICC_ECDSA_{curve}.pem"


def curve_name(curve: str) -> str:
    name = _CURVE_NAMES.get(str(curve).lower())
    if name is None:
        raise BadInputError(f"unknown curve {curve!r}: use NIST (P-256) or BRP (brainpoolP256r1)")
    return name


# --- EIDs --------------------------------------------------------------------------------------


def eid_with_check_digits(first_30_digits: str) -> str:
    """Append the ISO 7064 MOD 97-10 check digits of SGP.29 (N mod 97 == 1 for the whole EID)."""
    return first_30_digits + f"{98 - int(first_30_digits + '00') % 97:02d}"


def eid_is_valid(eid: str) -> bool:
    return isinstance(eid, str) and len(eid) == 32 and eid.isdigit() and int(eid) % 97 == 1


def eid_for(ein: str, number: int) -> str:
    """The ``number``-th EID under an EIN: EIN, zero-padded serial, check digits."""
    body = f"{ein}{number:0{30 - len(ein)}d}"
    if len(body) != 30:
        raise BadInputError(f"eUICC number {number} does not fit after EIN {ein}")
    return eid_with_check_digits(body)


def _check_eid(eid: str, ein: str) -> str:
    if not eid_is_valid(eid):
        raise BadInputError(f"EID {eid!r} is not 32 digits with valid check digits")
    if not eid.startswith(ein):
        raise BadInputError(f"EID {eid} is not under the EUM's EIN {ein}")
    return eid


# --- loaded identities -------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """One certificate and, when the directory holds it, its private key (never in the repr)."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey | None = field(repr=False)
    cert_path: Path
    key_path: Path | None

    @property
    def der(self) -> bytes:
        return certs.certificate_der(self.certificate)

    @property
    def ski(self) -> bytes:
        return certs.ski_of(self.certificate)

    def __repr__(self) -> str:
        key = "with key" if self.private_key is not None else "no key"
        return f"Identity({self.certificate.subject.rfc4514_string()}, {self.cert_path}, {key})"


@dataclass(frozen=True)
class LabIdentities:
    """Every identity the lab needs, from one directory in the SGP.26 layout."""

    root: Path
    curve: str
    ci: Identity
    eum: Identity
    euicc: Identity
    dpauth: Identity
    dppb: Identity
    dptls: Identity
    trusted_cis: tuple[x509.Certificate, ...]
    ca_file: Path | None

    @property
    def smdp_oid(self) -> str:
        return certs.smdp_oid_of(self.dpauth.certificate)

    @property
    def ci_pkid(self) -> bytes:
        """The CI SKI, i.e. the value in euiccCiPKIdListForVerification/Signing."""
        return certs.ski_of(self.ci.certificate)

    @property
    def eid(self) -> str:
        return certs.eid_of(self.euicc.certificate)

    @property
    def tls_names(self) -> list[str]:
        return certs.dns_names_of(self.dptls.certificate)

    @functools.cached_property
    def tls_certificate(self) -> x509.Certificate:
        """The DPtls certificate the lab serves (with the directory's DPtls key).

        The directory's own, unless it ends before the CI does and the directory holds the CI's
        private key: then the CI re-issues it (same subject, key, names and extensions) up to
        the CI's own end. The SGP.26 DPtls certificates end on 2027-02-06 (older ones already
        have), their CI in 2055; without this a lab on the SGP.26 set would stop on that date.
        """
        return renewed_dptls(self.dptls.certificate, self.ci)

    def export_tls(self, dest: str | os.PathLike) -> tuple[Path, Path]:
        """Write the DPtls certificate and key as PEM files for ``ssl.load_cert_chain``.

        ``ssl`` reads only PEM files, and the SGP.26 set ships the DPtls certificate as DER in a
        directory that may be read-only, hence a copy in ``dest``.
        """
        if self.dptls.private_key is None:
            raise BadInputError(f"{self.root} has no DPtls private key")
        dest = private_dir(dest)
        cert_path, key_path = dest / "dptls-cert.pem", dest / "dptls-key.pem"
        cert_path.write_bytes(self.tls_certificate.public_bytes(serialization.Encoding.PEM))
        _write_private_key(key_path, self.dptls.private_key)
        return cert_path, key_path

    def fleet_eids(self) -> list[str]:
        """EIDs of the extra eUICCs under ``eUICC/<EID>/``, sorted."""
        base = self.root / "eUICC"
        cert_name = Path(_fleet_paths(self.curve, "x")[0]).name
        return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / cert_name).is_file()) if base.is_dir() else []

    def all_eids(self) -> list[str]:
        return [self.eid, *[eid for eid in self.fleet_eids() if eid != self.eid]]

    def euicc_identity(self, eid: str) -> Identity:
        if eid == self.eid:
            return self.euicc
        cert_rel, key_rel = _fleet_paths(self.curve, eid)
        if not (self.root / cert_rel).is_file():
            raise BadInputError(f"no eUICC identity for EID {eid} in {self.root}")
        return _load_identity(self.root, cert_rel, key_rel)


def renewed_dptls(dptls: x509.Certificate, ci: Identity) -> x509.Certificate:
    """``dptls`` valid until the CI's end, re-signed by the CI when it has its key (see
    :attr:`LabIdentities.tls_certificate`); ``dptls`` itself when it already lasts as long or
    there is no CI key."""
    ci_end = ci.certificate.not_valid_after_utc
    if ci.private_key is None or dptls.not_valid_after_utc >= ci_end:
        return dptls
    builder = (
        x509.CertificateBuilder()
        .subject_name(dptls.subject)
        .issuer_name(ci.certificate.subject)
        .public_key(dptls.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dptls.not_valid_before_utc)
        .not_valid_after(ci_end)
    )
    for extension in dptls.extensions:
        if extension.oid != ExtensionOID.AUTHORITY_KEY_IDENTIFIER:
            builder = builder.add_extension(extension.value, extension.critical)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ci.private_key.public_key())
    return builder.add_extension(aki, critical=False).sign(ci.private_key, hashes.SHA256())


def _load_identity(root: Path, cert_rel: str, key_rel: str, *, key_required: bool = True) -> Identity:
    cert_path, key_path = root / cert_rel, root / key_rel
    if not cert_path.is_file():
        raise BadInputError(f"{root} is not a lab identities directory: {cert_rel} is missing")
    certificate = certs.load_certificate(cert_path)
    if not key_path.is_file():
        if key_required:
            raise BadInputError(f"{root}: private key {key_rel} is missing")
        return Identity(certificate, None, cert_path, None)
    return Identity(certificate, certs.load_private_key(key_path), cert_path, key_path)


def detect_curve(root: str | os.PathLike) -> str:
    """NIST if the directory has a NIST CI, else BRP; SGP.26 has both and NIST is the usual choice."""
    root = Path(root)
    for curve in ("NIST", "BRP"):
        if (root / _layout(curve)[Role.CI][0]).is_file():
            return curve
    raise BadInputError(f"{root} holds no CertificateIssuer/CERT_CI_ECDSA_{{NIST,BRP}}.der")


def exists(root: str | os.PathLike) -> bool:
    try:
        detect_curve(root)
    except BadInputError:
        return False
    return True


def load(root: str | os.PathLike, curve: str | None = None) -> LabIdentities:
    """Load a generated directory or the SGP.26 set unchanged (CI key optional: trust needs only the cert)."""
    root = Path(root)
    curve = curve_name(curve) if curve else detect_curve(root)
    layout = _layout(curve)
    identities = {
        role: _load_identity(root, *layout[role], key_required=role is not Role.CI) for role in layout
    }
    trusted = []
    for other in ("NIST", "BRP"):
        path = root / _layout(other)[Role.CI][0]
        if path.is_file():
            trusted.append(certs.load_certificate(path))
    ca_file = next(
        (p for p in (root / "ca.pem", root / f"CertificateIssuer/CERT_CI_ECDSA_{curve}.pem") if p.is_file()), None
    )
    return LabIdentities(
        root=root,
        curve=curve,
        ci=identities[Role.CI],
        eum=identities[Role.EUM],
        euicc=identities[Role.EUICC],
        dpauth=identities[Role.DPAUTH],
        dppb=identities[Role.DPPB],
        dptls=identities[Role.DPTLS],
        trusted_cis=tuple(trusted),
        ca_file=ca_file,
    )


# --- generation --------------------------------------------------------------------------------


def _write(root: Path, cert_rel: str, key_rel: str, certificate: x509.Certificate,
           key: ec.EllipticCurvePrivateKey, *, pem_twin: bool = False) -> None:
    cert_path, key_path = root / cert_rel, root / key_rel
    private_dir(cert_path.parent)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    if pem_twin:
        cert_path.with_suffix(".pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_private_key(key_path, key)


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """SEC1 PEM (what SGP.26 ships, minus the redundant EC PARAMETERS block), readable by the owner only."""
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_bytes)


def _validate_oid(oid: str) -> str:
    try:
        x509.ObjectIdentifier(oid)
    except ValueError as exc:
        raise BadInputError(f"{oid!r} is not a dotted object identifier") from exc
    return oid


def generate(
    root: str | os.PathLike,
    *,
    curve: str = "NIST",
    eids: Sequence[str] | None = None,
    ein: str = DEFAULT_EIN,
    smdp_oid: str = DEFAULT_SMDP_OID,
    tls_names: Sequence[str] = DEFAULT_TLS_NAMES,
    tls_ips: Sequence[str] = DEFAULT_TLS_IPS,
    overwrite: bool = False,
) -> LabIdentities:
    """Write a complete PKI into ``root``. The first EID is the default eUICC; more go to ``eUICC/<EID>/``.

    Refuses to replace an existing PKI unless ``overwrite``: a new CI would orphan every eUICC
    and SM-DP+ state built on the old one.
    """
    root = Path(root)
    curve = curve_name(curve)
    if not (ein.isdigit() and 1 <= len(ein) <= 29):
        raise BadInputError(f"EIN {ein!r} must be 1..29 digits")
    _validate_oid(smdp_oid)
    if not tls_names:
        raise BadInputError("at least one TLS DNS name is needed for the SM-DP+")
    try:
        for ip in tls_ips:
            ipaddress.ip_address(ip)
    except ValueError as exc:
        raise BadInputError(f"not an IP address: {exc}") from exc
    eid_list = [_check_eid(eid, ein) for eid in eids] if eids else [eid_for(ein, 1)]
    if len(set(eid_list)) != len(eid_list):
        raise BadInputError("the same EID is listed twice")
    if exists(root) and not overwrite:
        raise BadInputError(f"{root} already holds a PKI; pass overwrite=True (--force) to replace it")

    now = issuing.issue_time()
    layout = _layout(curve)
    ci = issuing.make_ci(curve, now)
    eum = issuing.make_eum(ci, curve, ein, now)
    _write(root, *layout[Role.CI], ci.certificate, ci.key, pem_twin=True)
    _write(root, *layout[Role.EUM], eum.certificate, eum.key)
    euicc_cert, euicc_key = issuing.make_euicc(eum, eid_list[0], now)
    _write(root, *layout[Role.EUICC], euicc_cert, euicc_key)
    for role in (Role.DPAUTH, Role.DPPB, Role.DPTLS):
        certificate, key = issuing.make_smdp(ci, curve, role, smdp_oid, tls_names, tls_ips, now)
        _write(root, *layout[role], certificate, key, pem_twin=role is Role.DPTLS)
    (root / "ca.pem").write_bytes(ci.certificate.public_bytes(serialization.Encoding.PEM))
    if len(eid_list) > 1:
        _write_fleet(root, curve, eum, eid_list[1:], now)
    return load(root, curve)


def _write_fleet(root: Path, curve: str, eum: issuing.Issuer, eids: Iterable[str], now: dt.datetime) -> list[str]:
    written = []
    for eid in eids:
        certificate, key = issuing.make_euicc(eum, eid, now)
        _write(root, *_fleet_paths(curve, eid), certificate, key)
        written.append(eid)
    return written


def _eum_issuer(identities: LabIdentities) -> tuple[issuing.Issuer, str]:
    if identities.eum.private_key is None:
        raise BadInputError(f"{identities.root} has no EUM private key to issue eUICC certificates with")
    prefixes = certs.permitted_eid_prefixes(identities.eum.certificate)
    ein = prefixes[0][1] if prefixes else ""
    return issuing.Issuer(identities.eum.certificate, identities.eum.private_key), ein


def add_euiccs(root: str | os.PathLike, eids: Sequence[str] | None = None, *, count: int = 0,
               curve: str | None = None) -> list[str]:
    """Issue more eUICCs under ``eUICC/<EID>/`` with the directory's EUM; returns their EIDs.

    Either give the EIDs, or a ``count`` of new ones numbered after those already present.
    """
    identities = load(root, curve)
    eum, ein = _eum_issuer(identities)
    taken = set(identities.all_eids())
    if eids:
        wanted = [_check_eid(eid, ein) for eid in eids]
        clashes = sorted(taken.intersection(wanted))
        if clashes or len(set(wanted)) != len(wanted):
            raise BadInputError(f"EID already issued or listed twice: {', '.join(clashes) or 'duplicate in list'}")
    else:
        if count < 1:
            raise BadInputError("give EIDs or a positive count of eUICCs to add")
        wanted, number = [], 1
        while len(wanted) < count:
            candidate = eid_for(ein or DEFAULT_EIN, number)
            if candidate not in taken:
                wanted.append(candidate)
            number += 1
    return _write_fleet(identities.root, identities.curve, eum, wanted, issuing.issue_time())


def add_euicc(root: str | os.PathLike, eid: str | None = None, *, curve: str | None = None) -> Identity:
    """One more eUICC (a given EID or the next free one); returns its identity."""
    (issued,) = add_euiccs(root, [eid] if eid else None, count=1, curve=curve)
    return load(root, curve).euicc_identity(issued)


def ensure(root: str | os.PathLike, **generate_options) -> LabIdentities:
    """The PKI in ``root``, generated on first use."""
    return load(root) if exists(root) else generate(root, **generate_options)
