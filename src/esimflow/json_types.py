"""Decoding JSON payloads into the engine's dataclasses without resolving their field types
every time.

Temporal's JSON converter rebuilds a dataclass from a payload by calling
``typing.get_type_hints`` on the class for every value it decodes (each step's input and result,
each nested dataclass): about 36 times per download, a tenth of the worker's CPU in the
converter. :class:`DataclassFields` is a custom type converter (Temporal's own hook,
``JSONPlainPayloadConverter(custom_type_converters=...)``) that builds dataclasses the same way,
field by field through ``value_to_type``, with each class's hints resolved once. Classes are
held weakly: those of a finished workflow run's module (re-imported per run in the sandbox) go
with it.
"""
from __future__ import annotations

import dataclasses
import typing
import weakref
from typing import Any

from temporalio.converter import JSONTypeConverter, value_to_type


class DataclassFields(JSONTypeConverter):
    """Builds a dataclass from a JSON object as Temporal's converter does (unknown keys ignored,
    ``init=False`` fields restored after construction, a missing required field a TypeError)."""

    def __init__(self) -> None:
        self._hints: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()
        self._converters = [self]

    def _hints_of(self, hint: type) -> dict[str, Any]:
        hints = self._hints.get(hint)
        if hints is None:
            hints = self._hints[hint] = typing.get_type_hints(hint)
        return hints

    def to_typed_value(self, hint: type, value: Any) -> Any | None:
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict)):
            return JSONTypeConverter.Unhandled  # Temporal's converter decides (or refuses)
        hints = self._hints_of(hint)
        values: dict[str, Any] = {}
        not_init: dict[str, Any] = {}
        for field in dataclasses.fields(hint):
            if field.name not in value:
                continue  # the constructor refuses a missing required field
            try:
                converted = value_to_type(hints[field.name], value[field.name], self._converters)
            except Exception as error:
                raise TypeError(f"Failed converting field {field.name} on dataclass {hint}") from error
            (values if field.init else not_init)[field.name] = converted
        built = hint(**values)
        for name, converted in not_init.items():
            object.__setattr__(built, name, converted)
        return built
