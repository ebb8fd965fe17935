"""Profile metadata and the bound profile package (ES8+), built for real.

The package follows SGP.22 section 2.5.5: BF23 InitialiseSecureChannel signed with SK.DPpb;
A0 with ConfigureISDP encrypted under the session keys (87); A1 with StoreMetadata MAC-only
(88); A2 with ReplaceSessionKeys (87) carrying fresh profile protection keys; A3 with the
profile package encrypted under those keys in segments of at most 1020 bytes (86). Session
keys come from ECKA between otSK.DP and otPK.EUICC and the X9.63 KDF over hostId and EID.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from sgp22 import codec, crypto, tlv
from sgp22.es10_enums import ProfileClass
from sgp22.es10_types import AccessRule, OperatorId
from sgp22.profile_package import encode_iccid

ALL_NOTIFICATION_EVENTS = (b"\xf0", 4)
"""NotificationEvent with install, enable, disable and delete set."""
REMOTE_OP_INSTALL_BPP = 1
KEY_TYPE_AES = b"\x88"
KEY_LENGTH_128 = b"\x10"
_SIGNATURE_TAIL = bytes.fromhex("5F3740")


def ppr_bits(ppr1: bool, ppr2: bool) -> tuple[bytes, int]:
    """PprIds as a DER named bit string (trailing zero bits dropped)."""
    value = (0x40 if ppr1 else 0) | (0x20 if ppr2 else 0)
    return bytes([value]), 3 if ppr2 else 2


def store_metadata_request(
    *,
    iccid: str,
    service_provider_name: str,
    profile_name: str,
    profile_class: str,
    notification_address: str,
    ppr1: bool = False,
    ppr2: bool = False,
    icon_type: int | None = None,
    icon: bytes | None = None,
    access_rules: Sequence[AccessRule] = (),
    profile_owner: OperatorId | None = None,
) -> bytes:
    """BF25: the profileMetadata of authenticateClient, and the 88 segments of the package.

    Notifications for install, enable, disable and delete are all registered to this SM-DP+.
    The profile's ARA-M rules are announced as ``refArDo``, for the LPA to show before consent.
    """
    value = {
        "iccid": encode_iccid(iccid),
        "serviceProviderName": service_provider_name,
        "profileName": profile_name,
        "profileClass": int(ProfileClass[profile_class]),  # an inventory class name: test, provisioning, operational
        "notificationConfigurationInfo": [
            {"profileManagementOperation": ALL_NOTIFICATION_EVENTS, "notificationAddress": notification_address}
        ],
    }
    if icon is not None and icon_type is not None:
        value["iconType"] = icon_type
        value["icon"] = icon
    if ppr1 or ppr2:
        value["profilePolicyRules"] = ppr_bits(ppr1, ppr2)
    if access_rules:
        value["refArDo"] = [rule.to_asn1() for rule in access_rules]
    if profile_owner is not None:
        value["profileOwner"] = profile_owner.to_asn1()
    return codec.encode("StoreMetadataRequest", value)


def initialise_secure_channel(
    *,
    transaction_id: bytes,
    host_id: bytes,
    smdp_otpk: bytes,
    euicc_otpk: bytes,
    dppb_key: ec.EllipticCurvePrivateKey,
) -> bytes:
    """BF23 with smdpSign over its own fields followed by the eUICC's one-time key (5F49)."""
    value = {
        "remoteOpId": REMOTE_OP_INSTALL_BPP,
        "transactionId": transaction_id,
        "controlRefTemplate": {"keyType": KEY_TYPE_AES, "keyLen": KEY_LENGTH_128, "hostId": host_id},
        "smdpOtpk": smdp_otpk,
        "smdpSign": bytes(64),
    }
    unsigned = tlv.parse_one(codec.encode("InitialiseSecureChannelRequest", value)).value
    if unsigned[-67:-64] != _SIGNATURE_TAIL:
        raise AssertionError("smdpSign is not the last field of InitialiseSecureChannelRequest")
    signed_part = unsigned[:-67] + tlv.build(0x5F49, euicc_otpk)
    value["smdpSign"] = crypto.sign_plain(dppb_key, signed_part)
    return codec.encode("InitialiseSecureChannelRequest", value)


@dataclass(frozen=True)
class ProfileProtectionKeys:
    """The keys ReplaceSessionKeys hands to the eUICC for the profile segments."""

    initial_mcv: bytes = field(repr=False)
    ppk_enc: bytes = field(repr=False)
    ppk_mac: bytes = field(repr=False)

    @classmethod
    def fresh(cls) -> "ProfileProtectionKeys":
        return cls(os.urandom(16), os.urandom(16), os.urandom(16))

    def request(self) -> bytes:
        return codec.encode("ReplaceSessionKeysRequest", {
            "initialMacChainingValue": self.initial_mcv, "ppkEnc": self.ppk_enc, "ppkCmac": self.ppk_mac})


def bound_profile_package(
    *,
    transaction_id: bytes,
    host_id: bytes,
    eid: str,
    euicc_otpk: bytes,
    smdp_otsk: ec.EllipticCurvePrivateKey,
    dppb_key: ec.EllipticCurvePrivateKey,
    smdp_oid: str,
    metadata: bytes,
    profile_package: bytes,
    ppk: ProfileProtectionKeys | None = None,
) -> bytes:
    """BF36 for one eUICC; ``ppk`` defaults to fresh random profile protection keys."""
    ppk = ppk or ProfileProtectionKeys.fresh()
    init = initialise_secure_channel(transaction_id=transaction_id, host_id=host_id,
                                     smdp_otpk=crypto.public_point(smdp_otsk), euicc_otpk=euicc_otpk,
                                     dppb_key=dppb_key)
    keys = crypto.derive_session_keys(crypto.ecka(smdp_otsk, euicc_otpk), host_id, eid)
    session = crypto.BspSession.from_keys(keys)
    configure = session.wrap_encrypted(
        codec.encode("ConfigureISDPRequest", {"dpProprietaryData": {"dpOid": smdp_oid}}), tag=0x87)
    metadata_segments = session.wrap_mac_only_segments(metadata, tag=0x88)
    replace_keys = session.wrap_encrypted(ppk.request(), tag=0x87)
    profile_segments = crypto.BspSession(ppk.ppk_enc, ppk.ppk_mac, ppk.initial_mcv).wrap_encrypted_segments(
        profile_package, tag=0x86)
    return tlv.build(0xBF36, b"".join([
        init,
        tlv.build(0xA0, configure),
        tlv.build(0xA1, b"".join(metadata_segments)),
        tlv.build(0xA2, replace_keys),
        tlv.build(0xA3, b"".join(profile_segments)),
    ]))
