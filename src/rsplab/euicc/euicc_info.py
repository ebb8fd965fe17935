"""EUICCInfo1 / EUICCInfo2: what the card says about itself to the LPA and the SM-DP+."""
from __future__ import annotations

from sgp22 import codec
from sgp22.tlv import build

from rsplab.euicc.asn1_bits import to_bits
from rsplab.euicc.config import EuiccConfig
from rsplab.euicc.identity import EuiccIdentity
from rsplab.euicc.state import EuiccState

UICC_CAPABILITY_ORDER = (
    "contactlessSupport", "usimSupport", "isimSupport", "csimSupport", "akaMilenage", "akaCave",
    "akaTuak128", "akaTuak256", "rfu1", "rfu2", "gbaAuthenUsim", "gbaAuthenISim", "mbmsAuthenUsim",
    "eapClient", "javacard", "multos", "multipleUsimSupport", "multipleIsimSupport",
    "multipleCsimSupport", "berTlvFileSupport", "dfLinkSupport", "catTp", "getIdentity",
    "profile-a-x25519", "profile-b-p256", "suciCalculatorApi",
)
RSP_CAPABILITY_ORDER = ("additionalProfile", "crlSupport", "rpmSupport", "testProfileSupport",
                        "deviceInfoExtensibilitySupport")
MEDIUM_EUICC = 2


def free_bytes(config: EuiccConfig, state: EuiccState) -> int:
    return max(0, config.capacity - state.used_bytes())


def ext_card_resource(config: EuiccConfig, state: EuiccState) -> bytes:
    """ETSI TS 102 226 extended card resources: installed applications, free NVM, free RAM."""
    free = min(free_bytes(config, state), 0xFFFFFFFF)
    return (build(0x81, bytes([min(len(state.profiles), 0xFF)]))
            + build(0x82, free.to_bytes(4, "big"))
            + build(0x83, (64 * 1024).to_bytes(4, "big")))


def euicc_info1(identity: EuiccIdentity, config: EuiccConfig) -> bytes:
    return codec.encode("EUICCInfo1", {
        "svn": config.svn,
        "euiccCiPKIdListForVerification": identity.verification_pkids,
        "euiccCiPKIdListForSigning": identity.signing_pkids,
    })


def euicc_info2(identity: EuiccIdentity, config: EuiccConfig, state: EuiccState) -> bytes:
    rsp_capability = ["crlSupport"]
    if free_bytes(config, state) > 0:
        rsp_capability.append("additionalProfile")
    if 0 in config.supported_profile_classes:
        rsp_capability.append("testProfileSupport")
    return codec.encode("EUICCInfo2", {
        "profileVersion": config.profile_version,
        "svn": config.svn,
        "euiccFirmwareVer": bytes.fromhex(state.os_version),
        "extCardResource": ext_card_resource(config, state),
        "uiccCapability": to_bits(config.uicc_capability, UICC_CAPABILITY_ORDER),
        "ts102241Version": config.ts102241_version,
        "globalplatformVersion": config.globalplatform_version,
        "rspCapability": to_bits(rsp_capability, RSP_CAPABILITY_ORDER),
        "euiccCiPKIdListForVerification": identity.verification_pkids,
        "euiccCiPKIdListForSigning": identity.signing_pkids,
        "euiccCategory": MEDIUM_EUICC,
        "ppVersion": config.pp_version,
        "sasAcreditationNumber": config.sas_accreditation_number,
    })
