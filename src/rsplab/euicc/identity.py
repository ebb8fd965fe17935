"""The keys and certificates a virtual eUICC is made of, loaded from an SGP.26-layout directory.

A real eUICC may carry one certificate chain per CI (NIST P-256 and brainpoolP256r1 in the
SGP.26 set); the SM-DP+ picks the CI with euiccCiPKIdToBeUsed and the eUICC answers with the
matching eUICC and EUM certificates. Each chain is one :class:`EuiccCredential`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sgp22.certs import aki_of, certificate_der, eid_of, load_certificate, load_private_key, ski_of
from sgp22.errors import BadInputError

CURVE_SUFFIXES = ("NIST", "BRP")


@dataclass(frozen=True)
class EuiccCredential:
    euicc_cert: x509.Certificate
    euicc_key: ec.EllipticCurvePrivateKey = field(repr=False)
    eum_cert: x509.Certificate

    @property
    def ci_pkid(self) -> bytes:
        """The SKI of the CI this chain ends at (the EUM's AKI)."""
        return aki_of(self.eum_cert)

    @property
    def euicc_cert_der(self) -> bytes:
        return certificate_der(self.euicc_cert)

    @property
    def eum_cert_der(self) -> bytes:
        return certificate_der(self.eum_cert)


@dataclass(frozen=True)
class EuiccIdentity:
    credentials: tuple[EuiccCredential, ...]
    ci_certs: tuple[x509.Certificate, ...]
    """The CIs whose server certificates the card accepts (euiccCiPKIdListForVerification)."""
    eid: str

    def __post_init__(self) -> None:
        if not self.credentials:
            raise BadInputError("a virtual eUICC needs at least one eUICC certificate and key")
        if not self.ci_certs:
            raise BadInputError("a virtual eUICC needs at least one trusted CI certificate")
        for credential in self.credentials:
            if eid_of(credential.euicc_cert) != self.eid:
                raise BadInputError(f"eUICC certificate is for EID {eid_of(credential.euicc_cert)}, not {self.eid}")

    @classmethod
    def build(cls, euicc_cert, euicc_key, eum_cert, ci_certs) -> "EuiccIdentity":
        """From one chain: certificates as objects, paths or bytes; ``ci_certs`` a list of those."""
        credential = EuiccCredential(_cert(euicc_cert), _key(euicc_key), _cert(eum_cert))
        return cls((credential,), tuple(_cert(ci) for ci in ci_certs), eid_of(credential.euicc_cert))

    @classmethod
    def from_directory(cls, directory: str | os.PathLike, eid: str | None = None) -> "EuiccIdentity":
        """Load ``eUICC/``, ``EUM/`` and ``CertificateIssuer/`` of an SGP.26-layout directory.

        With ``eid``, a fleet member ``eUICC/<EID>/`` is used when present; otherwise the
        directory's own eUICC certificate must carry that EID.
        """
        root = Path(directory)
        euicc_dir = root / "eUICC"
        if eid is not None and (euicc_dir / eid).is_dir():
            euicc_dir = euicc_dir / eid
        credentials = []
        for suffix in CURVE_SUFFIXES:
            cert_path = euicc_dir / f"CERT_EUICC_ECDSA_{suffix}.der"
            key_path = euicc_dir / f"SK_EUICC_ECDSA_{suffix}.pem"
            eum_path = root / "EUM" / f"CERT_EUM_ECDSA_{suffix}.der"
            if cert_path.exists() and key_path.exists() and eum_path.exists():
                credentials.append(EuiccCredential(load_certificate(cert_path), load_private_key(key_path),
                                                   load_certificate(eum_path)))
        if not credentials:
            raise BadInputError(f"no eUICC certificate, key and EUM certificate under {root}")
        ci_paths = sorted((root / "CertificateIssuer").glob("CERT_CI_ECDSA_*.der"), key=_nist_first)
        cis = tuple(load_certificate(path) for path in ci_paths)
        found = eid_of(credentials[0].euicc_cert)
        if eid is not None and eid != found:
            raise BadInputError(f"identities in {root} are for EID {found}, not {eid}")
        return cls(tuple(credentials), cis, found)

    @classmethod
    def coerce(cls, source, eid: str | None = None) -> "EuiccIdentity":
        """An identity from an :class:`EuiccIdentity`, a directory path, or any object with a
        ``directory``/``root`` path attribute (e.g. the lab PKI handle)."""
        if isinstance(source, cls):
            if eid is not None and eid != source.eid:
                raise BadInputError(f"identity is for EID {source.eid}, not {eid}")
            return source
        if isinstance(source, (str, os.PathLike)):
            return cls.from_directory(source, eid)
        for attribute in ("directory", "root", "path"):
            path = getattr(source, attribute, None)
            if isinstance(path, (str, os.PathLike)):
                return cls.from_directory(path, eid)
        raise BadInputError(f"cannot build a virtual eUICC identity from a {type(source).__name__}")

    # --- lookups

    @property
    def verification_pkids(self) -> list[bytes]:
        return [ski_of(ci) for ci in self.ci_certs]

    @property
    def signing_pkids(self) -> list[bytes]:
        return [credential.ci_pkid for credential in self.credentials]

    def credential_for(self, ci_pkid: bytes) -> EuiccCredential | None:
        return next((c for c in self.credentials if c.ci_pkid == ci_pkid), None)

    def ci_for(self, ci_pkid: bytes) -> x509.Certificate | None:
        return next((ci for ci in self.ci_certs if ski_of(ci) == ci_pkid), None)


def _nist_first(path: Path) -> tuple[int, str]:
    """NIST before brainpool: SM-DP+s that take the first CI PKID we list then pick P-256."""
    suffix = path.stem.rsplit("_", 1)[-1]
    return (CURVE_SUFFIXES.index(suffix) if suffix in CURVE_SUFFIXES else len(CURVE_SUFFIXES), path.name)


def _cert(source) -> x509.Certificate:
    return source if isinstance(source, x509.Certificate) else load_certificate(source)


def _key(source) -> ec.EllipticCurvePrivateKey:
    return source if isinstance(source, ec.EllipticCurvePrivateKey) else load_private_key(source)
