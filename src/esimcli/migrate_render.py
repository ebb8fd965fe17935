"""How ``esimflow migrate`` shows a migration's status: the one-line progress bar of ``status
--watch`` and the lines of ``status``."""
from __future__ import annotations

from esimflow.migration.model import MigrationState, MigrationStatus

BAR_WIDTH = 30


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress_line(current: MigrationStatus, width: int = BAR_WIDTH) -> str:
    """``[#######.......] 140/200 70%  migrated 120 rolled_back 6 failed 2 skipped 12 | in flight 10 | 4.2/s | ETA 14s``"""
    total = max(current.total, 1)
    done = current.finished
    filled = min(width, int(width * done / total))
    bar = "#" * filled + "." * (width - filled)
    counts = " ".join(f"{name} {count}" for name, count in current.counts.items() if count or name != "already_done")
    return (f"[{bar}] {done}/{current.total} {100 * done // total}%  {counts} | in flight {current.in_flight}"
            f" | {current.rate_per_second:.1f}/s | ETA {_duration(current.eta_seconds)} | {current.state}")


def status_lines(current: MigrationStatus) -> list[str]:
    lines = [
        f"migration: {current.migration_id}" + (" (dry run)" if current.dry_run else ""),
        f"state: {current.state}",
        f"devices: {current.total}" + (f" (+{current.invalid_lines} invalid lines)" if current.invalid_lines else ""),
        "outcomes: " + ", ".join(f"{name} {count}" for name, count in current.counts.items()),
        f"in flight: {current.in_flight} (concurrency {current.concurrency}), not started: {current.pending}",
        f"rate: {current.rate_per_second:.2f} devices/s, ETA {_duration(current.eta_seconds)}",
        f"failure rate (window): {current.failure_rate:.0%}",
    ]
    if current.canary_size:
        lines.append(f"canary: {current.canary_size} devices, "
                     + ("finished" if current.canary_finished else "in progress"))
    if current.state == MigrationState.AWAITING_APPROVAL:
        lines.append(f"waiting for approval: esimflow migrate approve {current.migration_id} (or --reject)")
    if current.abort_reason:
        lines.append(f"reason: {current.abort_reason}")
    lines += [f"  {error}" for error in current.errors]
    return lines
