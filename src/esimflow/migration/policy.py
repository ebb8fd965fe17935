"""The pacing and stopping rules of a migration, as pure functions of time and counts.

Kept free of Temporal so they are tested directly; the workflow calls them with
``workflow.now()``, which keeps them deterministic on replay.
"""
from __future__ import annotations

RATE_SAMPLES = 50
"""Finish times kept for the rate (and ETA): recent enough to follow a change of pace."""


def window_after(window: list[bool], failed: bool, size: int) -> list[bool]:
    """The failure window (oldest first) once one more device finished."""
    return (window + [failed])[-size:] if size > 0 else []


def failure_rate(window: list[bool]) -> float:
    return sum(window) / len(window) if window else 0.0


def should_abort(window: list[bool], size: int, threshold: float) -> bool:
    """Only a full window decides: two early failures out of three devices are noise, not a
    trend, and a fleet smaller than the window never aborts on rate alone."""
    return len(window) >= size and failure_rate(window) > threshold


def refill(tokens: float, tokens_at: float | None, now: float, rate: float) -> tuple[float, float]:
    """Token bucket for starts: ``rate`` tokens per second, at most one second's worth (at least
    one token) banked, so a paused or idle migration does not burst when it resumes."""
    capacity = max(1.0, rate)
    if tokens_at is None:
        return capacity, now
    return min(capacity, tokens + max(0.0, now - tokens_at) * rate), now


def seconds_until_token(tokens: float, rate: float) -> float:
    return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate


def finish_times_after(times: list[float], now: float) -> list[float]:
    return (times + [now])[-RATE_SAMPLES:]


def rate_per_second(times: list[float], now: float) -> float:
    """Devices finished per second over the recent samples, decaying while nothing finishes."""
    if len(times) < 2:
        return 0.0
    span = max(now, times[-1]) - times[0]
    return (len(times) - 1) / span if span > 0 else 0.0


def eta_seconds(remaining: int, rate: float) -> float | None:
    if remaining <= 0:
        return 0.0
    return remaining / rate if rate > 0 else None
