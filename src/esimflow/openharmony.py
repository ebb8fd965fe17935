"""OpenHarmony's ``DownloadableProfile`` and ``AccessRule`` as JSON, in and out.

An OpenHarmony (or Android-style) LPA front end hands a profile around in this shape: the
``getDownloadableProfiles`` answer is fed back to ``downloadProfile``. Accepting and answering
the same shape lets such a front end drive esimflow without a translation layer of its own.

Keys keep OpenHarmony's camelCase so the JSON is exactly the seed API's; the engine's own
results use snake_case. The confirmation code is a password and the activation code carries the
matching ID: neither is ever quoted in an error message.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sgp22.errors import BadInputError
from sgp22.es10_types import AccessRule

MAX_ACCESS_RULES = 64
MAX_TEXT = 255


class DownloadableProfileError(BadInputError):
    kind = "input.downloadable_profile"


def access_rule_dict(rule: AccessRule) -> dict[str, Any]:
    """The engine's form of an access rule (results, inputs): hex hash, package name ("" for
    none) and OpenHarmony's ``accessType``, which is the rule's PERM-AR-DO read as a number, as
    Android's ``UiccAccessRule`` reads it."""
    return {"certificate_hash": rule.certificate_hash.hex().upper(), "package_name": rule.package_name or "",
            "access_type": rule.permissions}


def _openharmony_rule(rule: dict[str, Any]) -> dict[str, Any]:
    return {"certificateHashHexStr": rule["certificate_hash"], "packageName": rule["package_name"],
            "accessType": rule["access_type"]}


@dataclass(frozen=True)
class DownloadableProfileSpec:
    """A parsed ``DownloadableProfile``: what ``download``/``metadata`` take in its place."""

    activation_code: str | None
    confirmation_code: str | None = None
    carrier_name: str = ""
    access_rules: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # access_rule_dict form

    def __repr__(self) -> str:  # the matching ID and the confirmation code are secrets
        return (f"DownloadableProfileSpec(activation_code={'set' if self.activation_code else None}, "
                f"confirmation_code={'set' if self.confirmation_code else None}, "
                f"carrier_name={self.carrier_name!r}, access_rules={len(self.access_rules)})")


def access_rule_from_openharmony(item: Any, index: int) -> dict[str, Any]:
    where = f"accessRules[{index}]"
    if not isinstance(item, dict):
        raise DownloadableProfileError(f"{where} is not an object")
    unknown = set(item) - {"certificateHashHexStr", "packageName", "accessType"}
    if unknown:
        raise DownloadableProfileError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    cert_hash, package, access_type = (item.get("certificateHashHexStr"), item.get("packageName") or None,
                                       item.get("accessType", 0))
    if not isinstance(cert_hash, str) or not cert_hash:
        raise DownloadableProfileError(f"{where}.certificateHashHexStr is required (a hex string)")
    if package is not None and not isinstance(package, str):
        raise DownloadableProfileError(f"{where}.packageName must be a string")
    if not isinstance(access_type, int) or isinstance(access_type, bool):
        raise DownloadableProfileError(f"{where}.accessType must be an integer")
    try:
        digest = bytes.fromhex(cert_hash)
    except ValueError:
        raise DownloadableProfileError(f"{where}.certificateHashHexStr is not hex") from None
    try:
        return access_rule_dict(AccessRule(digest, package, access_type))
    except BadInputError as error:
        raise DownloadableProfileError(f"{where}: {error.message}") from None


def _optional_text(document: dict, key: str) -> str | None:
    value = document.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DownloadableProfileError(f"{key} must be a string")
    return value


def downloadable_profile_from_json(text: str) -> DownloadableProfileSpec:
    """Parse an OpenHarmony ``DownloadableProfile`` JSON object (activationCode, confirmationCode,
    carrierName, accessRules). The activation code itself is validated by the caller, like a
    plain one."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise DownloadableProfileError("not a JSON document (expected a DownloadableProfile object)") from None
    if not isinstance(document, dict):
        raise DownloadableProfileError("expected a DownloadableProfile JSON object")
    unknown = set(document) - {"activationCode", "confirmationCode", "carrierName", "accessRules"}
    if unknown:
        raise DownloadableProfileError(f"unknown DownloadableProfile keys: {', '.join(sorted(unknown))}")
    carrier = _optional_text(document, "carrierName") or ""
    if len(carrier) > MAX_TEXT:
        raise DownloadableProfileError(f"carrierName is longer than {MAX_TEXT} characters")
    rules = document.get("accessRules") or []
    if not isinstance(rules, list) or len(rules) > MAX_ACCESS_RULES:
        raise DownloadableProfileError(f"accessRules must be a list of at most {MAX_ACCESS_RULES} rules")
    return DownloadableProfileSpec(
        activation_code=_optional_text(document, "activationCode"),
        confirmation_code=_optional_text(document, "confirmationCode"),
        carrier_name=carrier,
        access_rules=tuple(access_rule_from_openharmony(rule, index) for index, rule in enumerate(rules)),
    )


def downloadable_profile_json(activation_code: str | None, carrier_name: str = "",
                              access_rules: list[dict] | None = None) -> dict[str, Any]:
    """The OpenHarmony ``DownloadableProfile`` shape of an entry the engine answers with.
    ``access_rules`` are the engine's snake_case rule dicts; the confirmation code is never
    answered (the SM-DP+ never gives it out)."""
    return {
        "activationCode": activation_code,
        "confirmationCode": None,
        "carrierName": carrier_name,
        "accessRules": [_openharmony_rule(rule) for rule in access_rules or []],
    }
