"""The lab SM-DP+ over real HTTPS: every ES9+ function, its status codes, and the profile
statuses the download flow and the notifications drive."""
from __future__ import annotations

import itertools

import pytest

from sgp22 import certs, codec, crypto, tlv
from sgp22.profile_package import encode_iccid

from rsplab import pki
from rsplab.smdp.status import ProfileStatus as S

from tests.lab.test_lab_smdp_kit import Download, SoftEuicc, b64, codes, iccid_for, status_of, unb64

_numbers = itertools.count(1000)


@pytest.fixture
def other_euicc(lab_identities):
    return SoftEuicc.from_dir(lab_identities, pki.load(lab_identities).fleet_eids()[0])


def new_profile(smdp, **options) -> tuple[str, str]:
    """(ICCID, matching ID) of a fresh profile."""
    iccid = iccid_for(next(_numbers))
    code = smdp.add_profile(iccid, **options)
    return iccid, code.split("$")[2]


def downloaded(smdp, lpa, euicc, **options) -> tuple[str, Download]:
    iccid, matching_id = new_profile(smdp, **options)
    download = Download(lpa, euicc)
    assert status_of(download.authenticate_client(matching_id)) == "Executed-Success"
    assert status_of(download.get_bound_profile_package()) == "Executed-Success"
    return iccid, download


# --- the whole flow ----------------------------------------------------------------------------------


def test_download_install_enable_disable_delete_moves_the_profile_through_its_statuses(smdp, lpa, euicc):
    iccid, matching_id = new_profile(smdp, size=4000, ppr2=True, profile_name="Travel", service_provider_name="Lab")
    download = Download(lpa, euicc)
    initiate = download.initiate_authentication()
    assert status_of(initiate) == "Executed-Success" and len(initiate["transactionId"]) == 32
    authenticate = download.authenticate_client(matching_id)
    assert authenticate["transactionId"] == initiate["transactionId"]
    metadata = codec.decode("StoreMetadataRequest", unb64(authenticate["profileMetadata"]))
    assert metadata["iccid"] == encode_iccid(iccid)
    assert (metadata["serviceProviderName"], metadata["profileName"], metadata["profileClass"]) == ("Lab", "Travel", 2)
    assert metadata["profilePolicyRules"] == (b"\x20", 3)
    (notifications,) = metadata["notificationConfigurationInfo"]
    assert notifications == {"profileManagementOperation": (b"\xf0", 4), "notificationAddress": smdp.address}
    assert smdp.status(iccid) == S.AVAILABLE
    bpp = download.get_bound_profile_package()
    assert unb64(bpp["boundProfilePackage"])[:2] == b"\xbf\x36"
    assert smdp.status(iccid) == S.DOWNLOADED
    response = download.install(iccid)
    assert (response.status_code, response.content) == (204, b"")
    assert smdp.status(iccid) == S.INSTALLED
    for operation, status in (("enable", S.ENABLED), ("disable", S.DISABLED), ("enable", S.ENABLED),
                              ("disable", S.DISABLED), ("delete", S.AVAILABLE)):
        assert download.notify(euicc.notification(operation, iccid, smdp.address)).status_code == 204
        assert smdp.status(iccid) == status
    moves = [(c.event, c.from_status, c.to_status) for c in smdp.history(iccid)]
    assert moves == [
        ("add", None, "AVAILABLE"), ("download", "AVAILABLE", "DOWNLOADED"), ("install", "DOWNLOADED", "INSTALLED"),
        ("enable", "INSTALLED", "ENABLED"), ("disable", "ENABLED", "DISABLED"), ("enable", "DISABLED", "ENABLED"),
        ("disable", "ENABLED", "DISABLED"), ("delete", "DISABLED", "DELETED"), ("reuse", "DELETED", "AVAILABLE")]
    assert all(c.eid == euicc.eid for c in smdp.history(iccid)[1:])


def test_server_signed1_is_signed_by_dpauth_for_this_challenge_and_address(smdp, lpa, euicc, lab_identities):
    download = Download(lpa, euicc)
    initiate = download.initiate_authentication()
    signed1_raw = unb64(initiate["serverSigned1"])
    signed1 = codec.decode("ServerSigned1", signed1_raw)
    assert signed1["serverAddress"] == smdp.address
    assert signed1["transactionId"].hex().upper() == initiate["transactionId"]
    server_cert = certs.load_certificate(unb64(initiate["serverCertificate"]))
    assert certs.role_of(server_cert) == certs.Role.DPAUTH
    crypto.verify_plain(server_cert, tlv.parse_one(unb64(initiate["serverSignature1"])).value, signed1_raw)
    assert unb64(initiate["euiccCiPKIdToBeUsed"]) == b"\x04\x14" + pki.load(lab_identities).ci_pkid


def test_a_delete_notification_after_a_lost_disable_is_recorded_as_drift(smdp, lpa, euicc):
    iccid, download = downloaded(smdp, lpa, euicc, reusable=False)
    download.install(iccid)
    download.notify(euicc.notification("enable", iccid, smdp.address))
    download.notify(euicc.notification("delete", iccid, smdp.address))  # its disable never arrived
    assert smdp.status(iccid) == S.DELETED
    last = smdp.history(iccid)[-1]
    assert (last.event, last.from_status, last.to_status, last.error) == ("delete", "ENABLED", "DELETED", None)
    assert last.reason.startswith("drift: ProfileStatus: cannot delete from ENABLED")


def test_a_single_use_profile_stays_deleted(smdp, lpa, euicc):
    iccid, download = downloaded(smdp, lpa, euicc, reusable=False)
    download.install(iccid)
    download.notify(euicc.notification("delete", iccid, smdp.address))
    assert smdp.status(iccid) == S.DELETED


# --- initiateAuthentication -------------------------------------------------------------------------


@pytest.mark.parametrize("change, expected", [
    ({"smdpAddress": "other.example.com"}, ("8.8.1", "3.8")),
    ({"svn": b"\x03\x00\x00"}, ("8.8.3", "3.1")),
    ({"for_signing": [b"\x11" * 20]}, ("8.8.2", "3.1")),
    ({"for_verification": [b"\x11" * 20]}, ("8.8.4", "3.7")),
    ({"euiccChallenge": b64(b"short")}, ("1.1", "2.1")),
    ({"euiccChallenge": "not base64!"}, ("1.1", "2.1")),
    ({"euiccInfo1": b64(b"\xbf\x20\x03\x01")}, ("1.1", "2.1")),
    ({"drop": "euiccChallenge"}, ("1.1", "2.2")),
    ({"drop": "smdpAddress"}, ("1.1", "2.2")),
])
def test_initiate_authentication_refusals(lpa, euicc, smdp, change, expected):
    info1 = {key: change[key] for key in ("svn", "for_signing", "for_verification") if key in change}
    body = {"euiccChallenge": b64(bytes(16)), "euiccInfo1": b64(euicc.info1(**info1)), "smdpAddress": smdp.address}
    body.update({k: v for k, v in change.items() if k in body})
    body.pop(change.get("drop"), None)
    assert codes(lpa.es9("initiateAuthentication", body)) == expected


def test_address_is_compared_case_insensitively(lpa, euicc, smdp):
    answer = lpa.es9("initiateAuthentication", {"euiccChallenge": b64(bytes(16)), "euiccInfo1": b64(euicc.info1()),
                                                "smdpAddress": smdp.address.upper()})
    assert status_of(answer) == "Executed-Success"


@pytest.mark.parametrize("headers, raw, status", [
    ({"Content-Type": "text/plain"}, None, 400),
    ({"X-Admin-Protocol": "gsma/rsp/v3.0.0"}, None, 400),
    ({"X-Admin-Protocol": ""}, None, 400),
    ({}, b"{not json", 400),
    ({}, b"[1, 2]", 400),
    ({"Content-Type": "application/json;charset=UTF-8", "X-Admin-Protocol": "gsma/rsp/v2.5.0"}, None, 200),
])
def test_http_envelope_checks(lpa, euicc, smdp, headers, raw, status):
    body = {"euiccChallenge": b64(bytes(16)), "euiccInfo1": b64(euicc.info1()), "smdpAddress": smdp.address}
    response = lpa.post("/gsma/rsp2/es9plus/initiateAuthentication", body, headers=headers, raw=raw)
    assert response.status_code == status
    assert response.headers["x-admin-protocol"] == "gsma/rsp/v2.2.0"
    if status == 400:
        assert codes(response.json()) == ("1.1", "2.1")


def test_unknown_function_and_wrong_method(lpa):
    assert lpa.post("/gsma/rsp2/es9plus/downloadEverything", {}).status_code == 404
    assert lpa.http.get(f"https://127.0.0.1:{lpa.smdp.port}/gsma/rsp2/es9plus/initiateAuthentication",
                        extensions={"sni_hostname": lpa.smdp.fqdn}).status_code == 405


# --- authenticateClient ------------------------------------------------------------------------------


def test_unknown_transaction_is_refused(lpa, euicc):
    for tid in ("00" * 16, "nothex", "AB" * 17):
        answer = lpa.es9("authenticateClient", {"transactionId": tid,
                                                "authenticateServerResponse": b64(b"\xbf\x38\x00")})
        assert codes(answer) == ("8.10.1", "3.9")


@pytest.mark.parametrize("options, expected", [
    ({"corrupt_signature": True}, ("8.1", "6.1")),
    ({"server_challenge": bytes(16)}, ("8.1", "6.1")),
    ({"transaction_id": bytes(16)}, ("8.10.1", "3.9")),
])
def test_euicc_proof_is_checked(smdp, lpa, euicc, options, expected):
    iccid, matching_id = new_profile(smdp)
    download = Download(lpa, euicc)
    assert codes(download.authenticate_client(matching_id, **options)) == expected
    retry = download.authenticate_client(matching_id)
    assert codes(retry) == ("8.10.1", "3.9"), "a refused session is over"
    assert smdp.status(iccid) == S.AVAILABLE


def test_unknown_matching_id_is_refused(lpa, euicc):
    assert codes(Download(lpa, euicc).authenticate_client("NO-SUCH-MATCHING-ID")) == ("8.2.6", "3.8")


def test_profile_bound_to_another_eid_is_refused_and_the_refusal_recorded(smdp, lpa, euicc, other_euicc):
    iccid, matching_id = new_profile(smdp, eid=other_euicc.eid)
    assert codes(Download(lpa, euicc).authenticate_client(matching_id)) == ("8.1.1", "3.8")
    last = smdp.history(iccid)[-1]
    assert last.error == "8.1.1/3.8: EID doesn't match the expected value" and last.eid == euicc.eid
    assert matching_id not in last.error
    assert status_of(Download(lpa, other_euicc).authenticate_client(matching_id)) == "Executed-Success"


@pytest.mark.parametrize("setup, expected", [
    (lambda smdp, iccid: smdp.release(iccid, False), ("8.2", "1.2")),
    (lambda smdp, iccid: smdp.expire(iccid), ("8.8.5", "4.10")),
    (lambda smdp, iccid: smdp.cancel(iccid), ("8.2.6", "3.8")),
    (lambda smdp, iccid: smdp.remove(iccid), ("8.2.6", "3.8")),
])
def test_profile_not_downloadable_by_operator_decision(smdp, lpa, euicc, setup, expected):
    iccid, matching_id = new_profile(smdp)
    setup(smdp, iccid)
    assert codes(Download(lpa, euicc).authenticate_client(matching_id)) == expected


def test_profile_added_unreleased_is_refused_until_released(smdp, lpa, euicc):
    iccid, matching_id = new_profile(smdp, released=False)
    assert codes(Download(lpa, euicc).authenticate_client(matching_id)) == ("8.2", "1.2")
    smdp.release(iccid)
    assert status_of(Download(lpa, euicc).authenticate_client(matching_id)) == "Executed-Success"


def test_default_smdp_flow_picks_the_profile_bound_to_the_eid(smdp, lpa, other_euicc, lab_identities):
    third = SoftEuicc.from_dir(lab_identities, pki.load(lab_identities).fleet_eids()[1])
    assert codes(Download(lpa, third).authenticate_client(None)) == ("8.2.5", "4.3")
    iccid, _ = new_profile(smdp, eid=third.eid)
    answer = Download(lpa, third).authenticate_client(None)
    assert codec.decode("StoreMetadataRequest", unb64(answer["profileMetadata"]))["iccid"] == encode_iccid(iccid)


@pytest.mark.parametrize("profile, euicc_options", [
    ({"profile_class": "test"}, {"test_profiles": False}),
    ({"ppr1": True}, {"forbidden_pprs": (b"\x40", 2)}),
])
def test_profile_the_euicc_cannot_take_is_not_eligible(smdp, lpa, lab_identities, profile, euicc_options):
    _, matching_id = new_profile(smdp, **profile)
    refusing = SoftEuicc.from_dir(lab_identities, **euicc_options)
    assert codes(Download(lpa, refusing).authenticate_client(matching_id)) == ("8.2.5", "4.3")


def test_profile_in_a_live_session_of_another_euicc_is_refused_but_the_same_euicc_may_restart(
        smdp, lpa, euicc, other_euicc):
    _, matching_id = new_profile(smdp)
    first = Download(lpa, euicc)
    assert status_of(first.authenticate_client(matching_id)) == "Executed-Success"
    assert codes(Download(lpa, other_euicc).authenticate_client(matching_id)) == ("8.2.6", "3.8")
    again = Download(lpa, euicc)
    assert status_of(again.authenticate_client(matching_id)) == "Executed-Success"
    assert codes(first.get_bound_profile_package()) == ("8.10.1", "3.9"), "the restart replaced the old session"
    assert status_of(again.get_bound_profile_package()) == "Executed-Success"


# --- getBoundProfilePackage --------------------------------------------------------------------------


def test_confirmation_code_missing_wrong_then_right(smdp, lpa, euicc):
    iccid, matching_id = new_profile(smdp, confirmation_code="4711")
    download = Download(lpa, euicc)
    assert unb64(download.authenticate_client(matching_id)["smdpSigned2"]) == codec.encode(
        "SmdpSigned2", {"transactionId": download.transaction_id, "ccRequiredFlag": True})
    assert codes(download.get_bound_profile_package()) == ("8.2.7", "2.2")
    assert codes(download.get_bound_profile_package(confirmation_code="0000")) == ("8.2.7", "3.8")
    assert status_of(download.get_bound_profile_package(confirmation_code="4711")) == "Executed-Success"
    assert smdp.status(iccid) == S.DOWNLOADED
    errors = [c.error for c in smdp.history(iccid) if c.error]
    assert errors == ["8.2.7/2.2: the confirmation code is missing",
                      "8.2.7/3.8: the confirmation code is refused (2 attempts left)"]
    assert not any("4711" in str(c.as_dict()) for c in smdp.history(iccid))


def test_confirmation_code_retries_run_out(smdp, lpa, euicc):
    iccid, matching_id = new_profile(smdp, confirmation_code="4711", cc_retry_limit=2)
    download = Download(lpa, euicc)
    download.authenticate_client(matching_id)
    assert codes(download.get_bound_profile_package(confirmation_code="1")) == ("8.2.7", "3.8")
    assert codes(download.get_bound_profile_package(confirmation_code="2")) == ("8.2.7", "6.4")
    assert codes(download.get_bound_profile_package(confirmation_code="4711")) == ("8.10.1", "3.9")
    assert codes(Download(lpa, euicc).authenticate_client(matching_id)) == ("8.8.5", "6.4")
    assert smdp.status(iccid) == S.AVAILABLE
    assert smdp.profile(iccid).cc_failures == 2


def test_a_mistyped_code_cancelled_with_end_user_rejection_leaves_the_order_usable(smdp, lpa, euicc):
    """lpac and others cancel every failed download with endUserRejection, a refused code too."""
    iccid, matching_id = new_profile(smdp, confirmation_code="4711", cc_retry_limit=3)
    for wrong in ("1111", "2222"):
        download = Download(lpa, euicc)
        download.authenticate_client(matching_id)
        assert codes(download.get_bound_profile_package(confirmation_code=wrong)) == ("8.2.7", "3.8")
        assert status_of(download.cancel(0)) == "Executed-Success"
        assert smdp.status(iccid) == S.AVAILABLE
    why = smdp.history(iccid)[-1]
    assert why.event == "cancel_session" and why.to_status == S.AVAILABLE
    assert why.reason == ("session cancelled: endUserRejection after a refused confirmation code: taken as the "
                          "LPA's answer to the refusal, the order stays usable (1 attempts left)")
    download = Download(lpa, euicc)
    download.authenticate_client(matching_id)
    assert status_of(download.get_bound_profile_package(confirmation_code="4711")) == "Executed-Success"
    assert download.install(iccid).status_code == 204
    assert smdp.status(iccid) == S.INSTALLED


def test_end_user_rejection_after_the_last_allowed_code_ends_the_order(smdp, lpa, euicc):
    iccid, matching_id = new_profile(smdp, confirmation_code="4711", cc_retry_limit=1)
    download = Download(lpa, euicc)
    download.authenticate_client(matching_id)
    assert codes(download.get_bound_profile_package(confirmation_code="1111")) == ("8.2.7", "6.4")
    assert codes(Download(lpa, euicc).authenticate_client(matching_id)) == ("8.8.5", "6.4")


def test_a_genuine_rejection_of_a_code_protected_profile_still_ends_the_order(smdp, lpa, euicc):
    """The user declined before any code was refused: SGP.22's endUserRejection, the order ends."""
    iccid, matching_id = new_profile(smdp, confirmation_code="4711")
    download = Download(lpa, euicc)
    download.authenticate_client(matching_id)
    assert status_of(download.cancel(0)) == "Executed-Success"
    assert smdp.status(iccid) == S.CANCELED
    assert smdp.history(iccid)[-1].reason == "session cancelled: endUserRejection"


def test_a_rejection_in_a_later_session_than_the_refused_code_ends_the_order(smdp, lpa, euicc):
    iccid, matching_id = new_profile(smdp, confirmation_code="4711")
    download = Download(lpa, euicc)
    download.authenticate_client(matching_id)
    assert codes(download.get_bound_profile_package(confirmation_code="1111")) == ("8.2.7", "3.8")
    assert status_of(download.cancel(0)) == "Executed-Success"
    again = Download(lpa, euicc)
    again.authenticate_client(matching_id)
    assert status_of(again.cancel(0)) == "Executed-Success"
    assert smdp.status(iccid) == S.CANCELED


def test_euicc_signature2_and_transaction_are_checked(smdp, lpa, euicc):
    for options, expected in (({"corrupt_signature": True}, ("8.1", "6.1")),
                              ({"transaction_id": bytes(16)}, ("8.10.1", "3.9"))):
        iccid, matching_id = new_profile(smdp)
        download = Download(lpa, euicc)
        download.authenticate_client(matching_id)
        assert codes(download.get_bound_profile_package(**options)) == expected
        assert smdp.status(iccid) == S.AVAILABLE


def test_package_before_authentication_is_refused(lpa, euicc):
    download = Download(lpa, euicc)
    download.initiate_authentication()
    answer = lpa.es9("getBoundProfilePackage", {"transactionId": download.initiate["transactionId"],
                                                "prepareDownloadResponse": b64(b"\xbf\x21\x00")})
    assert codes(answer) == ("8.10.1", "3.9")


def test_euicc_reporting_an_error_ends_the_session(smdp, lpa, euicc):
    _, matching_id = new_profile(smdp)
    download = Download(lpa, euicc)
    download.authenticate_client(matching_id)
    error = codec.encode("PrepareDownloadResponse", ("downloadResponseError", {
        "transactionId": download.transaction_id, "downloadErrorCode": 2}))
    body = {"transactionId": download.initiate["transactionId"], "prepareDownloadResponse": b64(error)}
    assert codes(lpa.es9("getBoundProfilePackage", body)) == ("8.1", "4.2")
    assert codes(lpa.es9("getBoundProfilePackage", body)) == ("8.10.1", "3.9")


def test_asking_again_in_the_same_session_returns_the_same_package(smdp, lpa, euicc):
    iccid, download = downloaded(smdp, lpa, euicc)
    first = download.bpp["boundProfilePackage"]
    response, _ = euicc.prepare_download_response(download.authenticate, otsk=download.otsk)
    again = lpa.es9("getBoundProfilePackage", {"transactionId": download.initiate["transactionId"],
                                               "prepareDownloadResponse": b64(response)})
    assert again["boundProfilePackage"] == first
    assert [c.event for c in smdp.history(iccid)].count("download") == 2
    assert smdp.status(iccid) == S.DOWNLOADED


def test_new_session_of_the_same_euicc_rebinds_with_the_one_time_key_it_kept(smdp, lpa, euicc, other_euicc):
    iccid, first = downloaded(smdp, lpa, euicc)
    matching_id = smdp.profile(iccid).matching_id
    second = Download(lpa, euicc)
    signed2 = codec.decode("SmdpSigned2", unb64(second.authenticate_client(matching_id)["smdpSigned2"]))
    assert signed2["bppEuiccOtpk"] == crypto.public_point(first.otsk)
    second.get_bound_profile_package(otsk=first.otsk)
    first_init = codec.decode("BoundProfilePackage", unb64(first.bpp["boundProfilePackage"]))
    second_init = codec.decode("BoundProfilePackage", unb64(second.bpp["boundProfilePackage"]))
    assert (second_init["initialiseSecureChannelRequest"]["smdpOtpk"]
            == first_init["initialiseSecureChannelRequest"]["smdpOtpk"])
    assert codes(Download(lpa, other_euicc).authenticate_client(matching_id)) == ("8.1.1", "3.8")


def test_profile_expired_by_the_operator_during_the_session_is_not_delivered(smdp, lpa, euicc):
    iccid, matching_id = new_profile(smdp)
    download = Download(lpa, euicc)
    download.authenticate_client(matching_id)
    smdp.expire(iccid)
    assert codes(download.get_bound_profile_package()) == ("8.8.5", "4.10")
    assert smdp.status(iccid) == S.EXPIRED


# --- handleNotification ------------------------------------------------------------------------------


def test_failed_installation_makes_the_profile_available_again(smdp, lpa, euicc):
    iccid, download = downloaded(smdp, lpa, euicc)
    assert download.install(iccid, success=False).status_code == 204
    assert smdp.status(iccid) == S.AVAILABLE
    last = smdp.history(iccid)[-1]
    assert (last.event, last.to_status) == ("abandon", "AVAILABLE")
    assert last.reason == "installation failed: bppCommandId 5, errorReason 10"


def test_notifications_that_do_not_verify_change_nothing_but_are_recorded(smdp, lpa, euicc, other_euicc):
    iccid, download = downloaded(smdp, lpa, euicc)
    forged = euicc.installation_result(download.transaction_id, iccid, smdp.smdp_oid, smdp.address,
                                       corrupt_signature=True)
    assert download.notify(forged).status_code == 204
    assert smdp.status(iccid) == S.DOWNLOADED
    assert smdp.history(iccid)[-1].error == "installation result signature does not verify"
    download.install(iccid)
    assert download.notify(other_euicc.notification("enable", iccid, smdp.address)).status_code == 204
    assert smdp.status(iccid) == S.INSTALLED
    assert smdp.history(iccid)[-1].error == "notification from an eUICC the profile was not downloaded to"
    assert download.install(iccid).status_code == 204, "a result delivered twice is acknowledged"
    assert smdp.history(iccid)[-1].error.startswith("ignored: ProfileStatus: cannot install from INSTALLED")


def test_a_repeated_notification_is_acknowledged_and_recorded_as_a_duplicate(smdp, lpa, euicc):
    """An LPA whose 204 got lost sends the same bytes again: not an error, nothing applied twice."""
    iccid, download = downloaded(smdp, lpa, euicc)
    result = euicc.installation_result(download.transaction_id, iccid, smdp.smdp_oid, smdp.address)
    enable = euicc.notification("enable", iccid, smdp.address)
    for pending in (result, result, enable, enable):
        assert download.notify(pending).status_code == 204
    assert smdp.status(iccid) == S.ENABLED
    rows = [(c.event, c.to_status, c.error) for c in smdp.history(iccid)][-4:]
    assert rows == [("install", S.INSTALLED, None), ("duplicate_notification", S.INSTALLED, None),
                    ("enable", S.ENABLED, None), ("duplicate_notification", S.ENABLED, None)]
    assert smdp.history(iccid)[-1].reason == (
        f"enable notification, sequence {euicc.seq}, again: acknowledged, already handled")


def test_a_notification_from_before_the_installation_revives_nothing(smdp, lpa, euicc):
    """A reusable profile erased from the card and downloaded again: an enable notification
    left over from its earlier life there (delivered late) must not enable the new one."""
    iccid, download = downloaded(smdp, lpa, euicc, reusable=True)
    assert download.install(iccid).status_code == 204
    left_over = euicc.notification("enable", iccid, smdp.address)  # never delivered in time
    assert download.notify(euicc.notification("delete", iccid, smdp.address)).status_code == 204
    assert smdp.status(iccid) == S.AVAILABLE
    again = Download(lpa, euicc)
    again.authenticate_client(smdp.profile(iccid).matching_id)
    assert status_of(again.get_bound_profile_package()) == "Executed-Success"
    assert again.install(iccid).status_code == 204
    assert again.notify(left_over).status_code == 204
    assert smdp.status(iccid) == S.INSTALLED
    stale = smdp.history(iccid)[-1]
    assert (stale.event, stale.error) == ("stale_notification", None)
    assert "predates the installation" in stale.reason
    assert again.notify(euicc.notification("enable", iccid, smdp.address)).status_code == 204
    assert smdp.status(iccid) == S.ENABLED


def test_a_card_whose_counter_started_again_is_not_taken_for_a_stale_one(smdp, lpa, euicc, lab_identities):
    iccid, download = downloaded(smdp, lpa, euicc, reusable=True)
    euicc.seq = 40
    download.install(iccid)
    download.notify(euicc.notification("delete", iccid, smdp.address))
    fresh = SoftEuicc.from_dir(lab_identities)  # the same EID, its counter from 0 again
    again = Download(lpa, fresh)
    again.authenticate_client(smdp.profile(iccid).matching_id)
    again.get_bound_profile_package()
    assert again.install(iccid).status_code == 204
    assert again.notify(fresh.notification("enable", iccid, smdp.address)).status_code == 204
    assert smdp.status(iccid) == S.ENABLED


def test_installation_result_after_the_session_ended_uses_the_stored_certificate(smdp, lpa, euicc):
    iccid, download = downloaded(smdp, lpa, euicc)
    smdp.sessions.close(smdp.sessions.find(download.transaction_id))
    assert download.install(iccid).status_code == 204
    assert smdp.status(iccid) == S.INSTALLED


def test_notification_for_an_unknown_profile_is_acknowledged(lpa, euicc, smdp):
    response = Download(lpa, euicc).notify(euicc.notification("enable", iccid_for(999999), smdp.address))
    assert response.status_code == 204


@pytest.mark.parametrize("pending", [b64(b"\x04\x01\x00"), b64(b"\xbf\x37\x03\x01\x02\x03"), "%%%"])
def test_malformed_notification_is_refused_with_a_header(lpa, pending):
    response = lpa.post("/gsma/rsp2/es9plus/handleNotification", {"pendingNotification": pending})
    assert response.status_code == 200 and codes(response.json()) == ("1.1", "2.1")


# --- cancelSession -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reason, status", [(1, S.AVAILABLE), (2, S.AVAILABLE), (5, S.AVAILABLE),
                                            (0, S.CANCELED), (3, S.CANCELED)])
def test_cancel_after_the_package_was_delivered(smdp, lpa, euicc, reason, status):
    iccid, download = downloaded(smdp, lpa, euicc)
    assert status_of(download.cancel(reason)) == "Executed-Success"
    assert smdp.status(iccid) == status
    assert smdp.history(iccid)[-1].reason.startswith("session cancelled: ")
    assert codes(download.cancel(reason)) == ("8.10.1", "3.9")


def test_postponing_before_the_package_keeps_the_profile_available(smdp, lpa, euicc):
    iccid, matching_id = new_profile(smdp)
    download = Download(lpa, euicc)
    download.authenticate_client(matching_id)
    assert status_of(download.cancel(1)) == "Executed-Success"
    assert smdp.status(iccid) == S.AVAILABLE
    assert smdp.history(iccid)[-1].reason == "session cancelled: postponed"


@pytest.mark.parametrize("options, expected", [
    ({"corrupt_signature": True}, ("8.1", "6.1")),
    ({"smdp_oid": "2.999.99"}, ("8.8", "3.10")),
])
def test_cancel_session_checks(smdp, lpa, euicc, options, expected):
    iccid, matching_id = new_profile(smdp)
    download = Download(lpa, euicc)
    download.authenticate_client(matching_id)
    assert codes(download.cancel(0, **options)) == expected
    assert smdp.status(iccid) == S.AVAILABLE


def test_cancel_before_authentication_is_an_unknown_session(lpa, euicc):
    download = Download(lpa, euicc)
    download.initiate_authentication()
    assert codes(download.cancel(0)) == ("8.10.1", "3.9")
