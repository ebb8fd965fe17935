"""The profile status history: every status change of every profile the engine touches.

Kept outside Temporal on purpose: workflow histories are per operation and expire with the
namespace's retention, while an operator asks about a profile across years of operations.
Activities write it (idempotently); the CLI and reports read it.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from esimflow.history.model import HistoryStore, ProfileRecord, StatusChange
from esimflow.history.store import HistoryUnavailableError, SqlHistoryStore

ENV_HISTORY = "ESIMFLOW_HISTORY"
DEFAULT_FILE_NAME = "history.sqlite3"


def default_location(env: Mapping[str, str] | None = None) -> str:
    """``ESIMFLOW_HISTORY`` (a file path, ``sqlite:///path`` or ``postgresql://...``), else
    ``history.sqlite3`` in the esimflow state directory."""
    from esimflow.config import state_dir

    env = os.environ if env is None else env
    return env.get(ENV_HISTORY) or str(state_dir(env) / DEFAULT_FILE_NAME)


def open_history(location: Path | str | None = None, *, env: Mapping[str, str] | None = None) -> HistoryStore:
    """The store at ``location`` (a path, ``sqlite:///path``, ``postgresql://...``); None:
    ``default_location``."""
    return SqlHistoryStore(str(location) if location is not None else default_location(env))


__all__ = [
    "ENV_HISTORY", "HistoryStore", "HistoryUnavailableError", "ProfileRecord", "SqlHistoryStore", "StatusChange",
    "default_location", "open_history",
]
