"""Where (b), the engine's download in bench_download.py, spends its time, read from the
DownloadProfile workflow's history: each step (remote activities: execution; local activities:
from one step's scheduling to the next), task queueing and workflow task processing; and the
order of its steps, which the floor (c) copies.

Its own module because reading a Temporal history is a concern apart from driving the downloads:
it depends only on the history's events, not on the lab, the card or the client's settings.
"""
from __future__ import annotations

import json
from collections import defaultdict

from temporalio.api.enums.v1 import EventType

from esimflow import contract


def _seconds(event) -> float:
    return event.event_time.ToNanoseconds() / 1e9


def _local_activity(event) -> tuple[str, float] | None:
    """(activity type, scheduled at) of a local-activity marker; its ``data`` detail is the SDK's
    own plain JSON (the result next to it is encrypted by the payload codec)."""
    details = event.marker_recorded_event_attributes.details
    if "data" not in details or not details["data"].payloads:
        return None
    try:
        data = json.loads(details["data"].payloads[0].data)
        scheduled = data["original_schedule_time"]
        return data["activity_type"], scheduled["seconds"] + scheduled["nanos"] / 1e9
    except (ValueError, KeyError, TypeError):
        return None


async def step_kinds(client, workflow_id: str) -> list[bool]:
    """The steps of one recorded run in the order they were scheduled: True for a local activity."""
    steps = []
    for event in (await client.get_workflow_handle(workflow_id).fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            steps.append((_seconds(event), False))
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            found = _local_activity(event)
            if found is not None:
                steps.append((found[1], True))
    return [local for _, local in sorted(steps, key=lambda step: step[0])]


def _collect(events) -> tuple[dict[int, dict], dict[int, dict], list[tuple[str, float]], list[float]]:
    """From the events: remote activities and workflow tasks (by their scheduled event's id, with
    their scheduled/started/closed times), local activities (type, scheduled at) and the times
    workflow tasks completed."""
    activities: dict[int, dict] = {}
    tasks: dict[int, dict] = {}
    local: list[tuple[str, float]] = []
    task_closes: list[float] = []
    for event in events:
        kind, at = event.event_type, _seconds(event)
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            activities[event.event_id] = {"type": attrs.activity_type.name, "queue": attrs.task_queue.name,
                                          "scheduled": at}
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            activities[event.activity_task_started_event_attributes.scheduled_event_id]["started"] = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            activities[event.activity_task_completed_event_attributes.scheduled_event_id]["closed"] = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            tasks[event.event_id] = {"scheduled": at}
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            tasks[event.workflow_task_started_event_attributes.scheduled_event_id]["started"] = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks[event.workflow_task_completed_event_attributes.scheduled_event_id]["closed"] = at
            task_closes.append(at)
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            found = _local_activity(event)
            if found is not None:
                local.append(found)
    return activities, tasks, local, task_closes


def _per_step(activities: dict[int, dict], local: list[tuple[str, float]],
              task_closes: list[float]) -> tuple[dict[str, float], dict[str, int]]:
    """Time and count per step type: a remote activity's execution, a local activity's share."""
    per_step: dict[str, float] = defaultdict(float)
    per_step_count: dict[str, int] = defaultdict(int)
    for step in activities.values():
        per_step[step["type"]] += step["closed"] - step["started"]
        per_step_count[step["type"]] += 1
    # A local activity's cost as the workflow sees it: from its scheduling to the next one's or to
    # the end of the workflow task that recorded it, whichever is first (activations included).
    for index, (name, scheduled) in enumerate(local):
        ends = [t for t in task_closes if t >= scheduled][:1]
        if index + 1 < len(local):
            ends.append(local[index + 1][1])
        per_step[f"{name} (local)"] += max(min(ends, default=scheduled) - scheduled, 0.0)
        per_step_count[f"{name} (local)"] += 1
    return per_step, per_step_count


async def history_breakdown(client, workflow_id: str, wall: float, submitted: float, received: float) -> dict:
    """One (b) download's figures: ``wall`` is the client's time, ``submitted`` and ``received``
    the wall-clock times the client submitted it and got its result."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    events = history.events
    activities, tasks, local, task_closes = _collect(events)
    per_step, per_step_count = _per_step(activities, local, task_closes)
    card = [s for s in activities.values() if s["queue"].startswith(contract.CARD_TASK_QUEUE_PREFIX)]
    net = [s for s in activities.values() if not s["queue"].startswith(contract.CARD_TASK_QUEUE_PREFIX)]
    started_tasks = [t for t in tasks.values() if "started" in t]
    return {
        "events": len(events),
        "activities": len(activities),
        "local_activities": len(local),
        "workflow_tasks": len(tasks),
        "wall": wall,
        "span": _seconds(events[-1]) - _seconds(events[0]),
        "to_start": _seconds(events[0]) - submitted,
        "from_end": received - _seconds(events[-1]),
        "card_count": len(card),
        "net_count": len(net),
        "card_exec": sum(s["closed"] - s["started"] for s in card),
        "net_exec": sum(s["closed"] - s["started"] for s in net),
        "activity_queue": sum(s["started"] - s["scheduled"] for s in activities.values()),
        "task_queue": sum(t["started"] - t["scheduled"] for t in started_tasks),
        "task_run": sum(t["closed"] - t["started"] for t in started_tasks if "closed" in t),
        "per_step": dict(per_step),
        "per_step_count": dict(per_step_count),
    }
