"""ARA-M access rules and the profile owner from the lab SM-DP+ to the virtual eUICC: given to
``add-profile``, announced in the profile metadata (refArDo, profileOwner), the rules carried by
the generated package's ARA-M, installed by the eUICC and answered in GetProfilesInfo (BF76/E2,
B7). Over TLS, with esimflow's LPA."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from carddrivers.local import LocalTransport
from esimcli.lab_smdp import smdp as smdp_cli
from sgp22 import download_steps, es10, lpa
from sgp22.apdu import IsdrChannel
from sgp22.errors import BadInputError
from sgp22.es9 import Es9Client, Es9Config
from sgp22.es10_types import AccessRule, OperatorId
from sgp22.activation_code import ActivationCode

from rsplab.euicc import VirtualEuicc
from rsplab.smdp.profiles import parse_access_rule, parse_operator
from rsplab.smdp.server import LabSmdp

from tests.lab.test_lab_smdp_kit import iccid_for

TS48_V1 = Path("/work/shared/reference/ts48/TS48v1_A.der")
DIALER = AccessRule(bytes.fromhex("A1" * 32), "com.example.dialer", 1)
ANY_APP = AccessRule(bytes.fromhex("B2" * 20))


@pytest.fixture(scope="module")
def smdp(lab_identities, tmp_path_factory):  # noqa: F811
    with LabSmdp(lab_identities, tmp_path_factory.mktemp("smdp-rules") / "smdp.db") as server:
        yield server


@pytest.fixture
def isdr(lab_identities):  # noqa: F811
    return IsdrChannel(LocalTransport(VirtualEuicc(lab_identities)), block_size=120).open()


def es9(smdp) -> Es9Client:
    return Es9Client(smdp.address, Es9Config(ca_file=smdp.ca_file, connect_overrides=smdp.connect_overrides))


async def test_the_metadata_announces_the_rules_before_consent(smdp, isdr):
    code = smdp.add_profile(iccid_for(8101), access_rules=[DIALER, ANY_APP])
    async with es9(smdp) as client:
        challenge = await lpa.initiate_authentication(client, lpa.read_euicc_auth_data(isdr))
        auth = lpa.authenticate_server(isdr, challenge, ActivationCode.parse(code).matching_id)
        offer = await lpa.authenticate_client(client, auth)
    assert download_steps.decode_metadata(bytes.fromhex(offer.profile_metadata)).access_rules == [DIALER, ANY_APP]


async def test_the_installed_profile_answers_its_rules_in_get_profiles_info(smdp, isdr):
    iccid = iccid_for(8102)
    code = smdp.add_profile(iccid, size=5000, access_rules=[DIALER, ("B2" * 20, None, 0)])
    async with es9(smdp) as client:
        assert (await lpa.download(isdr, client, code)).pir_delivered
    (installed,) = es10.get_profiles_info(isdr)
    assert installed.iccid == iccid and installed.access_rules == [DIALER, ANY_APP]


async def test_an_operator_package_without_an_ara_m_gets_the_rules_of_its_metadata(smdp, isdr):
    code = smdp.add_profile(package=TS48_V1.read_bytes(), access_rules=[DIALER])
    async with es9(smdp) as client:
        assert (await lpa.download(isdr, client, code)).pir_delivered
    (installed,) = es10.get_profiles_info(isdr)
    assert (installed.iccid, installed.access_rules) == ("89000123456789012341", [DIALER])


async def test_a_profile_without_rules_answers_none(smdp, isdr):
    code = smdp.add_profile(iccid_for(8103))
    async with es9(smdp) as client:
        assert (await lpa.download(isdr, client, code)).pir_delivered
    assert es10.get_profiles_info(isdr)[0].access_rules == []


@pytest.mark.parametrize("text, rule", [
    ("A1" * 32 + ":com.example.dialer:1", DIALER),
    ("b2" * 20, ANY_APP),
    ("B2" * 20 + "::0x10", AccessRule(bytes.fromhex("B2" * 20), None, 16)),
])
def test_access_rule_option_syntax(text, rule):
    assert parse_access_rule(text) == rule


@pytest.mark.parametrize("text, reason", [
    ("A1" * 31, "certificate hash is 20 or 32 bytes, not 31"),
    ("XY" * 20, "certificate hash is hex"),
    ("A1" * 32 + ":pkg:many", "the access type 'many' is not a number"),
])
def test_add_profile_refuses_a_bad_access_rule_in_one_line(tmp_path, text, reason):
    refused = CliRunner().invoke(smdp_cli, ["add-profile", "--db", str(tmp_path / "smdp.db"), "--address",
                                            "smdp.example.com", "--iccid", iccid_for(8104), "--access-rule", text])
    assert refused.exit_code == 2
    (line,) = refused.output.strip().splitlines()
    assert line.startswith("esimflow lab smdp: access rule ") and reason in line, line


async def test_the_operator_given_to_add_profile_is_the_installed_profiles_owner(smdp, isdr):
    iccid = iccid_for(8105)
    code = smdp.add_profile(iccid, profile_owner="310410:0A0B")
    async with es9(smdp) as client:
        assert (await lpa.download(isdr, client, code)).pir_delivered
    (installed,) = es10.get_profiles_info(isdr)
    owner = installed.profile_owner
    assert (owner.mcc, owner.mnc, owner.gid1, owner.gid2) == ("310", "410", bytes.fromhex("0A0B"), None)


@pytest.mark.parametrize("text, coded", [("310410", "130014"), ("00101", "00F110"), ("26202:FF:01", "62F220")])
def test_operator_option_syntax_and_ts_24_008_coding(text, coded):
    assert parse_operator(text).mcc_mnc == bytes.fromhex(coded)
    assert OperatorId(bytes.fromhex(coded)).mcc + OperatorId(bytes.fromhex(coded)).mnc == text.split(":")[0]


@pytest.mark.parametrize("text", ["3104", "3104101", "31O410", "310410:XY"])
def test_a_bad_operator_is_refused(text):
    with pytest.raises(BadInputError, match="operator|MCC"):
        parse_operator(text)
