"""Fault injection for the lab SM-DP+, per endpoint, from a file at start or through admin.

A rule names an endpoint (``getBoundProfilePackage``, ``es11.authenticateClient``, or ``*``)
and a kind:

- ``http_error``: answer ``status`` (default 500) instead of the function;
- ``delay``: wait ``seconds`` before handling (adds up with other delays);
- ``drop``: close the connection without an answer;
- ``wrong_shape``: a success header without the function's payload fields;
- ``garbage``: a body that is not JSON, with a JSON content type;
- ``restart``: forget every session before handling, as a restarted SM-DP+ does (the call
  then meets "transactionId unknown", 8.10.1/3.9).

``http_error`` and ``drop`` happen before the function runs unless ``after_processing`` is
set (the server did the work, the client never hears of it); ``wrong_shape`` and ``garbage``
always corrupt the answer of a function that ran. A rule applies to every matching call, or
to ``count`` of them, after letting ``after`` calls pass, each time with ``probability``.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import threading
from dataclasses import asdict, dataclass, fields

from sgp22.errors import BadInputError
from sgp22.es9_functions import ES9_FUNCTIONS, ES9_PATH, ES11_FUNCTIONS, ES11_PATH

FAULT_KINDS = ("http_error", "delay", "drop", "wrong_shape", "garbage", "restart")
ENDPOINTS = (*ES9_FUNCTIONS, *(f"es11.{name}" for name in ES11_FUNCTIONS), "*")


def endpoint_of(path: str) -> str | None:
    """The fault endpoint name of a request path (None for paths faults never touch)."""
    if path.startswith(ES9_PATH):
        return path[len(ES9_PATH):]
    if path.startswith(ES11_PATH):
        return "es11." + path[len(ES11_PATH):]
    return None


def smds_endpoint_of(path: str) -> str | None:
    """At the SM-DS every call is ES11, whichever of its two path sets it came by."""
    for prefix in (ES11_PATH, ES9_PATH):
        if path.startswith(prefix):
            return "es11." + path[len(prefix):]
    return None


@dataclass
class FaultRule:
    id: int
    endpoint: str
    kind: str
    status: int = 500
    seconds: float = 0.0
    count: int | None = None
    probability: float = 1.0
    after: int = 0
    after_processing: bool = False
    seen: int = 0
    applied: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.applied >= self.count


_SETTABLE = {f.name for f in fields(FaultRule)} - {"id", "seen", "applied"}


def _validated(spec: dict) -> dict:
    if not isinstance(spec, dict):
        raise BadInputError("a fault rule is a JSON object")
    unknown = set(spec) - _SETTABLE
    if unknown:
        raise BadInputError(f"unknown fault rule fields: {', '.join(sorted(unknown))}")
    endpoint, kind = spec.get("endpoint", "*"), spec.get("kind")
    if endpoint not in ENDPOINTS:
        raise BadInputError(f"fault endpoint must be one of {', '.join(ENDPOINTS)}")
    if kind not in FAULT_KINDS:
        raise BadInputError(f"fault kind must be one of {', '.join(FAULT_KINDS)}")
    rule = {"endpoint": endpoint, "kind": kind}
    try:
        if "status" in spec:
            rule["status"] = int(spec["status"])
            if not 400 <= rule["status"] <= 599:
                raise BadInputError("fault status must be an HTTP error status (400..599)")
        if "seconds" in spec:
            rule["seconds"] = float(spec["seconds"])
            if not 0 <= rule["seconds"] <= 600:
                raise BadInputError("fault delay must be 0..600 seconds")
        if spec.get("count") is not None:
            rule["count"] = int(spec["count"])
            if rule["count"] < 1:
                raise BadInputError("fault count must be at least 1")
        if "probability" in spec:
            rule["probability"] = float(spec["probability"])
            if not 0 < rule["probability"] <= 1:
                raise BadInputError("fault probability must be in (0, 1]")
        if "after" in spec:
            rule["after"] = int(spec["after"])
            if rule["after"] < 0:
                raise BadInputError("fault 'after' must not be negative")
    except (TypeError, ValueError):
        raise BadInputError("fault rule numbers are not numbers") from None
    if "after_processing" in spec:
        rule["after_processing"] = bool(spec["after_processing"])
    if kind == "delay" and "seconds" not in rule:
        raise BadInputError("a delay fault needs seconds")
    return rule


@dataclass(frozen=True)
class Decision:
    """What to do to one call: wait, then at most one fault that changes the answer."""

    delay: float = 0.0
    fault: FaultRule | None = None


class FaultPlan:
    def __init__(self, rules=(), *, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._rules: list[FaultRule] = []
        self._random = random.Random(seed)
        for spec in rules:
            self.add(spec)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "FaultPlan":
        """``{"seed": 1, "faults": [{"endpoint": ..., "kind": ..., ...}]}``"""
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            raise BadInputError(f"cannot read fault file {path}: {exc}") from None
        if not isinstance(document, dict) or not isinstance(document.get("faults", []), list):
            raise BadInputError(f"fault file {path} must be an object with a 'faults' list")
        return cls(document.get("faults", []), seed=document.get("seed"))

    def add(self, spec: dict) -> FaultRule:
        rule = FaultRule(id=0, **_validated(spec))
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict]:
        with self._lock:
            return [r.as_dict() for r in self._rules]

    def decide(self, endpoint: str) -> Decision:
        """Count the call against every matching rule; the first rule that fires changes the answer."""
        delay = 0.0
        chosen: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if rule.endpoint not in (endpoint, "*") or rule.exhausted:
                    continue
                rule.seen += 1
                if rule.seen <= rule.after or (rule.kind != "delay" and chosen is not None):
                    continue
                if self._random.random() >= rule.probability:
                    continue
                rule.applied += 1
                if rule.kind == "delay":
                    delay += rule.seconds
                else:
                    chosen = rule
        return Decision(delay, chosen)
