"""What every esimflow machine shares: illegal changes raise, guards explain their refusals,
and one compiled ``transitions`` machine per class serves every instance.

Why one shared machine: a bulk migration creates thousands of models, and building a
``transitions.Machine`` (states, events, bound trigger methods) per model costs far more than
the model itself (see ``bench/bench_machines.py``). The machine only reads the model's
``state`` attribute and calls the model's guard methods, so the definitions can be compiled
once per class and every model instance passed to the shared events.

Pure: no I/O, no clock, no Temporal, no sgp22, so workflows can replay these machines
deterministically. Errors therefore carry their outcome as OpenHarmony/Windows *names*
(``oh_result_name``/``win_status_name``); the engine maps them to ``sgp22.results`` enums.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from transitions.core import Event, EventData, Machine, MachineError

Refusal = str | Callable[[Any, EventData], str]
# One entry of a machine's TRANSITIONS list, as transitions.Machine takes it.
TransitionSpec = dict[str, Any]


class IllegalTransition(MachineError):
    """A trigger the machine does not allow now: either no transition leaves the current state
    under that trigger, or every candidate transition was refused by a guard.

    A ``transitions.core.MachineError`` (so code written against transitions still catches it)
    with the same shape as ``sgp22.errors.EsimError``: ``kind``, ``retryable``, ``message``,
    ``to_dict()``. Never retryable: trying the same change again in the same state is refused
    again.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        machine: str,
        trigger: str,
        state: str,
        guard: str | None = None,
        kind: str = "machine.illegal_transition",
        oh_result_name: str = "RESULT_SGP_22_OTHER",
        win_status_name: str = "Other",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.machine = machine
        self.trigger = trigger
        self.state = state
        self.guard = guard
        self.kind = kind
        self.oh_result_name = oh_result_name
        self.win_status_name = win_status_name

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "retryable": self.retryable,
            "machine": self.machine,
            "trigger": self.trigger,
            "state": self.state,
            "guard": self.guard,
            "oh_result": self.oh_result_name,
            "win_status": self.win_status_name,
        }


class InvalidMachineData(MachineError):
    """A model built from facts that cannot be true (an unknown state, two profiles enabled on
    one port): the caller's data is wrong, not the requested change."""

    kind = "machine.invalid_data"
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "retryable": self.retryable}


def guard(
    refusal: Refusal,
    *,
    kind: str | None = None,
    oh_result_name: str | None = None,
    win_status_name: str | None = None,
) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    """Mark a model method as a guard and say what a refusal means to a user.

    ``refusal`` is a message (``str.format`` fields: ``model`` and the trigger's keyword
    arguments) or a callable ``(model, event) -> str``. The guard itself only answers yes/no,
    so ``transitions`` can evaluate it like any condition; the message and the error attributes
    are used when it says no.
    """

    def mark(method: Callable[..., bool]) -> Callable[..., bool]:
        marked: Any = method  # guards carry their refusal as function attributes
        marked.refusal = refusal
        marked.error_attributes = {
            name: value
            for name, value in (("kind", kind), ("oh_result_name", oh_result_name),
                                ("win_status_name", win_status_name))
            if value is not None
        }
        return method

    return mark


class StrictEvent(Event):
    """An event that raises :class:`IllegalTransition` instead of returning ``False``."""

    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        state = self.machine.get_model_state(model).name
        if state not in self.transitions:
            legal = ", ".join(self.machine.get_triggers(state)) or "none (final state)"
            raise IllegalTransition(
                f"{self.machine.label}: cannot {self.name} from {state} (legal from {state}: {legal})",
                machine=self.machine.label, trigger=self.name, state=state,
            )
        if super().trigger(model, *args, **kwargs):
            return True
        raise self._refusal(model, state, args, kwargs)

    def _refusal(self, model: Any, state: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> IllegalTransition:
        """Re-asks the candidate transitions' guards to find which one said no (guards are pure
        predicates, so asking twice is safe)."""
        event = EventData(self.machine.get_state(state), self, self.machine, model, args, kwargs)
        for transition in self.transitions[state]:
            for condition in transition.conditions:
                if condition.check(event):
                    continue
                name = condition.func if isinstance(condition.func, str) else condition.func.__name__
                method = getattr(model, name)
                refusal = getattr(method, "refusal", f"guard {name} refused")
                reason = refusal(model, event) if callable(refusal) else refusal.format(model=model, **kwargs)
                return IllegalTransition(
                    f"{self.machine.label}: cannot {self.name} from {state}: {reason}",
                    machine=self.machine.label, trigger=self.name, state=state, guard=name,
                    **getattr(method, "error_attributes", {}),
                )
        return IllegalTransition(  # a guard that is not pure answered differently: still refused
            f"{self.machine.label}: cannot {self.name} from {state}",
            machine=self.machine.label, trigger=self.name, state=state,
        )


class StrictMachine(Machine):
    """``transitions.Machine`` with esimflow's defaults: no auto ``to_<state>`` triggers, invalid
    triggers raise, guards receive the ``EventData`` (trigger keyword arguments in
    ``event.kwargs``), and no model is bound (models are passed per call)."""

    event_cls = StrictEvent

    def __init__(self, label: str, *, states: list[dict[str, Any]], transitions: list[dict[str, Any]],
                 initial: str) -> None:
        super().__init__(
            model=None,
            states=states,
            transitions=transitions,
            initial=initial,
            auto_transitions=False,
            ignore_invalid_triggers=False,
            send_event=True,
            name=label,
        )
        self.label = label


@dataclass(frozen=True, slots=True)
class Change:
    """One state change as it happened, ready for the history store (which adds time, ICCID,
    EID and workflow id)."""

    machine: str
    trigger: str
    from_state: str
    to_state: str
    reason: str | None = None
    subject: str | None = None  # what changed: an ICCID, a transaction id, an EID
    drift: str | None = None  # why the machine refused this move the device made anyway


class StateModel:
    """Base of the machine models. A subclass names its definitions once::

        class ProfileStatus(StateModel, label="ProfileStatus", states=STATES,
                            transitions=TRANSITIONS, initial="AVAILABLE", final=FINAL): ...

    and gets one method per trigger (``model.enable(reason=...)``), each returning the
    :class:`Change` it made or raising :class:`IllegalTransition`. Subclasses may define a
    trigger method themselves (to give it a typed signature) and call :meth:`fire`.
    """

    machine: ClassVar[StrictMachine]
    state: str
    changes: list[Change]
    subject: str | None = None

    def __init_subclass__(cls, *, label: str, states: Iterable[str], transitions: Iterable[Mapping[str, Any]],
                          initial: str, final: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        final = set(final)
        cls.machine = StrictMachine(
            label,
            states=[{"name": str(name), "final": name in final} for name in states],
            transitions=[_plain_names(transition) for transition in transitions],
            initial=str(initial),
        )
        for name in cls.machine.events:
            if name in cls.__dict__:
                continue
            setattr(cls, name, _trigger_method(name))

    def __init__(self, state: str | None = None) -> None:
        machine = type(self).machine
        if state is not None and str(state) not in machine.states:
            raise InvalidMachineData(
                f"{machine.label}: no state {state!r} (states: {', '.join(machine.states)})")
        self.state = str(machine.initial if state is None else state)
        self.changes = []

    def fire(self, trigger: str, reason: Any = None, **kwargs: Any) -> Change:
        machine = type(self).machine
        event = machine.events.get(trigger)
        if event is None:
            raise IllegalTransition(
                f"{machine.label}: no trigger {trigger!r} (known: {', '.join(machine.events)})",
                machine=machine.label, trigger=trigger, state=self.state,
            )
        from_state = self.state
        event.trigger(self, reason=reason, **kwargs)
        recorded = reason.name if isinstance(reason, Enum) else reason
        change = Change(machine.label, trigger, from_state, self.state, recorded, self.subject)
        self.changes.append(change)
        self.on_change(change)
        return change

    def on_change(self, change: Change) -> None:
        """Hook for models that share a journal with others (see ``EuiccProfile``)."""

    def can(self, trigger: str, **kwargs: Any) -> bool:
        """Whether ``trigger`` would succeed now, without changing anything."""
        machine = type(self).machine
        event = machine.events.get(trigger)
        if event is None or self.state not in event.transitions:
            return False
        data = EventData(machine.get_state(self.state), event, machine, self, (), {"reason": None, **kwargs})
        return any(all(condition.check(data) for condition in transition.conditions)
                   for transition in event.transitions[self.state])

    def legal_triggers(self) -> list[str]:
        """Triggers that leave the current state (guards not evaluated)."""
        return type(self).machine.get_triggers(self.state)

    @classmethod
    def edge_label(cls, trigger: str, transition: Any) -> str:
        """How the diagram labels one transition: ``trigger [guard, ...]``."""
        guards = [condition.func if isinstance(condition.func, str) else condition.func.__name__
                  for condition in transition.conditions]
        return f"{trigger} [{', '.join(guards)}]" if guards else trigger

    @classmethod
    def diagram_notes(cls) -> str:
        """Markdown appended to the machine's page (for facts a diagram cannot show)."""
        return ""

    @property
    def is_final(self) -> bool:
        return type(self).machine.get_state(self.state).final

    def __repr__(self) -> str:
        return f"<{type(self).machine.label} {self.state}>"


def _plain_names(transition: Mapping[str, Any]) -> dict[str, Any]:
    """States as plain strings: ``transitions`` would turn an enum member into its *name*, and
    the models store the *value*."""
    plain = dict(transition)
    source = plain["source"]
    plain["source"] = [str(name) for name in source] if isinstance(source, (list, tuple)) else str(source)
    plain["dest"] = str(plain["dest"])
    return plain


def _trigger_method(trigger: str) -> Callable[..., Change]:
    def fire_trigger(self: StateModel, reason: str | None = None, **kwargs: Any) -> Change:
        return self.fire(trigger, reason=reason, **kwargs)

    fire_trigger.__name__ = fire_trigger.__qualname__ = trigger
    fire_trigger.__doc__ = f"Fire ``{trigger}``; returns the Change or raises IllegalTransition."
    return fire_trigger
