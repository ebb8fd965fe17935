"""Workflows decide with these machines inside Temporal's workflow sandbox, which refuses
non-deterministic imports and calls: the machines must run there, illegal changes included."""
import shutil
import sys
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from esimflow.machines import DownloadSession, EuiccContext, IllegalTransition
from sgp22.es10_enums import CancelSessionReason, PolicyRules

pytestmark = pytest.mark.temporal


@workflow.defn(sandboxed=True)
class DecideWithMachines:
    @workflow.run
    async def run(self) -> list[str]:
        session = DownloadSession("A1B2")
        session.authenticate()
        session.review_metadata()
        try:
            session.cancel(CancelSessionReason.metadataMismatch)
        except IllegalTransition as refused:
            outcome = [refused.kind]
        session.cancel(CancelSessionReason.timeout)
        euicc = EuiccContext()
        euicc.add("8949000000000000001", state="enabled", policy_rules=PolicyRules.POLICY_RULE_DISABLE_NOT_ALLOWED)
        try:
            euicc.add("8949000000000000002").enable()
        except IllegalTransition as refused:
            outcome.append(refused.kind)
        return outcome + [change.to_state for change in session.changes]


async def test_machines_run_in_the_workflow_sandbox():
    server = shutil.which("temporal-test-server") or Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(server))
    try:
        async with Worker(env.client, task_queue="machines", workflows=[DecideWithMachines]):
            result = await env.client.execute_workflow(DecideWithMachines.run, id="machines-sandbox",
                                                       task_queue="machines")
    finally:
        await env.shutdown()
    assert result == ["machine.download_session.illegal_cancel_reason", "machine.euicc_profile.ppr1",
                      "authenticated", "metadata_reviewed", "cancelled"]
