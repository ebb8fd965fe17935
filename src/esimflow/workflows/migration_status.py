"""What a BulkMigration's ``status`` query answers, from the state the workflow carries: counts
per outcome, devices in flight and pending, rate, ETA, canary and failure rate."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.migration import policy as pacing
    from esimflow.migration.model import BulkMigrationInput, CarriedState, MigrationState, MigrationStatus, Outcome


def migration_status(request: BulkMigrationInput | None, s: CarriedState | None, state: str, errors: list,
                     now: float) -> MigrationStatus:
    """``state``: the workflow's own; while running it shows as aborting, cancelling or paused
    when the carried state says so. ``now``: workflow time, in seconds."""
    if s is None or request is None:
        return MigrationStatus(migration_id=request.migration_id if request else "", state=state)
    rate = pacing.rate_per_second(s.recent_finish_times, now)
    pending = max(0, s.total - s.cursor)
    if state == MigrationState.RUNNING:
        state = (MigrationState.ABORTING if s.abort_reason else MigrationState.CANCELLING if s.cancelling
                 else MigrationState.PAUSED if s.paused else state)
    counts = {outcome: getattr(s.counters, outcome) for outcome in Outcome.ALL}
    counts["already_done"] = s.counters.already_done
    return MigrationStatus(
        migration_id=request.migration_id, state=state, total=s.total, invalid_lines=s.invalid_lines,
        counts=counts, in_flight=len(s.in_flight), pending=pending, concurrency=s.concurrency,
        rate_per_second=round(rate, 3),
        eta_seconds=None if state in MigrationState.FINAL else pacing.eta_seconds(pending + len(s.in_flight), rate),
        canary_size=request.policy.canary_size, canary_finished=s.canary_approved or (
            request.policy.canary_size > 0 and s.canary_finished >= request.policy.canary_size),
        abort_reason=s.abort_reason, failure_rate=round(pacing.failure_rate(s.recent_failures), 3),
        dry_run=request.policy.dry_run, runs=s.runs, errors=list(errors),
    )
