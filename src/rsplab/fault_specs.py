"""How a lab device's faults are written on a command line (``--fault delay=0.2``, ``--fault
cat-busy``): one parser for the virtual eUICC's and the virtual modem's knobs, so both read, refuse
and explain a spec the same way. Each device declares its knobs; this module reads them."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sgp22.errors import BadInputError

Target = TypeVar("Target")


@dataclass(frozen=True)
class Knob:
    """One fault: its spelling, the attribute it sets, how its value is read (ValueError when it
    does not fit) and how the usage line shows it."""

    name: str
    attribute: str
    read: Callable[[str], Any]
    usage: str


def flag(value: str) -> bool:
    """A knob without a value (``cat-busy``): present means on."""
    if value:
        raise ValueError(value)
    return True


def at_least(minimum: float, kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def read(value: str) -> Any:
        number = kind(value)
        if number < minimum:
            raise ValueError(value)
        return number
    return read


def counts(value: str) -> frozenset[int]:
    """1-based command numbers, comma-separated (``3,9``)."""
    numbers = frozenset(int(part) for part in value.split(",") if part.strip())
    if not numbers or min(numbers) < 1:
        raise ValueError(value)
    return numbers


def parse_faults(target: Target, specs: Iterable[str], knobs: Sequence[Knob], what: str) -> Target:
    """Set ``target``'s attributes from ``specs`` (``name`` or ``name=value``); an unknown name or
    a bad value is a BadInputError naming the spec (and, for an unknown one, every knob)."""
    by_name = {knob.name: knob for knob in knobs}
    for spec in specs:
        name, _, value = spec.partition("=")
        knob = by_name.get(name.strip().lower().replace("_", "-"))
        if knob is None:
            raise BadInputError(f"unknown {what} {spec!r}: use {', '.join(knob.usage for knob in knobs)}")
        try:
            setattr(target, knob.attribute, knob.read(value))
        except ValueError as exc:
            raise BadInputError(f"{what} {spec!r} has a bad value") from exc
    return target
