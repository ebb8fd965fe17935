"""ES10b.LoadCRL: the card learns which SM-DP+ certificates its CIs have revoked.

A loaded CRL is checked against the CI that issued it and kept durably; AuthenticateServer and
PrepareDownload then refuse revoked DPauth/DPpb certificates as invalidCertificate.
"""
from __future__ import annotations

import enum

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from sgp22 import codec
from sgp22.certs import ski_of

from rsplab.euicc.identity import EuiccIdentity
from rsplab.euicc.state import StateStore


class CrlError(enum.IntEnum):
    INVALID_SIGNATURE = 1
    INVALID_CRL_FORMAT = 2
    VERIFICATION_KEY_NOT_FOUND = 4
    FRESHER_CRL_ALREADY_LOADED = 5


def _number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def _issuer_of(crl: x509.CertificateRevocationList, identity: EuiccIdentity) -> x509.Certificate | None:
    try:
        aki = crl.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier
    except x509.ExtensionNotFound:
        aki = None
    if aki is not None:
        return identity.ci_for(aki)
    return next((ci for ci in identity.ci_certs if ci.subject == crl.issuer), None)


def load_crl(identity: EuiccIdentity, store: StateStore, request: dict) -> bytes:
    try:
        crl = x509.load_der_x509_crl(bytes(request["crl"]))
        revoked = [format(entry.serial_number, "X") for entry in crl]
        number = _number(crl)
    except (ValueError, TypeError):
        return _error(CrlError.INVALID_CRL_FORMAT)
    ci = _issuer_of(crl, identity)
    if ci is None:
        return _error(CrlError.VERIFICATION_KEY_NOT_FOUND)
    if not crl.is_signature_valid(ci.public_key()):
        return _error(CrlError.INVALID_SIGNATURE)
    key = ski_of(ci).hex().upper()
    loaded = store.state.crls.get(key)
    if loaded is not None and loaded["number"] >= number:
        return _error(CrlError.FRESHER_CRL_ALREADY_LOADED)
    with store.transaction() as state:
        state.crls[key] = {"number": number, "revoked": revoked}
    return codec.encode("LoadCRLResponse", ("loadCRLResponseOk", {}))


def _error(code: CrlError) -> bytes:
    return codec.encode("LoadCRLResponse", ("loadCRLResponseError", int(code)))
