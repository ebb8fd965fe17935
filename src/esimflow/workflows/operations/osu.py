"""OsUpdate: the eUICC OS update status, or an update to the newest image the card host offers,
ending with one of OpenHarmony's five OsuStatus outcomes: the OsUpdate machine follows each
report of the card and answers the outcome."""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import CardStep, OsUpdateStepInput, OsUpdateStepResult
    from esimflow.contract import OperationResult, OsuStatus, OsUpdateInput
    from esimflow.machines import OsUpdate
    from esimflow.workflows import policies
    from esimflow.workflows.operations.context import OperationContext
    from esimflow.workflows.steps import Card
    from sgp22.results import OhResultCode, WinStatus

POLL_INTERVAL = timedelta(seconds=5)
MAX_POLLS = int(policies.OS_UPDATE_POLLING / POLL_INTERVAL)


async def os_update(ctx: OperationContext, request: OsUpdateInput) -> OperationResult:
    card = await ctx.card(request.eid)
    if not request.start:
        ctx.phase("reading OS update status")
        report = await _status(card)
        return OperationResult.success(ctx.operation, request.eid, _data(report))

    update = OsUpdate(request.eid)
    update.check()
    ctx.phase("reading OS version")
    before = await _status(card)
    ctx.phase("updating the eUICC OS")
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
        report = await _status(card)
        status = update.report(report.status)
    if status == OsuStatus.EUICC_UPGRADE_IN_PROGRESS:
        status = update.give_up()
    return _outcome(ctx, request, update, status, report)


async def _status(card: Card) -> OsUpdateStepResult:
    return await card.call(CardStep.OS_UPDATE, OsUpdateStepInput(card.ref, start=False), OsUpdateStepResult)


def _outcome(ctx: OperationContext, request: OsUpdateInput, update: OsUpdate, status: OsuStatus,
             report: OsUpdateStepResult) -> OperationResult:
    """The OsuStatus the OsUpdate machine computed from the card's reports, as the operation's result."""
    if update.is_final:  # SUCCESSFUL or ALREADY_LATEST
        return OperationResult.success(ctx.operation, request.eid, _data(report), message=status.name)
    return OperationResult.failure(
        ctx.operation, request.eid,
        oh_result=OhResultCode.RESULT_SGP_22_OTHER,
        win_status=WinStatus.ServerNotReachable if status == OsuStatus.EUICC_UPGRADE_SERVICE_UNAVAILABLE
        else WinStatus.CardGeneralFailure,
        error_kind=f"osu.{status.name.lower()}", message=f"{status.name}: {report.detail}", data=_data(report),
    )


def _data(report: OsUpdateStepResult) -> dict:
    status = OsuStatus(report.status)
    return {"osu_status": int(status), "osu_status_name": status.name, "os_version": report.os_version,
            "detail": report.detail}
