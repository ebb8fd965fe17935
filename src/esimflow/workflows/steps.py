"""How workflows call their steps and turn failures into an ``OperationResult``.

Every step failure arrives as a :class:`StepFailed` carrying the error's ``kind`` and the
OpenHarmony/Windows outcome the activity attached (``EsimError.to_dict()`` in the
ApplicationError details), so a workflow can react to a kind (``card.removed``, a wrong
confirmation code) and otherwise end with the outcome the protocol library chose.
"""
from __future__ import annotations

import asyncio
import dataclasses
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from esimflow import search_attributes
    from esimflow.activities.types import CardRef, EngineStep, LookupDeviceInput
    from esimflow.contract import (
        CARD_TASK_QUEUE_PREFIX,
        DeviceInfo,
        OperationResult,
        card_task_queue,
        net_task_queue,
    )
    from esimflow.devices import CardHostUnreachableError, DeviceNotFoundError
    from esimflow.machines.base import IllegalTransition, InvalidMachineData
    from esimflow.workflows import policies
    from sgp22.errors import EsimError
    from sgp22.results import OhResultCode, WinStatus

T = TypeVar("T")
PATCH_CARD_ROUTE = "card-steps-follow-their-card"


class OperationFailed(Exception):
    """Ends the operation with this outcome (raised inside workflow code, caught by
    :func:`conclude`)."""

    def __init__(self, message: str, *, kind: str, oh_result: OhResultCode, win_status: WinStatus,
                 retryable: bool = False, data: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.oh_result = OhResultCode(oh_result)
        self.win_status = WinStatus(win_status)
        self.retryable = retryable
        self.data = data or {}


    @classmethod
    def of(cls, error: EsimError, data: dict | None = None) -> OperationFailed:
        """From one of the taxonomy's errors (the engine's own outcomes are there too)."""
        return cls(error.message, kind=error.kind, oh_result=error.oh_result, win_status=error.win_status,
                   retryable=error.retryable, data=data)


class StepFailed(OperationFailed):
    """An activity failed for good (after its retries)."""

    @classmethod
    def from_activity_error(cls, error: ActivityError | ApplicationError, step: str) -> StepFailed:
        # a local activity's own ApplicationError may arrive unwrapped
        cause = error if isinstance(error, ApplicationError) else error.cause
        if isinstance(cause, ApplicationError):
            details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
            return cls(
                cause.message,
                kind=cause.type or "engine.step_failed",
                oh_result=_enum(OhResultCode, details.get("oh_result_code"), OhResultCode.RESULT_SGP_22_OTHER),
                win_status=_enum(WinStatus, details.get("win_status_code"), WinStatus.Other),
                retryable=bool(details.get("retryable", not cause.non_retryable)),
                data={"step": step},
            )
        if isinstance(cause, TimeoutError):
            return cls(
                f"{step} did not finish in time ({cause.type.name if cause.type else 'timeout'})",
                kind="engine.step_timeout", oh_result=OhResultCode.RESULT_SGP_22_OTHER,
                win_status=WinStatus.TimeoutWaitingForResponse, retryable=True, data={"step": step},
            )
        return cls(f"{step} failed: {cause}", kind="engine.step_failed",
                   oh_result=OhResultCode.RESULT_SGP_22_OTHER, win_status=WinStatus.Other,
                   data={"step": step})


def _enum(enum_type, value, default):
    try:
        return enum_type(value)
    except (TypeError, ValueError):
        return default


class Card:
    """The card steps of one eUICC.

    When this workflow runs on the card host itself (the registry names the card host's queue
    as the card's workflow queue), the steps are local activities of that worker: no server
    round trip per step, and the history still records each result. Otherwise they go to the
    card host's queue as ordinary activities.
    """

    def __init__(self, device: DeviceInfo, context: RunContext | None = None) -> None:
        self.device = device
        self.ref = CardRef(device.eid, device.reader)
        self.task_queue = card_task_queue(device.card_host)
        self.context = context if context is not None else RunContext()
        self.steps_done = 0  # on the card's host, as ordinary activities

    @property
    def local(self) -> bool:
        return workflow.info().task_queue == self.task_queue

    async def call(self, step: str, arg: Any, result_type: type[T] | None = None, *,
                   retry: RetryPolicy | None = None,
                   start_to_close: timedelta = policies.CARD_START_TO_CLOSE,
                   heartbeat: timedelta | None = None, summary: str | None = None,
                   recorded_first: bool = False) -> T:
        """``recorded_first``: run as an ordinary activity on the card queue even on the card
        host, for a step that changes the card and whose crash recovery needs the server's
        knowledge: scheduling it completes the workflow task, so every earlier step's result
        (the "profiles before" snapshot) is in the history before the card changes, and a retry
        after a dead worker comes from the server with the step's heartbeat details."""
        schedule_to_close = max(policies.CARD_SCHEDULE_TO_CLOSE, start_to_close * 3)
        try:
            if self.local and not recorded_first:
                return await workflow.execute_local_activity(
                    step, arg, result_type=result_type, start_to_close_timeout=start_to_close,
                    schedule_to_close_timeout=schedule_to_close, retry_policy=retry or policies.card_retry(),
                    summary=summary, cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                )
            deadline = workflow.now() + schedule_to_close
            followed = self.task_queue != workflow.info().task_queue and workflow.patched(PATCH_CARD_ROUTE)
            while True:
                try:
                    # a cancelled operation (an operator's skip) waits for the card step in flight
                    result = await workflow.execute_activity(
                        step, arg, result_type=result_type, task_queue=self.task_queue,
                        start_to_close_timeout=start_to_close,
                        schedule_to_close_timeout=max(deadline - workflow.now(), start_to_close),
                        schedule_to_start_timeout=policies.CARD_SCHEDULE_TO_START if followed else None,
                        heartbeat_timeout=heartbeat or policies.STEP_HEARTBEAT,
                        retry_policy=retry or policies.card_retry(),
                        summary=summary, cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    )
                    self.steps_done += 1
                    return result
                except ActivityError as error:
                    if not (followed and _not_taken_up(error)):
                        raise
                arg = await self._routed_again(step, arg, deadline, schedule_to_close)
        except (ActivityError, ApplicationError) as error:
            raise StepFailed.from_activity_error(error, step) from error

    async def _routed_again(self, step: str, arg: Any, deadline: datetime, schedule_to_close: timedelta) -> Any:
        """A step its card host did not take up in time: the host may be busy (wait on, within
        the step's bound), gone (its lease ran out: fail now, typed and retryable) or have lost
        the card to another host (the operation's first step follows the card there; a later
        one fails, its earlier steps having run on the other card host). Returns the step's
        input, naming the card's reader on its new host."""
        try:
            device = await engine_call(EngineStep.LOOKUP_DEVICE, LookupDeviceInput(self.device.eid), DeviceInfo)
        except StepFailed as failure:
            if failure.kind != DeviceNotFoundError.kind:
                raise
            raise self._unreachable(step, failure.message) from None
        if device.card_host != self.device.card_host:
            if self.steps_done:
                raise self._unreachable(step, f"the card moved to card host {device.card_host} during the operation")
            workflow.logger.info("%s follows eUICC %s to card host %s", step, device.eid, device.card_host)
            self.device, self.ref, self.task_queue = device, CardRef(device.eid, device.reader), \
                card_task_queue(device.card_host)
            if isinstance(getattr(arg, "card", None), CardRef):
                arg = dataclasses.replace(arg, card=self.ref)
        elif workflow.now() >= deadline:
            raise StepFailed(f"{step} was not taken up by card host {device.card_host} within {schedule_to_close}",
                             kind="engine.step_timeout", oh_result=OhResultCode.RESULT_SGP_22_OTHER,
                             win_status=WinStatus.TimeoutWaitingForResponse, retryable=True, data={"step": step})
        return arg

    def _unreachable(self, step: str, reason: str) -> OperationFailed:
        return OperationFailed.of(CardHostUnreachableError(
            f"{step} on eUICC {self.device.eid} was not taken up by card host {self.device.card_host} ({reason}): "
            f"submit it again"),
            data={"step": step})


def _not_taken_up(error: ActivityError) -> bool:
    """No worker of the card host started the step within ``CARD_SCHEDULE_TO_START``."""
    return isinstance(error.cause, TimeoutError) and error.cause.type == TimeoutType.SCHEDULE_TO_START


def runs_on_card_host() -> bool:
    return workflow.info().task_queue.startswith(CARD_TASK_QUEUE_PREFIX)


async def net_call(step: str, arg: Any, result_type: type[T] | None = None, *,
                   retry: RetryPolicy | None = None) -> T:
    """A network step: local on a card host (which runs the network steps of its own cards),
    else on the network queue that goes with this workflow queue."""
    try:
        if runs_on_card_host():
            return await workflow.execute_local_activity(
                step, arg, result_type=result_type, start_to_close_timeout=policies.NET_START_TO_CLOSE,
                schedule_to_close_timeout=policies.NET_SCHEDULE_TO_CLOSE, retry_policy=retry or policies.net_retry(),
            )
        return await workflow.execute_activity(
            step, arg, result_type=result_type, task_queue=net_task_queue(workflow.info().task_queue),
            start_to_close_timeout=policies.NET_START_TO_CLOSE,
            schedule_to_close_timeout=policies.NET_SCHEDULE_TO_CLOSE,
            heartbeat_timeout=policies.STEP_HEARTBEAT,
            retry_policy=retry or policies.net_retry(),
        )
    except (ActivityError, ApplicationError) as error:
        raise StepFailed.from_activity_error(error, step) from error


async def engine_call(step: str, arg: Any, result_type: type[T] | None = None) -> T:
    """Registry and history steps: local to the workflow worker (they read local files)."""
    try:
        return await workflow.execute_local_activity(
            step, arg, result_type=result_type,
            start_to_close_timeout=policies.ENGINE_START_TO_CLOSE,
            retry_policy=policies.ENGINE_RETRY,
        )
    except (ActivityError, ApplicationError) as error:
        raise StepFailed.from_activity_error(error, step) from error


async def together(*steps: Awaitable[Any]) -> list[Any]:
    """Run independent steps at once (local activities run in parallel on the worker) and wait
    for all of them, so none is left running behind a failure; then raise the first failure."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


DEVICE_MEMO = "esimflow.device"
"""Memo key under which the entity hands an operation the registry entry it just looked up, so
the operation needs no lookup step of its own."""


@dataclass
class RunContext:
    """What the operations run in one workflow share, passed explicitly (never stashed on the
    workflow instance): the card a holder was granted (``held_device``, the registry entry the
    entity looked up for the hold), and the profile statuses this workflow recorded with their
    per-ICCID sequence numbers, so a second operation in the same holder numbers its records
    on from the first's. Rebuilt identically on replay, as workflow state."""

    held_device: DeviceInfo | None = None
    known_statuses: dict[str, str] = field(default_factory=dict)
    status_sequences: dict[str, int] = field(default_factory=dict)


async def card_of(context: RunContext, eid: str) -> Card:
    device = context.held_device or workflow.memo_value(DEVICE_MEMO, None, type_hint=DeviceInfo)
    if device is None or device.eid != eid:  # started without the entity (or for another card)
        device = await engine_call(EngineStep.LOOKUP_DEVICE, LookupDeviceInput(eid), DeviceInfo)
    return Card(device, context)


class Concluded(Protocol):
    """What :func:`conclude` needs of the operation it runs (an ``OperationContext``)."""

    operation: str
    skip_reason: str | None


async def conclude(ctx: Concluded, eid: str, body: Callable[[], Awaitable[OperationResult]]) -> OperationResult:
    """Run an operation body and always end with an ``OperationResult``: a workflow that raised
    would retry its task forever (and keep its eUICC's entity waiting) instead of telling the
    user what happened. Anything unforeseen (a bug) ends as ``engine.internal`` naming only the
    exception's type: its text may hold a secret. A cancelled operation ends as
    ``engine.cancelled`` once its step in flight has finished, or as ``engine.skipped`` with the
    reason of the operator who skipped it (``admin entity skip``)."""
    operation = ctx.operation
    workflow_id = workflow.info().workflow_id
    try:
        result = await body()
    except OperationFailed as failure:
        result = OperationResult.failure(
            operation, eid, oh_result=failure.oh_result, win_status=failure.win_status,
            error_kind=failure.kind, message=failure.message, data=failure.data,
        )
    except IllegalTransition as refusal:
        result = OperationResult.failure(
            operation, eid,
            oh_result=OhResultCode[refusal.oh_result_name], win_status=WinStatus[refusal.win_status_name],
            error_kind=refusal.kind, message=refusal.message,
        )
    except InvalidMachineData as error:  # the card reported facts that cannot be true
        result = OperationResult.failure(
            operation, eid, oh_result=OhResultCode.RESULT_SGP_22_OTHER, win_status=WinStatus.CardGeneralFailure,
            error_kind=error.kind, message=f"the eUICC reported an impossible state: {error.message}")
    except EsimError as error:
        result = OperationResult.failure(operation, eid, oh_result=error.oh_result, win_status=error.win_status,
                                         error_kind=error.kind, message=error.message)
    except asyncio.CancelledError:
        result = OperationResult.failure(
            operation, eid, oh_result=OhResultCode.RESULT_SGP_22_OTHER, win_status=WinStatus.Other,
            error_kind="engine.cancelled", message=f"{operation} was cancelled")
    except Exception as error:
        where = _raised_at(error)
        workflow.logger.warning("%s ended by an unexpected %s at %s", operation, type(error).__name__, where)
        result = OperationResult.failure(
            operation, eid, oh_result=OhResultCode.RESULT_SGP_22_OTHER, win_status=WinStatus.Other,
            error_kind="engine.internal", message=f"{operation} failed inside the engine ({type(error).__name__})",
            data={"exception": type(error).__name__, "raised_at": where})
    skip_reason = ctx.skip_reason
    if skip_reason is not None and not result.ok:
        result = OperationResult.failure(
            operation, eid, oh_result=OhResultCode.RESULT_SGP_22_OTHER, win_status=WinStatus.Other,
            error_kind="engine.skipped", message=f"skipped by an operator: {skip_reason}")
    result.workflow_id = workflow_id
    _record_in_search_attributes(operation, result)
    return result


def _raised_at(error: BaseException) -> str:
    """``module.py:line`` where ``error`` was raised: enough to find the bug, no values."""
    where = "unknown"
    for frame, line in traceback.walk_tb(error.__traceback__):  # (reads no source file)
        where = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{line}"
    return where


def _record_in_search_attributes(operation: str, result: OperationResult) -> None:
    """An operation workflow started with esimflow's search attributes (the namespace knows
    them) adds the profiles it touched and how it ended; one run inside a holder leaves the
    holder's attributes to the holder."""
    info = workflow.info()
    if info.workflow_type != operation or search_attributes.EID not in info.typed_search_attributes:
        return
    data = result.data or {}
    search_attributes.upsert(iccids=[data.get("iccid"), data.get("disabled_iccid")],
                             outcome="ok" if result.ok else "failed")
