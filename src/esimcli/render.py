"""Human-readable output: what a person at a terminal wants to see of each result.

Tables where the answer is a list (profiles, devices), ``key: value`` lines otherwise. The JSON
output carries the same data unformatted; this module never decides what is in it.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Any

from esimflow.contract import OperationResult, PolicyRules, ProfileClass, ProfileState


def result_lines(result: OperationResult) -> list[str]:
    data = dict(result.data or {})
    lines: list[str] = []
    if isinstance(data.get("profiles"), list):
        lines += profile_table(data.pop("profiles"))
    if isinstance(data.get("devices"), list):
        lines += device_table(data.pop("devices"))
    lines += key_value_lines(data)
    return lines


def status_lines(result: OperationResult) -> list[str]:
    return [
        f"result: {result.oh_result_name} ({result.oh_result}), "
        f"windows: {result.win_status_name} ({result.win_status})",
    ]


def profile_table(profiles: list[dict[str, Any]]) -> list[str]:
    if not profiles:
        return ["no profiles"]
    rows = [("ICCID", "STATE", "CLASS", "PROVIDER", "NAME", "NICKNAME", "POLICY")]
    for profile in profiles:
        rows.append((
            str(profile.get("iccid", "")),
            value_label(ProfileState, profile.get("state")),
            value_label(ProfileClass, profile.get("profile_class")),
            str(profile.get("service_provider_name") or "-"),
            str(profile.get("profile_name") or "-"),
            str(profile.get("nickname") or "-"),
            policy_label(profile.get("policy_rules") or 0),
        ))
    return _table(rows)


def device_table(devices: list[dict[str, Any]]) -> list[str]:
    if not devices:
        return ["no devices registered (start `esimflow worker` on the host with the reader)"]
    rows = [("EID", "HOST", "READER", "NAME")]
    rows += [(str(d.get("eid", "")), str(d.get("card_host", "")), str(d.get("reader", "")),
              str(d.get("name") or "-")) for d in devices]
    return _table(rows)


def policy_names(bits: int) -> list[str]:
    """A profile's policy rules as a person reads them (``disable_not_allowed``, ...)."""
    rules = PolicyRules(bits)
    return [str(rule.name).removeprefix("POLICY_RULE_").lower() for rule in PolicyRules if rule in rules]


def policy_label(bits: int) -> str:
    return ",".join(policy_names(bits)) or "-"


def key_value_lines(data: Any, indent: str = "") -> list[str]:
    lines: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{indent}{key}:")
                lines += key_value_lines(value, indent + "  ")
            else:
                lines.append(f"{indent}{key}: {_scalar(value)}")
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, (dict, list)):
                nested = key_value_lines(item, indent + "  ")
                lines.append(f"{indent}- {nested[0].lstrip()}" if nested else f"{indent}-")
                lines += nested[1:]
            else:
                lines.append(f"{indent}- {_scalar(item)}")
    return lines


def _scalar(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def value_label(enum_type: type[IntEnum], value: Any) -> str:
    """A profile state or class by its SGP.22 name (``enabled``, ``operational``, ``unspecified``);
    a value the enum does not name as the number, none as ``-``."""
    try:
        return enum_type(value).name.lower()
    except (TypeError, ValueError):
        return "-" if value is None else str(value)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
