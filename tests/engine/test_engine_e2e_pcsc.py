"""The whole stack as a user runs it: Temporal dev server, engine workers, pyscard, pcscd, a vpcd
reader holding a virtual eUICC, and the lab SM-DP+ over TLS."""
from __future__ import annotations

import pytest

from esimflow import contract, search_attributes
from tests.engine.engine_stack import new_iccid, running_engine
from tests.waiting import until

pytestmark = [pytest.mark.temporal, pytest.mark.pcsc]


@pytest.fixture(scope="module")
def smdp(lab_pki):
    from rsplab.smdp.server import LabSmdp

    with LabSmdp(lab_pki.root) as server:
        yield server


@pytest.fixture
def card_in_reader(lab_pki, fresh_eid, tmp_path):
    """A virtual eUICC in the first vpcd reader (taken exclusively); yields (card, reader name)."""
    from rsplab import pcscd
    from rsplab.euicc.card import VirtualEuicc
    from rsplab.euicc.vpcd import VpcdBridge

    handle = pcscd.ensure_pcscd()
    port = pcscd.VPCD_PORTS[0]
    try:
        with pcscd.vpcd_slot(port) as reader, VirtualEuicc(lab_pki.root, tmp_path / "euicc.json",
                                                           eid=fresh_eid) as card:
            with VpcdBridge(card, port=port):
                pcscd.wait_for_card(reader)
                yield card, reader
            pcscd.wait_for_card(reader, present=False)
    finally:
        handle.stop()


async def test_download_switch_list_delete_through_pcsc(dev_client, tmp_path, unique_task_queue, smdp,
                                                        card_in_reader):
    card, reader = card_in_reader
    first, second = new_iccid(), new_iccid()
    async with running_engine(dev_client, tmp_path, unique_task_queue, smdp=smdp, readers=[reader]) as engine:
        assert engine.eids == [card.eid]
        device = engine.worker.devices[0]
        assert device.reader == f"pcsc:{reader}"

        downloaded = await engine.run(contract.DownloadProfileInput(card.eid, smdp.add_profile(first),
                                                               switch_after_download=True))
        assert downloaded.ok, downloaded
        assert (await engine.run(contract.DownloadProfileInput(card.eid, smdp.add_profile(second)))).ok
        switched = await engine.run(contract.SwitchProfileInput(card.eid, second, force_disable_profile=True))
        assert switched.ok, switched
        assert (await engine.run(contract.DeleteProfileInput(card.eid, first))).ok
        listed = await engine.run(contract.ListProfilesInput(card.eid))

    assert [(p["iccid"], p["state"]) for p in listed.data["profiles"]] == [(second, contract.ProfileState.PROFILE_STATE_ENABLED)]
    assert listed.data["is_removable"] is True
    assert str(smdp.status(second)) == "ENABLED"

    # each operation is findable in Temporal by eUICC, operation, profile and outcome
    async def switches() -> list:
        query = (f"{search_attributes.EID.name} = '{card.eid}' AND {search_attributes.OPERATION.name} = "
                 f"'{contract.Operation.SWITCH_PROFILE}' AND {search_attributes.OUTCOME.name} = 'ok'")
        return [execution async for execution in dev_client.list_workflows(query)]

    found = await until(switches, "the switch to be visible by its search attributes", timeout=30)
    assert [execution.id for execution in found] == [switched.workflow_id]
    assert set(found[0].typed_search_attributes[search_attributes.ICCID]) == {first, second}

    async def downloads_of_first() -> list:
        query = f"{search_attributes.ICCID.name} = '{first}' AND {search_attributes.OPERATION.name} = 'DownloadProfile'"
        return [execution async for execution in dev_client.list_workflows(query)]

    assert [e.id for e in await until(downloads_of_first, "the first download by its ICCID", timeout=30)] == \
        [downloaded.workflow_id]
