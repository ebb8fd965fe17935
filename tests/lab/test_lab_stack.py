"""The whole lab stack as a user runs it: the protocol library drives a virtual eUICC that an
``esimflow lab euicc`` process put into a vpcd reader (pyscard -> pcscd -> vpcd), and talks to
the lab SM-DP+ over TLS. Each test runs once with a freshly generated PKI and once with the
SGP.26 set unchanged (eUICC 89049032123451234512345678901235, DPtls testsmdpplus1.example.com
reached through the client's connect override to 127.0.0.1)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from sgp22 import es10
from sgp22.errors import Es9FunctionError, Es10ResultError, TlsError
from sgp22.es9 import Es9Client, Es9Config
from sgp22.es10_enums import NotificationEvent, ProfileState, ResetOption
from sgp22.activation_code import ActivationCode

from rsplab import pki
from rsplab.smdp.server import LabSmdp
from rsplab.smdp.status import ProfileStatus

from tests.lab.stack_kit import (  # noqa: F401 - stack_pcscd is a fixture
    SGP26,
    SGP26_EID,
    cli_card,
    deliver_notifications,
    download,
    es9_config,
    isdr_over_pcsc,
    new_iccid,
    stack_pcscd,
    statuses,
)

pytestmark = pytest.mark.pcsc

ALL_RESET_OPTIONS = (ResetOption.DELETE_OPERATIONAL_PROFILES | ResetOption.DELETE_FIELD_LOADED_TEST_PROFILES
                     | ResetOption.RESET_DEFAULT_SMDP_ADDRESS)


@dataclass
class Lab:
    name: str
    identities: Path
    eid: str
    smdp: LabSmdp


@pytest.fixture(scope="module", params=["generated-pki", "sgp26-pki"])
def lab(request, tmp_path_factory):
    if request.param == "generated-pki":
        identities = pki.generate(tmp_path_factory.mktemp("stack-pki")).root
        eid = pki.load(identities).eid
    else:
        identities, eid = SGP26, SGP26_EID
    smdp = LabSmdp(identities, tmp_path_factory.mktemp("stack-smdp") / "smdp.sqlite3").start()
    yield Lab(request.param, identities, eid, smdp)
    smdp.stop()


async def test_a_profile_downloaded_with_its_confirmation_code_lives_its_whole_life_through_pcsc_and_tls(
        lab, stack_pcscd, tmp_path):
    iccid = new_iccid()
    code = lab.smdp.add_profile(iccid, confirmation_code="7391", reusable=False, size=6000,
                                profile_name="Stack travel")
    assert ActivationCode.parse(code).confirmation_code_required
    if lab.name == "sgp26-pki":
        assert lab.smdp.address.startswith("testsmdpplus1.example.com:")
        assert lab.smdp.connect_overrides == {"testsmdpplus1.example.com": f"127.0.0.1:{lab.smdp.port}",
                                              lab.smdp.smds_address: f"127.0.0.1:{lab.smdp.smds_port}"}
        assert lab.smdp.smds_address.startswith("testsmdpplus1.example.com:")

    with cli_card(lab.identities, tmp_path / "card.json") as card, isdr_over_pcsc(card.reader) as isdr:
        assert card.eid == lab.eid
        assert es10.get_eid(isdr) == lab.eid

        with pytest.raises(Es9FunctionError) as wrong_code:
            await download(isdr, lab.smdp, code, "0000")
        assert (wrong_code.value.subject_code, wrong_code.value.reason_code) == ("8.2.7", "3.8")
        assert es10.get_profiles_info(isdr) == []
        assert lab.smdp.status(iccid) == ProfileStatus.AVAILABLE
        assert lab.smdp.profile(iccid).cc_failures == 1

        result = await download(isdr, lab.smdp, code, "7391")
        assert result.iccid == iccid and result.pir_delivered
        (installed,) = es10.get_profiles_info(isdr)
        assert (installed.iccid, installed.state, installed.profile_name) == (iccid, ProfileState.disabled,
                                                                              "Stack travel")
        assert es10.retrieve_notifications_list(isdr) == []  # the PIR went to the SM-DP+ and left the card
        assert lab.smdp.status(iccid) == ProfileStatus.INSTALLED

        steps = [(es10.enable_profile, NotificationEvent.enable, ProfileStatus.ENABLED),
                 (es10.disable_profile, NotificationEvent.disable, ProfileStatus.DISABLED),
                 (es10.delete_profile, NotificationEvent.delete, ProfileStatus.DELETED)]
        for operation, event, status in steps:
            operation(isdr, iccid=iccid)
            pending = es10.retrieve_notifications_list(isdr)
            assert [(item.metadata.event, item.metadata.iccid) for item in pending] == [(event, iccid)]
            assert pending[0].metadata.address == lab.smdp.address
            outcomes = await deliver_notifications(isdr, lab.smdp)
            assert [(outcome.seq_number, outcome.delivered) for outcome in outcomes] == [
                (pending[0].metadata.seq_number, True)]
            assert es10.retrieve_notifications_list(isdr) == []
            assert lab.smdp.status(iccid) == status
        assert es10.get_profiles_info(isdr) == []

    assert statuses(lab.smdp, iccid) == ["AVAILABLE", "DOWNLOADED", "INSTALLED", "ENABLED", "DISABLED", "DELETED"]
    assert {change.eid for change in lab.smdp.history(iccid)[1:]} == {lab.eid}


async def test_downloads_without_confirmation_code_then_a_memory_reset_leaves_an_empty_usable_card(
        lab, stack_pcscd, tmp_path):
    first, second, after_reset = new_iccid(), new_iccid(), new_iccid()
    codes = {iccid: lab.smdp.add_profile(iccid, reusable=False) for iccid in (first, second, after_reset)}
    assert not ActivationCode.parse(codes[first]).confirmation_code_required

    with cli_card(lab.identities, tmp_path / "card.json") as card, isdr_over_pcsc(card.reader) as isdr:
        for iccid in (first, second):
            assert (await download(isdr, lab.smdp, codes[iccid])).pir_delivered
        es10.enable_profile(isdr, iccid=first)
        assert [outcome.delivered for outcome in await deliver_notifications(isdr, lab.smdp)] == [True]
        es10.set_default_dp_address(isdr, "smdp.operator.example")
        assert {(p.iccid, p.state) for p in es10.get_profiles_info(isdr)} == {
            (first, ProfileState.enabled), (second, ProfileState.disabled)}

        es10.memory_reset(isdr, ALL_RESET_OPTIONS)

        assert es10.get_profiles_info(isdr) == []
        assert es10.get_euicc_configured_addresses(isdr).default_dp_address is None
        with pytest.raises(Es10ResultError) as again:
            es10.memory_reset(isdr, ResetOption.DELETE_OPERATIONAL_PROFILES)
        assert again.value.result_name == "nothingToDelete"

        assert (await download(isdr, lab.smdp, codes[after_reset])).pir_delivered
        assert [p.iccid for p in es10.get_profiles_info(isdr)] == [after_reset]

    assert lab.smdp.status(second) == ProfileStatus.INSTALLED
    assert lab.smdp.status(after_reset) == ProfileStatus.INSTALLED


async def test_an_lpa_trusting_another_ci_cannot_talk_to_the_smdp(lab, tmp_path):
    """The connect override moves only the TCP connection: the certificate is still checked."""
    if lab.name == "sgp26-pki":
        other_ca = pki.generate(tmp_path / "other-pki").ca_file
    else:
        other_ca = SGP26 / "CertificateIssuer" / "CERT_CI_ECDSA_NIST.pem"
    config = Es9Config(ca_file=other_ca, connect_overrides=lab.smdp.connect_overrides)
    async with Es9Client(lab.smdp.address, config) as es9:
        with pytest.raises(TlsError):
            await es9.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
    async with Es9Client(lab.smdp.address, es9_config(lab.smdp)) as es9:
        with pytest.raises(Es9FunctionError):  # the right CA: TLS passes, the bogus EUICCInfo1 does not
            await es9.initiate_authentication(bytes(16), bytes.fromhex("BF2000"))
