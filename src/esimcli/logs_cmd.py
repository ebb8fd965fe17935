"""``esimflow logs``: the most recent profile status changes of the whole fleet, newest first
(the operator platform's Logs page); ``--errors`` keeps the changes that carry an error reason."""
from __future__ import annotations

import click

from esimflow.history import HistoryStore

from esimcli.profile_status_cmd import change_json, change_table, history_option, json_option, run_with_history


@click.command("logs")
@click.option("--errors", "errors_only", is_flag=True, help="Only changes that recorded an error reason.")
@click.option("--limit", type=click.IntRange(min=1, max=100_000), default=50, show_default=True,
              help="How many changes to show.")
@history_option
@json_option
def logs(errors_only: bool, limit: int, history_path: str | None, as_json: bool) -> None:
    """Recent profile status changes (time, ICCID, EID, from, to, operation, workflow, error)."""
    def body(store: HistoryStore) -> tuple[dict, list[str]]:
        changes = store.logs(errors_only=errors_only, limit=limit)
        lines = change_table(changes, with_iccid=True) if changes else [
            "no failed status change recorded" if errors_only else "no status change recorded"]
        return {"changes": [change_json(c) for c in changes]}, lines

    run_with_history("logs", history_path, as_json, body)
