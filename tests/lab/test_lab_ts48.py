"""Real profile packages: the five GSMA TS.48 test profiles, served unchanged by the lab SM-DP+
(``add-profile --package``) and installed on the virtual eUICC through the whole stack (TLS to
the SM-DP+, pyscard -> pcscd -> vpcd to the card). The operator's package is refused with a
one-line reason when its header or an element is defective."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest
from click.testing import CliRunner

from esimcli.lab_smdp import smdp as smdp_cli
from sgp22 import es10
from sgp22.es10_enums import NotificationEvent, ProfileState
from sgp22.profile_package import encode_iccid, split_elements

from rsplab.smdp.server import LabSmdp
from rsplab.smdp.status import ProfileStatus

from tests.lab.stack_kit import (  # noqa: F401 - stack_pcscd is a fixture
    SGP26,
    cli_card,
    deliver_notifications,
    download,
    isdr_over_pcsc,
    stack_pcscd,
    statuses,
)
from tests.lab.test_lab_smdp_kit import LpaClient

TS48 = Path("/work/shared/reference/ts48")
TS48_ICCIDS = {
    "TS48v1_A.der": "89000123456789012341",
    "TS48v2_SAIP2.1_NoBERTLV.der": "89000123456789012358",
    "TS48v3_SAIP2.3_BERTLV.der": "89000123456789012341",
    "TS48v5_SAIP2.3_BERTLV_SUCI.der": "89000123456789012341",
    "TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der": "8949449999999990015",
}
HEADER_ICCID = bytes.fromhex("830A89000123456789012341")  # ProfileHeader.iccid of TS48v1_A


@pytest.mark.pcsc
@pytest.mark.parametrize("name", sorted(TS48_ICCIDS))
async def test_every_ts48_package_installs_unchanged_through_tls_and_vpcd_and_lives_its_life(
        name, stack_pcscd, tmp_path):
    iccid = TS48_ICCIDS[name]
    with LabSmdp(SGP26, tmp_path / "smdp.sqlite3") as smdp:
        code = smdp.add_profile(package=(TS48 / name).read_bytes(), service_provider_name="GSMA TS.48",
                                profile_name=f"TS.48 {name[:-4]}", reusable=False)
        assert smdp.profile(iccid).size == (TS48 / name).stat().st_size

        with cli_card(SGP26, tmp_path / "card.json") as card, isdr_over_pcsc(card.reader) as isdr:
            result = await download(isdr, smdp, code)
            assert result.iccid == iccid and result.pir_delivered
            (installed,) = es10.get_profiles_info(isdr)
            assert (installed.iccid, installed.state) == (iccid, ProfileState.disabled)
            assert (installed.service_provider_name, installed.profile_name) == ("GSMA TS.48", f"TS.48 {name[:-4]}")
            assert smdp.status(iccid) == ProfileStatus.INSTALLED

            for operation, event in ((es10.enable_profile, NotificationEvent.enable),
                                     (es10.disable_profile, NotificationEvent.disable),
                                     (es10.delete_profile, NotificationEvent.delete)):
                operation(isdr, iccid=iccid)
                (pending,) = es10.retrieve_notifications_list(isdr)
                assert (pending.metadata.event, pending.metadata.iccid) == (event, iccid)
                assert [outcome.delivered for outcome in await deliver_notifications(isdr, smdp)] == [True]
            assert es10.get_profiles_info(isdr) == []

        # the SM-DP+ moves a profile only on a notification whose eUICC signature verifies
        assert statuses(smdp, iccid) == ["AVAILABLE", "DOWNLOADED", "INSTALLED", "ENABLED", "DISABLED", "DELETED"]


# --- add-profile --package --------------------------------------------------------------------------------


def add_package(tmp_path: Path, data: bytes, *args: str):
    package = tmp_path / "package.der"
    package.write_bytes(data)
    return CliRunner().invoke(smdp_cli, ["add-profile", "--db", str(tmp_path / "smdp.db"), "--address",
                                         "smdp.example.com", "--package", str(package), *args])


def test_add_profile_takes_the_iccid_and_name_from_the_package_header(tmp_path):
    added = add_package(tmp_path, (TS48 / "TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der").read_bytes(), "--json")
    assert added.exit_code == 0, added.output
    assert '"iccid": "8949449999999990015"' in added.output
    assert '"profileName": "GSMA Generic eUICC Test Profile"' in added.output
    other = add_package(tmp_path, (TS48 / "TS48v1_A.der").read_bytes(), "--iccid", "89000123456789012358")
    assert other.exit_code == 2
    assert "profile package refused: its header names ICCID 89000123456789012341, not 89000123456789012358" in (
        other.output)


def _defective(case: str) -> bytes:
    data = (TS48 / "TS48v1_A.der").read_bytes()
    if case == "malformed header":
        return data.replace(HEADER_ICCID, HEADER_ICCID[:-1] + b"\x4A")
    if case == "bad Luhn digit":  # header and EF.ICCID agree, on an ICCID whose last digit is wrong
        return data.replace(HEADER_ICCID, HEADER_ICCID[:-1] + b"\x42").replace(
            encode_iccid("89000123456789012341"), encode_iccid("89000123456789012342"))
    if case == "truncated element":
        elements = split_elements(data)
        return b"".join(e.der for e in elements[:5]) + elements[5].der[:20]
    raise AssertionError(case)


@pytest.mark.parametrize("case, reason", [
    ("malformed header", "ICCID of the profile header: ICCID 8900012345678901234A is not plain BCD"),
    ("bad Luhn digit", "header ICCID 89000123456789012342 fails its Luhn check digit (expected 1)"),
    ("truncated element", "profile element 6 (pinCodes) at offset 1567 is cut short: TLV A2: 31 value bytes announced, 18 present"),
])
def test_add_profile_refuses_a_defective_package_with_a_one_line_reason(tmp_path, case, reason):
    refused = add_package(tmp_path, _defective(case))
    assert refused.exit_code == 2
    (line,) = refused.output.strip().splitlines()
    assert line.startswith(f"esimflow lab smdp: profile package refused: {reason}"), line
    listed = CliRunner().invoke(smdp_cli, ["list", "--db", str(tmp_path / "smdp.db"), "--json"])
    assert listed.output.strip() == "[]"


def test_admin_api_takes_a_package_as_base64(tmp_path):
    with LabSmdp(SGP26, tmp_path / "smdp.sqlite3") as smdp:
        client = LpaClient(smdp)
        try:
            package = (TS48 / "TS48v2_SAIP2.1_NoBERTLV.der").read_bytes()
            created = client.admin("POST", "/profiles", {"package": base64.b64encode(package).decode()})
            assert created.status_code == 201
            assert created.json()["profile"]["iccid"] == "89000123456789012358"
            refused = client.admin("POST", "/profiles", {"package": base64.b64encode(package[:-3]).decode()})
            assert refused.status_code == 400
            assert refused.json()["error"].startswith("profile package refused: profile element 28 (end)")
        finally:
            client.close()
        assert smdp.inventory.package("89000123456789012358") == package
