"""The lab SM-DP+ with the virtual eUICC and esimflow's LPA: a complete download over TLS, then
enable, disable and delete, each notification delivered to the SM-DP+ and moving the profile."""
from __future__ import annotations

import pytest

from sgp22 import es10, lpa
from sgp22.apdu import IsdrChannel
from sgp22.es9 import Es9Client, Es9Config
from carddrivers.local import LocalTransport

from rsplab.euicc import VirtualEuicc
from rsplab.smdp.server import LabSmdp
from rsplab.smdp.status import ProfileStatus as S

from tests.lab.test_lab_smdp_kit import iccid_for


@pytest.fixture(scope="module")
def smdp(lab_identities, tmp_path_factory):
    with LabSmdp(lab_identities, tmp_path_factory.mktemp("smdp-card") / "smdp.db") as server:
        yield server


async def test_download_with_confirmation_code_then_lifecycle_notifications(smdp, lab_identities):
    config = Es9Config(ca_file=smdp.ca_file, connect_overrides=smdp.connect_overrides)
    iccid = iccid_for(6001)
    code = smdp.add_profile(iccid, confirmation_code="2580", size=20 * 1024)
    card = VirtualEuicc(lab_identities)
    isdr = IsdrChannel(LocalTransport(card), block_size=120).open()
    async with Es9Client(smdp.address, config) as client:
        result = await lpa.download(isdr, client, code, "2580")
    assert result.iccid == iccid and result.pir_delivered
    assert smdp.status(iccid) == S.INSTALLED

    def deliver():
        return lpa.process_notifications(isdr, lambda address: Es9Client(address, config))

    for change, status in ((es10.enable_profile, S.ENABLED), (es10.disable_profile, S.DISABLED),
                           (es10.delete_profile, S.AVAILABLE)):
        change(isdr, iccid=iccid)
        outcomes = await deliver()
        assert [o.delivered for o in outcomes] == [True]
        assert smdp.status(iccid) == status
    assert [c.event for c in smdp.history(iccid)] == [
        "add", "download", "install", "enable", "disable", "delete", "reuse"]
    assert es10.retrieve_notifications_list(isdr) == []
