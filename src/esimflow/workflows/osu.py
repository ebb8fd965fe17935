"""OsUpdate: the eUICC OS update status, or an update to the newest image the card host offers,
ending with one of OpenHarmony's five OsuStatus outcomes: the OsUpdate machine follows each
report of the card and answers the outcome."""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import CardStep, OsUpdateStepInput, OsUpdateStepResult
    from esimflow.contract import Operation, OperationResult, OsuStatus, OsUpdateInput
    from esimflow.machines import OsUpdate
    from esimflow.workflows import policies
    from esimflow.workflows.base import OperationWorkflow
    from esimflow.workflows.steps import card_of, conclude
    from sgp22.results import OhResultCode, WinStatus

POLL_INTERVAL = timedelta(seconds=5)
MAX_POLLS = int(policies.OS_UPDATE_POLLING / POLL_INTERVAL)


@workflow.defn(name=Operation.OS_UPDATE)
class OsUpdateWorkflow(OperationWorkflow):
    operation = Operation.OS_UPDATE

    @workflow.run
    async def run(self, request: OsUpdateInput) -> OperationResult:
        return await conclude(self, request.eid, lambda: self._update(request))

    async def _update(self, request: OsUpdateInput) -> OperationResult:
        card = await card_of(self.context, request.eid)
        if not request.start:
            self.phase("reading OS update status")
            report = await card.call(CardStep.OS_UPDATE, OsUpdateStepInput(card.ref, start=False), OsUpdateStepResult)
            return OperationResult.success(self.operation, request.eid, _data(report))

        update = OsUpdate(request.eid)
        update.check()
        self.phase("reading OS version")
        before = await card.call(CardStep.OS_UPDATE, OsUpdateStepInput(card.ref, start=False), OsUpdateStepResult)
        self.phase("updating the eUICC OS")
        # an ordinary activity even on the card host: the version read above is recorded before
        # the image load starts, and a dead worker's load is taken up again from the server
        report = await card.call(CardStep.OS_UPDATE,
                                 OsUpdateStepInput(card.ref, start=True, version_before=before.os_version),
                                 OsUpdateStepResult, start_to_close=policies.LOAD_BPP_START_TO_CLOSE,
                                 heartbeat=policies.LOAD_BPP_HEARTBEAT, recorded_first=True)
        status = update.report(report.status)
        polls = 0
        while status == OsuStatus.EUICC_UPGRADE_IN_PROGRESS and polls < MAX_POLLS:
            polls += 1
            await workflow.sleep(POLL_INTERVAL)
            report = await card.call(CardStep.OS_UPDATE, OsUpdateStepInput(card.ref, start=False), OsUpdateStepResult)
            status = update.report(report.status)
        if status == OsuStatus.EUICC_UPGRADE_IN_PROGRESS:
            status = update.give_up()
        if update.is_final:  # SUCCESSFUL or ALREADY_LATEST
            return OperationResult.success(self.operation, request.eid, _data(report), message=status.name)
        return OperationResult.failure(
            self.operation, request.eid,
            oh_result=OhResultCode.RESULT_SGP_22_OTHER,
            win_status=WinStatus.ServerNotReachable if status == OsuStatus.EUICC_UPGRADE_SERVICE_UNAVAILABLE
            else WinStatus.CardGeneralFailure,
            error_kind=f"osu.{status.name.lower()}", message=f"{status.name}: {report.detail}", data=_data(report),
        )


def _data(report: OsUpdateStepResult) -> dict:
    status = OsuStatus(report.status)
    return {"osu_status": int(status), "osu_status_name": status.name, "os_version": report.os_version,
            "detail": report.detail}
