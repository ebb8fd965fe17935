"""ES10c local management on the virtual eUICC: states, policy rules, notifications, reset."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sgp22 import codec
from sgp22.certs import load_private_key
from sgp22.profile_package import encode_iccid

from rsplab import pki
from rsplab.euicc import EuiccConfig, VirtualEuicc
from tests.lab.euicc_kit import SGP26, Lpa, Smdp, iccid_for, pir_result

INSTALL, ENABLE, DISABLE, DELETE = (b"\x80", 1), (b"\x40", 2), (b"\x20", 3), (b"\x10", 4)


@pytest.fixture(scope="module")
def smdp():
    return Smdp()


@pytest.fixture
def lpa(identity):
    return Lpa(VirtualEuicc(identity, config=EuiccConfig(default_dp_address="factory.example.com")))


def install(lpa: Lpa, smdp: Smdp, number: int, **fields) -> bytes:
    pir = lpa.install(smdp, iccid_for(number), **fields)
    assert pir_result(pir)[0] == "successResult", pir_result(pir)
    return encode_iccid(iccid_for(number))


def call(lpa: Lpa, request_type: str, value, response_type: str):
    return codec.decode(response_type, lpa.es10(codec.encode(request_type, value)))


def enable(lpa, iccid) -> int:
    return call(lpa, "EnableProfileRequest", {"profileIdentifier": ("iccid", iccid), "refreshFlag": True},
                "EnableProfileResponse")["enableResult"]


def disable(lpa, iccid) -> int:
    return call(lpa, "DisableProfileRequest", {"profileIdentifier": ("iccid", iccid), "refreshFlag": True},
                "DisableProfileResponse")["disableResult"]


def delete(lpa, iccid) -> int:
    return call(lpa, "DeleteProfileRequest", ("iccid", iccid), "DeleteProfileResponse")["deleteResult"]


def states(lpa) -> dict[bytes, int]:
    listed = call(lpa, "ProfileInfoListRequest", {}, "ProfileInfoListResponse")[1]
    return {p["iccid"]: p["profileState"] for p in listed}


def notifications(lpa, **criteria) -> list[dict]:
    return call(lpa, "ListNotificationRequest", criteria, "ListNotificationResponse")[1]


def test_enable_disable_delete_with_their_result_codes(lpa, smdp):
    a = install(lpa, smdp, 1)
    assert disable(lpa, a) == 2                    # profileNotInEnabledState
    assert enable(lpa, a) == 0
    assert enable(lpa, a) == 2                     # profileNotInDisabledState
    assert delete(lpa, a) == 2                     # an enabled profile cannot be deleted
    assert disable(lpa, a) == 0
    assert delete(lpa, a) == 0
    assert states(lpa) == {}
    missing = encode_iccid(iccid_for(99))
    assert (enable(lpa, missing), disable(lpa, missing), delete(lpa, missing)) == (1, 1, 1)


def test_profiles_are_found_by_isdp_aid_too(lpa, smdp):
    install(lpa, smdp, 1)
    aid = call(lpa, "ProfileInfoListRequest", {}, "ProfileInfoListResponse")[1][0]["isdpAid"]
    assert call(lpa, "EnableProfileRequest", {"profileIdentifier": ("isdpAid", aid), "refreshFlag": False},
                "EnableProfileResponse")["enableResult"] == 0


def test_enabling_b_disables_a_and_notifies_both(lpa, smdp):
    a, b = install(lpa, smdp, 1), install(lpa, smdp, 2)
    assert enable(lpa, a) == 0
    assert enable(lpa, b) == 0
    assert states(lpa) == {a: 0, b: 1}
    events = [(n["profileManagementOperation"], n["iccid"]) for n in notifications(lpa)]
    assert events == [(INSTALL, a), (INSTALL, b), (ENABLE, a), (DISABLE, a), (ENABLE, b)]
    numbers = [n["seqNumber"] for n in notifications(lpa)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 5


def test_ppr1_forbids_disabling_and_switching_away(lpa, smdp):
    locked, other = install(lpa, smdp, 1, ppr1=True), install(lpa, smdp, 2)
    assert enable(lpa, locked) == 0
    assert disable(lpa, locked) == 3
    assert enable(lpa, other) == 3
    assert states(lpa) == {locked: 1, other: 0}


def test_a_provisioning_profile_may_take_over_from_a_ppr1_profile(lpa, smdp):
    locked, provisioning = install(lpa, smdp, 1, ppr1=True), install(lpa, smdp, 2, profile_class="provisioning")
    assert enable(lpa, locked) == 0
    assert enable(lpa, provisioning) == 0
    assert states(lpa) == {locked: 0, provisioning: 1}


def test_ppr2_forbids_deletion(lpa, smdp):
    kept = install(lpa, smdp, 1, ppr2=True)
    assert delete(lpa, kept) == 3
    assert kept in states(lpa)


def test_notifications_follow_the_profile_configuration(lpa, smdp):
    iccid = iccid_for(5)
    metadata = codec.encode("StoreMetadataRequest", {
        "iccid": encode_iccid(iccid), "serviceProviderName": "Op", "profileName": "Configured",
        "notificationConfigurationInfo": [
            {"profileManagementOperation": (b"\xC0", 2), "notificationAddress": "a.example.com"},
            {"profileManagementOperation": DELETE, "notificationAddress": "b.example.com"},
        ]})
    download = lpa.prepare(smdp, lpa.authenticate(smdp))
    bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid, metadata=metadata)
    assert pir_result(lpa.load(bpp))[0] == "successResult"
    coded = encode_iccid(iccid)
    assert enable(lpa, coded) == 0 and disable(lpa, coded) == 0 and delete(lpa, coded) == 0
    sent = [(n["profileManagementOperation"], n["notificationAddress"]) for n in notifications(lpa)]
    assert sent == [(INSTALL, smdp.address), (INSTALL, "a.example.com"), (ENABLE, "a.example.com"),
                    (DELETE, "b.example.com")]


def test_notification_lists_filter_and_removal(lpa, smdp, identity):
    a = install(lpa, smdp, 1)
    enable(lpa, a)
    assert [n["profileManagementOperation"] for n in notifications(lpa, profileManagementOperation=ENABLE)] == [ENABLE]
    install_seq, enable_seq = (n["seqNumber"] for n in notifications(lpa))
    kind, found = call(lpa, "RetrieveNotificationsListRequest", {"searchCriteria": ("seqNumber", enable_seq)},
                       "RetrieveNotificationsListResponse")
    [(alternative, signed)] = found
    assert alternative == "otherSignedNotification"
    assert signed["tbsOtherNotification"]["seqNumber"] == enable_seq
    assert signed["euiccCertificate"] == identity.credentials[0].euicc_cert_der
    by_event = call(lpa, "RetrieveNotificationsListRequest", {"searchCriteria": ("profileManagementOperation", INSTALL)},
                    "RetrieveNotificationsListResponse")[1]
    assert [alternative for alternative, _ in by_event] == ["profileInstallationResult"]
    remove = lambda seq: call(lpa, "NotificationSentRequest", {"seqNumber": seq},  # noqa: E731
                              "NotificationSentResponse")["deleteNotificationStatus"]
    assert remove(install_seq) == 0
    assert remove(install_seq) == 1
    assert [n["seqNumber"] for n in notifications(lpa)] == [enable_seq]
    assert call(lpa, "RetrieveNotificationsListRequest", {"searchCriteria": ("seqNumber", install_seq)},
                "RetrieveNotificationsListResponse") == ("notificationsListResultError", 1)


def test_sequence_numbers_never_repeat_after_removal(lpa, smdp):
    install(lpa, smdp, 1)
    [first] = notifications(lpa)
    call(lpa, "NotificationSentRequest", {"seqNumber": first["seqNumber"]}, "NotificationSentResponse")
    install(lpa, smdp, 2)
    [second] = notifications(lpa)
    assert second["seqNumber"] > first["seqNumber"]


def test_profiles_info_by_tag_list_and_search_criteria(lpa, smdp):
    icon = bytes.fromhex("89504E470D0A1A0A") + b"lab icon"
    a, b = install(lpa, smdp, 1, icon_type=1, icon=icon), install(lpa, smdp, 2, profile_class="test")
    full = call(lpa, "ProfileInfoListRequest", {"searchCriteria": ("iccid", a)}, "ProfileInfoListResponse")[1][0]
    assert (full["iconType"], full["icon"], full["profileName"]) == (1, icon, "Profile " + iccid_for(1)[-4:])
    assert full["dpProprietaryData"] == {"dpOid": "2.999.10"}
    only = call(lpa, "ProfileInfoListRequest", {"tagList": bytes.fromhex("5A9F70")}, "ProfileInfoListResponse")[1]
    assert only == [{"iccid": a, "profileState": 0}, {"iccid": b, "profileState": 0}]
    by_class = call(lpa, "ProfileInfoListRequest", {"searchCriteria": ("profileClass", 0)}, "ProfileInfoListResponse")[1]
    assert [p["iccid"] for p in by_class] == [b]
    by_iccid = call(lpa, "ProfileInfoListRequest", {"searchCriteria": ("iccid", a)}, "ProfileInfoListResponse")[1]
    assert [p["iccid"] for p in by_iccid] == [a]
    assert call(lpa, "ProfileInfoListRequest", {"tagList": b"\x9f"}, "ProfileInfoListResponse") == (
        "profileInfoListError", 1)


def test_nickname(lpa, smdp):
    a = install(lpa, smdp, 1)
    assert call(lpa, "SetNicknameRequest", {"iccid": a, "profileNickname": "Travel"},
                "SetNicknameResponse")["setNicknameResult"] == 0
    assert call(lpa, "SetNicknameRequest", {"iccid": encode_iccid(iccid_for(50)), "profileNickname": "x"},
                "SetNicknameResponse")["setNicknameResult"] == 1
    listed = call(lpa, "ProfileInfoListRequest", {}, "ProfileInfoListResponse")[1]
    assert listed[0]["profileNickname"] == "Travel"
    assert call(lpa, "SetNicknameRequest", {"iccid": a, "profileNickname": ""},
                "SetNicknameResponse")["setNicknameResult"] == 0
    listed = call(lpa, "ProfileInfoListRequest", {}, "ProfileInfoListResponse")[1]
    assert "profileNickname" not in listed[0], "an empty nickname clears it"


def reset(lpa, bits) -> int:
    return call(lpa, "EuiccMemoryResetRequest", {"resetOptions": bits}, "EuiccMemoryResetResponse")["resetResult"]


def test_memory_reset_options(lpa, smdp):
    assert reset(lpa, (b"\xE0", 3)) == 1  # nothing to delete, address already the factory one
    operational = install(lpa, smdp, 1, ppr2=True)
    test = install(lpa, smdp, 2, profile_class="test")
    provisioning = install(lpa, smdp, 3, profile_class="provisioning")
    enable(lpa, operational)
    assert reset(lpa, (b"\x40", 2)) == 0
    assert set(states(lpa)) == {operational, provisioning}
    assert reset(lpa, (b"\x40", 2)) == 1
    assert reset(lpa, (b"\x80", 1)) == 0          # PPR2 and the enabled state do not protect from a reset
    assert set(states(lpa)) == {provisioning}
    call(lpa, "SetDefaultDpAddressRequest", {"defaultDpAddress": "mine.example.com"}, "SetDefaultDpAddressResponse")
    assert reset(lpa, (b"\x20", 3)) == 0
    addresses = call(lpa, "EuiccConfiguredAddressesRequest", {}, "EuiccConfiguredAddressesResponse")
    assert addresses["defaultDpAddress"] == "factory.example.com"
    assert test not in states(lpa)


def test_memory_reset_signs_nothing_and_takes_the_erased_profiles_state_notifications(lpa, smdp):
    """SGP.22 v2.2: no notification for what a reset erases; a pending enable of an erased
    profile would otherwise tell its SM-DP+ later that a profile the card no longer has is on."""
    kept = install(lpa, smdp, 1, profile_class="provisioning")
    erased = install(lpa, smdp, 2)
    assert enable(lpa, erased) == 0
    before = [n["seqNumber"] for n in notifications(lpa)]
    assert reset(lpa, (b"\x80", 1)) == 0
    events = [(n["profileManagementOperation"], n["iccid"]) for n in notifications(lpa)]
    assert events == [(INSTALL, kept), (INSTALL, erased)], "installation results still conclude their downloads"
    assert enable(lpa, kept) == 0
    latest = notifications(lpa)[-1]
    assert (latest["profileManagementOperation"], latest["iccid"]) == (ENABLE, kept)
    assert latest["seqNumber"] > max(before), "the counter goes on across a reset"


def test_default_dp_address(lpa):
    assert call(lpa, "SetDefaultDpAddressRequest", {"defaultDpAddress": "smdp.example.org"},
                "SetDefaultDpAddressResponse") == {"setDefaultDpAddressResult": 0}
    addresses = call(lpa, "EuiccConfiguredAddressesRequest", {}, "EuiccConfiguredAddressesResponse")
    assert addresses == {"defaultDpAddress": "smdp.example.org", "rootDsAddress": "testrootsmds.example.com"}


def test_rat_lists_the_authorised_pprs(lpa):
    [rule] = call(lpa, "GetRatRequest", {}, "GetRatResponse")["rat"]
    assert rule["pprIds"] == (b"\x60", 3)
    assert rule["allowedOperators"] == [{"mccMnc": b"\xEE\xEE\xEE"}]
    assert rule["pprFlags"] == (b"\x80", 1)


def test_euicc_info2_reports_free_memory_and_capabilities(identity, smdp):
    lpa = Lpa(VirtualEuicc(identity, capacity=100_000))

    def free() -> int:
        info = codec.decode("EUICCInfo2", lpa.es10(bytes.fromhex("BF2200")))
        resource = info["extCardResource"]
        return int.from_bytes(resource[resource.index(b"\x82\x04") + 2:][:4], "big")

    assert free() == 100_000
    install(lpa, smdp, 1, size=20_000)
    assert free() == 80_000


def _crl(issuer_cert, issuer_key, serial: int, number: int) -> bytes:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer_cert.subject).last_update(now).next_update(now + dt.timedelta(days=30))
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False)
               .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()))
    from cryptography.hazmat.primitives.serialization import Encoding

    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(Encoding.DER)


def test_a_loaded_crl_revokes_the_smdp_certificate(lpa, smdp, tmp_path):
    ci_cert = smdp.ids.ci.certificate
    ci_key = load_private_key(SGP26 / "CertificateIssuer" / "SK_CI_ECDSA_NIST.pem")
    crl = _crl(ci_cert, ci_key, smdp.ids.dpauth.certificate.serial_number, 1)
    load = lambda data: call(lpa, "LoadCRLRequest", {"crl": data}, "LoadCRLResponse")  # noqa: E731
    assert load(crl) == ("loadCRLResponseOk", {})
    assert load(crl) == ("loadCRLResponseError", 5)
    stranger = pki.generate(tmp_path / "other")
    assert load(_crl(stranger.ci.certificate, stranger.ci.private_key, 5, 1)) == ("loadCRLResponseError", 4)
    assert load(bytes.fromhex("3003020100")) == ("loadCRLResponseError", 2)
    download = lpa.authenticate(smdp)
    assert codec.decode("AuthenticateServerResponse", download.auth_response)[1]["authenticateErrorCode"] == 1
