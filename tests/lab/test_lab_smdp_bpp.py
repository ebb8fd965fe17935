"""Bound profile packages from the lab SM-DP+, opened the way an eUICC opens them: BF23 signature
with the DPpb key, ECKA + KDF with the 8-byte hostId and the EID, SCP03t 87/88/87, then the
profile segments under the fresh PPKs, and the profile package inside."""
from __future__ import annotations

import pytest

from sgp22 import certs, codec, crypto, tlv
from sgp22.errors import Scp03tSecurityError
from sgp22.profile_package import parse_upp


from tests.lab.test_lab_smdp_kit import Download, SoftEuicc, b64, iccid_for, status_of, unb64


def download(smdp, lpa, euicc, number: int, **profile) -> tuple[str, Download]:
    iccid = iccid_for(number)
    matching_id = smdp.add_profile(iccid, **profile).split("$")[2]
    flow = Download(lpa, euicc)
    flow.authenticate_client(matching_id)
    assert status_of(flow.get_bound_profile_package()) == "Executed-Success"
    return iccid, flow


def open_package(flow: Download, euicc: SoftEuicc) -> dict:
    """Everything an eUICC gets out of the package, checking each MAC and signature on the way."""
    raw = unb64(flow.bpp["boundProfilePackage"])
    parts = tlv.children(tlv.parse_one(raw, expected_tag=0xBF36).value)
    assert [p.tag for p in parts] == [0xBF23, 0xA0, 0xA1, 0xA2, 0xA3]
    init_tlv, configure_list, metadata_list, replace_list, profile_list = parts
    init = codec.decode("InitialiseSecureChannelRequest", init_tlv.raw)
    euicc_otpk = crypto.public_point(flow.otsk)
    signed = b"".join(c.raw for c in tlv.children(init_tlv.value) if c.tag != 0x5F37) + tlv.build(0x5F49, euicc_otpk)
    dppb = certs.load_certificate(unb64(flow.authenticate["smdpCertificate"]))
    crypto.verify_plain(dppb, init["smdpSign"], signed)
    host_id = init["controlRefTemplate"]["hostId"]
    keys = crypto.derive_session_keys(crypto.ecka(flow.otsk, init["smdpOtpk"]), host_id, euicc.eid)
    session = crypto.BspSession.from_keys(keys)
    (configure_segment,) = tlv.children(configure_list.value)
    configure = codec.decode("ConfigureISDPRequest", session.unwrap_encrypted(configure_segment.raw, tag=0x87))
    metadata = b"".join(session.unwrap_mac_only(s.raw) for s in tlv.children(metadata_list.value))
    (replace_segment,) = tlv.children(replace_list.value)
    ppk = codec.decode("ReplaceSessionKeysRequest", session.unwrap_encrypted(replace_segment.raw, tag=0x87))
    profile_session = crypto.BspSession(ppk["ppkEnc"], ppk["ppkCmac"], ppk["initialMacChainingValue"])
    segments = [s.raw for s in tlv.children(profile_list.value)]
    upp = b"".join(profile_session.unwrap_encrypted(s, tag=0x86) for s in segments)
    return {"init": init, "host_id": host_id, "configure": configure, "metadata": metadata, "ppk": ppk,
            "segments": segments, "upp": upp, "metadata_segments": len(tlv.children(metadata_list.value))}


@pytest.mark.parametrize("size", [None, 10 * 1024, 100 * 1024])
def test_package_opens_with_the_euicc_keys_and_carries_the_profile(smdp, lpa, lab_identities, size):
    euicc = SoftEuicc.from_dir(lab_identities)
    iccid, flow = download(smdp, lpa, euicc, 2000 + (size or 0) // 1024, size=size)
    opened = open_package(flow, euicc)
    assert opened["init"]["remoteOpId"] == 1
    assert opened["init"]["transactionId"] == flow.transaction_id
    assert len(opened["host_id"]) == 8
    assert opened["configure"] == {"dpProprietaryData": {"dpOid": smdp.smdp_oid}}
    assert opened["metadata"] == unb64(flow.authenticate["profileMetadata"])
    profile = parse_upp(opened["upp"])
    assert profile.iccid == iccid
    if size is not None:
        assert len(opened["upp"]) == size
    assert all(len(segment) <= 1020 for segment in opened["segments"])
    assert all(len(segment) == 1020 for segment in opened["segments"][:-1])


def test_every_package_gets_fresh_profile_protection_keys(smdp, lpa, lab_identities):
    euicc = SoftEuicc.from_dir(lab_identities)
    keys = [open_package(download(smdp, lpa, euicc, 2200 + n)[1], euicc)["ppk"] for n in range(2)]
    assert keys[0]["ppkEnc"] != keys[1]["ppkEnc"] and keys[0]["ppkCmac"] != keys[1]["ppkCmac"]


def test_large_metadata_with_an_icon_is_split_into_several_mac_only_segments(smdp, lpa, lab_identities):
    euicc = SoftEuicc.from_dir(lab_identities)
    icon = bytes(range(256)) * 4
    iccid, flow = download(smdp, lpa, euicc, 2300, icon_type=1, icon=icon)
    opened = open_package(flow, euicc)
    assert opened["metadata_segments"] == 2
    metadata = codec.decode("StoreMetadataRequest", opened["metadata"])
    assert (metadata["iconType"], metadata["icon"]) == (1, icon)


def test_tampered_segment_fails_the_mac_check(smdp, lpa, lab_identities):
    euicc = SoftEuicc.from_dir(lab_identities)
    _, flow = download(smdp, lpa, euicc, 2400, size=3000)
    raw = bytearray(unb64(flow.bpp["boundProfilePackage"]))
    raw[-20] ^= 0x01
    flow.bpp = {"boundProfilePackage": b64(bytes(raw))}
    with pytest.raises(Scp03tSecurityError):
        open_package(flow, euicc)
