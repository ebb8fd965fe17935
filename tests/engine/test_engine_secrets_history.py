"""What Temporal keeps of operations whose free-form fields hold a matching ID: the whole
history (workflow ids, search attributes, update ids, payloads) as ``temporal workflow show
--output json`` prints it never shows it, in plain, hex or base64, and neither do the worker's
log records; an operation id holding one is refused before the server sees it."""
from __future__ import annotations

import base64
import json
import logging

import pytest

from esimflow import contract
from sgp22.errors import BadInputError
from tests.engine.engine_stack import new_iccid, running_engine
from tests.protocol.test_protocol_identifiers_fuzz import shows

pytestmark = [pytest.mark.temporal]

SECRET = "Q7ZK-4M2P-9XWC-H3TB"
TARGET_MATCHING_ID = "W4RD-8KX2-MM7Q-J9TZ"


async def history_text(client, workflow_id: str) -> str:
    """The history as ``temporal workflow show --output json`` prints it, followed by every
    payload's bytes decoded from base64 (search attributes are JSON payloads in plain text)."""
    text = (await client.get_workflow_handle(workflow_id).fetch_history()).to_json()
    decoded = []

    def walk(value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "data" and isinstance(item, str):
                    decoded.append(base64.b64decode(item).decode("latin-1"))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(text))
    return "\n".join([text, *decoded])


async def test_no_history_and_no_log_record_shows_a_matching_id_put_in_a_nickname(
        dev_client, tmp_path, unique_task_queue, smdp, card, caplog):
    iccid = new_iccid()
    with caplog.at_level(logging.DEBUG):
        async with running_engine(dev_client, tmp_path, unique_task_queue, smdp=smdp, cards={"card": card}) as engine:
            code = smdp.add_profile(iccid, matching_id=TARGET_MATCHING_ID)
            downloaded = await engine.run(contract.DownloadProfileInput(card.eid, code))
            assert downloaded.ok, downloaded
            named = await engine.run(contract.SetNicknameInput(card.eid, iccid, SECRET))
            assert named.ok, named
            refused = await engine.run(contract.SetNicknameInput(card.eid, "8944000000000000019", SECRET))
            assert not refused.ok  # no such profile: its failure message travels through history too
            with pytest.raises(BadInputError):
                await engine.start(contract.ListProfilesInput(card.eid), operation_id=f"op-{SECRET}")
            listed = await engine.run(contract.ListProfilesInput(card.eid))
            workflow_ids = [contract.euicc_workflow_id(card.eid), downloaded.workflow_id, named.workflow_id,
                            refused.workflow_id]
            histories = [await history_text(dev_client, workflow_id) for workflow_id in workflow_ids]

    assert [p["nickname"] for p in listed.data["profiles"] if p["iccid"] == iccid] == [SECRET]  # it was set
    assert all(card.eid in text for text in histories)  # the plain-text parts are read
    assert iccid in histories[2]  # its ICCID search attribute
    for workflow_id, text in zip(workflow_ids, histories):
        assert not shows(SECRET, text), workflow_id
        assert not shows(TARGET_MATCHING_ID, text), workflow_id
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert not shows(SECRET, logged) and not shows(TARGET_MATCHING_ID, logged)
