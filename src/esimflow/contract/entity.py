"""What the eUICC entity workflow (``euicc-<EID>``) takes and answers: a submitted operation,
a hold on the card, an operator's skip, its status, and what it carries across continue-as-new."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from esimflow.contract.results import DeviceInfo, OperationResult


@dataclass
class OperationRequest:
    """What the entity workflow receives: the operation's input as plain JSON so the entity
    itself needs no knowledge of each operation's type."""

    operation: str
    operation_id: str
    input: dict[str, Any]
    task_queue: str = ""
    """The workflow queue the client asked for: an entity living on another queue moves there
    (continue-as-new) once it is idle."""


@dataclass
class SkipRequest:
    """``admin entity skip``: end the operation running now as failed with ``reason``, once the
    card step in flight has finished (a hold is dropped)."""

    reason: str


@dataclass
class HoldRequest:
    """Exclusive use of one eUICC for a sequence of steps that must not interleave with other
    operations (a device's migration): the entity grants it in turn, like an operation, and
    runs nothing else on the card until the holder releases it or ends."""

    eid: str
    hold_id: str  # unique per holder run: a retried request finds its hold again
    holder_workflow_id: str
    holder_run_id: str


@dataclass
class HoldGrant:
    device: DeviceInfo | None  # the card's registry entry, looked up when the hold was granted


@dataclass
class EntityStatus:
    """What ``admin entity show`` prints: where the entity lives and what it is doing."""

    eid: str
    running: str | None  # workflow id of the operation in progress
    queued: list[str] = field(default_factory=list)
    completed: int = 0
    task_queue: str = ""
    requested_task_queue: str = ""  # where it moves once idle, when not where it is
    holds: list[str] = field(default_factory=list)  # hold ids granted now
    draining: bool = False


@dataclass
class EntityInput:
    """What an entity carries across continue-as-new (it only continues when idle).

    ``continue_after``: operations per run before continuing as new (Temporal may suggest it
    earlier); ``idle_seconds``: how long a run waits for work before it ends.
    """

    eid: str
    completed: int = 0
    continue_after: int = 500
    idle_seconds: float = 600.0
    search_attributes: bool | None = None
    """Whether the namespace knows esimflow's search attributes (operations are then started
    with them); None: not asked yet (the entity asks its worker once and carries the answer)."""
    answered: dict[str, OperationResult] = field(default_factory=dict)
    """The results of the latest ``ANSWERED_KEPT`` operations by operation id, oldest first: a
    submit repeating one of their ids gets its first result, without touching the card."""
    requested_task_queue: str = ""


ANSWERED_KEPT = 100
"""Enough for any client retry; bounded so the continue-as-new input stays far below Temporal's
payload limits (a result is a few kB)."""
