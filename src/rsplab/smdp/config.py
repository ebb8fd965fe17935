"""Who the lab SM-DP+ is: its address, OID, certificates and keys, and its policies.

Identities come from a directory in the SGP.26 layout (``rsplab.pki``). When the directory
holds both a NIST and a brainpool set, the SM-DP+ serves both, and picks per session the set
whose CI the eUICC trusts, as an SM-DP+ with several CIs does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sgp22 import certs
from sgp22.errors import BadInputError

from rsplab import pki

DEFAULT_HOST_ID = b"LABSMDP+"
"""8-byte hostId for the key derivation (SGP.22 allows 1..16 bytes; real SM-DP+s use 8)."""
DEFAULT_SESSION_TTL = 600.0


@dataclass(frozen=True)
class SigningSet:
    """DPauth + DPpb of one curve, and the CI they chain to."""

    curve: str
    ci: x509.Certificate
    dpauth: x509.Certificate
    dpauth_key: ec.EllipticCurvePrivateKey = field(repr=False)
    dppb: x509.Certificate
    dppb_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @property
    def ci_pkid(self) -> bytes:
        return certs.ski_of(self.ci)

    @property
    def dpauth_der(self) -> bytes:
        return certs.certificate_der(self.dpauth)

    @property
    def dppb_der(self) -> bytes:
        return certs.certificate_der(self.dppb)


@dataclass(frozen=True)
class SmdpConfig:
    fqdn: str
    port: int
    oid: str
    signing_sets: tuple[SigningSet, ...]
    trusted_cis: tuple[x509.Certificate, ...]
    tls_certificate: x509.Certificate
    tls_key: ec.EllipticCurvePrivateKey = field(repr=False)
    host_id: bytes = DEFAULT_HOST_ID
    session_ttl: float = DEFAULT_SESSION_TTL
    allow_rebinding: bool = True
    """A profile bound to an eUICC that never installed it may be bound again to a new one-time key."""

    @property
    def address(self) -> str:
        """The SM-DP+ address as it goes into activation codes (the port only when not 443)."""
        return self.fqdn if self.port == 443 else f"{self.fqdn}:{self.port}"

    def accepts_address(self, address: str) -> bool:
        """SGP.22 compares addresses case-insensitively; ``fqdn`` alone is accepted for port 443."""
        return address.strip().lower() in {self.address.lower(), f"{self.fqdn}:{self.port}".lower()}

    def signing_set_for(self, ci_pkid: bytes) -> SigningSet | None:
        return next((s for s in self.signing_sets if s.ci_pkid == ci_pkid), None)


def load_config(
    identities_dir: str | os.PathLike,
    *,
    port: int,
    fqdn: str | None = None,
    host_id: bytes = DEFAULT_HOST_ID,
    session_ttl: float = DEFAULT_SESSION_TTL,
    allow_rebinding: bool = True,
) -> SmdpConfig:
    root = Path(identities_dir)
    primary = pki.load(root)
    sets = [_signing_set(primary)]
    for curve in ("NIST", "BRP"):
        if curve == primary.curve:
            continue
        try:
            other = pki.load(root, curve)
        except BadInputError:
            continue  # that curve is not (completely) in the directory
        sets.append(_signing_set(other))
    oid = certs.smdp_oid_of(primary.dpauth.certificate)
    for signing_set in sets:
        for cert in (signing_set.dpauth, signing_set.dppb):
            if certs.smdp_oid_of(cert) != oid:
                raise BadInputError(f"SM-DP+ certificates in {root} carry different OIDs ({oid} and "
                                    f"{certs.smdp_oid_of(cert)})")
    names = certs.dns_names_of(primary.dptls.certificate)
    if fqdn is None:
        if not names:
            raise BadInputError(f"the DPtls certificate in {root} has no DNS name")
        fqdn = names[0]
    elif names and fqdn.lower() not in (name.lower() for name in names):
        raise BadInputError(f"{fqdn} is not a DNS name of the DPtls certificate ({', '.join(names)})")
    if not 1 <= len(host_id) <= 16:
        raise BadInputError("hostId must be 1..16 bytes")
    return SmdpConfig(
        fqdn=fqdn,
        port=port,
        oid=oid,
        signing_sets=tuple(sets),
        trusted_cis=primary.trusted_cis,
        tls_certificate=_servable_tls_certificate(primary),
        tls_key=primary.dptls.private_key,
        host_id=host_id,
        session_ttl=session_ttl,
        allow_rebinding=allow_rebinding,
    )


def _servable_tls_certificate(identities: pki.LabIdentities) -> x509.Certificate:
    certificate = identities.tls_certificate
    end = certificate.not_valid_after_utc
    if end < datetime.now(timezone.utc):
        raise BadInputError(f"the DPtls certificate in {identities.root} expired on {end:%Y-%m-%d}, and without the "
                            "CI's private key the lab cannot issue another")
    return certificate


def _signing_set(identities: pki.LabIdentities) -> SigningSet:
    return SigningSet(
        curve=identities.curve,
        ci=identities.ci.certificate,
        dpauth=identities.dpauth.certificate,
        dpauth_key=identities.dpauth.private_key,
        dppb=identities.dppb.certificate,
        dppb_key=identities.dppb.private_key,
    )
