"""The engine's JSON decoding of dataclasses (esimflow.json_types) builds exactly what
Temporal's own converter builds, refuses what it refuses, and resolves each class's field
types once."""
from __future__ import annotations

import dataclasses
import json
import typing

import pytest
import temporalio.converter as temporal_converter

from esimflow.activities import types as t
from esimflow.contract import DeviceInfo, OperationResult
from esimflow.codec import PayloadConverter
from esimflow.json_types import DataclassFields


@dataclasses.dataclass
class Inner:
    name: str
    count: int = 0


@dataclasses.dataclass
class Outer:
    inner: Inner
    maybe: Inner | None = None
    items: list[Inner] = dataclasses.field(default_factory=list)
    by_key: dict[str, Inner] = dataclasses.field(default_factory=dict)
    either: int | Inner = 0
    derived: str = dataclasses.field(default="", init=False)


def _outer() -> Outer:
    value = Outer(Inner("a", 1), None, [Inner("b"), Inner("c", 3)], {"k": Inner("d")}, Inner("e"))
    value.derived = "set after construction"
    return value


VALUES = [
    (_outer(), Outer),
    (t.LoadBppStepInput(t.CardRef("89" * 16, "pcsc:reader"), "AB" * 16, "CD" * 300, "8949000000000000001"),
     t.LoadBppStepInput),
    (OperationResult.success("DownloadProfile", "89" * 16, {"iccid": "8949000000000000001"}), OperationResult),
    (DeviceInfo(eid="89" * 16, card_host="host", reader="pcsc:reader"), DeviceInfo),
]
TEMPORAL = temporal_converter.CompositePayloadConverter(
    *temporal_converter.DefaultPayloadConverter.default_encoding_payload_converters)


@pytest.mark.parametrize(("value", "hint"), VALUES, ids=lambda v: type(v).__name__)
def test_decodes_what_temporals_converter_decodes(value, hint):
    ours = PayloadConverter()
    payload = ours.to_payloads([value])[0]
    assert ours.from_payloads([payload], [hint])[0] == TEMPORAL.from_payloads([payload], [hint])[0] == value


def _from_json(converter, document: dict, hint):
    payload = converter.to_payloads([document])[0]
    return converter.from_payloads([payload], [hint])[0]


def test_unknown_keys_are_ignored_and_missing_or_mistyped_fields_refused():
    ours = PayloadConverter()
    assert _from_json(ours, {"name": "x", "unknown": 1}, Inner) == Inner("x")
    for document in ({"count": 2}, {"name": "x", "count": "many"}):
        for converter in (ours, TEMPORAL):
            with pytest.raises(TypeError):
                _from_json(converter, document, Inner)


def test_field_types_are_resolved_once_per_class(monkeypatch):
    calls = []
    resolve = typing.get_type_hints
    monkeypatch.setattr(typing, "get_type_hints", lambda hint: calls.append(hint) or resolve(hint))
    fields = DataclassFields()
    document = json.loads(json.dumps(dataclasses.asdict(_outer())))
    for _ in range(3):
        assert temporal_converter.value_to_type(Outer, document, [fields]).items[1] == Inner("c", 3)
    assert sorted(hint.__name__ for hint in calls) == ["Inner", "Outer"]
