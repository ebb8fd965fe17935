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

MAX_ACCESS_RULES = 64
MAX_TEXT = 255


class DownloadableProfileError(BadInputError):
    kind = "input.downloadable_profile"


@dataclass(frozen=True)
class AccessRule:
    """One ARA-M rule of a profile (SGP.22 ``ProfileInfo.refArDo``): which app, by the hash of
    its signing certificate and optionally its package name, may use the profile's carrier
    privileges. ``access_type`` is OpenHarmony's rule type number (0: allow)."""

    certificate_hash: str  # hex, upper case
    package_name: str = ""
    access_type: int = 0

    def as_openharmony(self) -> dict[str, Any]:
        return {"certificateHashHexStr": self.certificate_hash, "packageName": self.package_name,
                "accessType": self.access_type}


@dataclass(frozen=True)
class DownloadableProfileSpec:
    """A parsed ``DownloadableProfile``: what ``download``/``metadata`` take in its place."""

    activation_code: str | None
    confirmation_code: str | None = None
    carrier_name: str = ""
    access_rules: tuple[AccessRule, ...] = field(default_factory=tuple)

    def __repr__(self) -> str:  # the matching ID and the confirmation code are secrets
        return (f"DownloadableProfileSpec(activation_code={'set' if self.activation_code else None}, "
                f"confirmation_code={'set' if self.confirmation_code else None}, "
                f"carrier_name={self.carrier_name!r}, access_rules={len(self.access_rules)})")


def access_rule_from_openharmony(item: Any, index: int) -> AccessRule:
    where = f"accessRules[{index}]"
    if not isinstance(item, dict):
        raise DownloadableProfileError(f"{where} is not an object")
    unknown = set(item) - {"certificateHashHexStr", "packageName", "accessType"}
    if unknown:
        raise DownloadableProfileError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    cert_hash = item.get("certificateHashHexStr")
    if not isinstance(cert_hash, str) or not cert_hash:
        raise DownloadableProfileError(f"{where}.certificateHashHexStr is required (a hex string)")
    try:
        digest = bytes.fromhex(cert_hash)
    except ValueError:
        raise DownloadableProfileError(f"{where}.certificateHashHexStr is not hex") from None
    if len(digest) not in (20, 32):
        raise DownloadableProfileError(
            f"{where}.certificateHashHexStr is {len(digest)} bytes; a SHA-1 (20) or SHA-256 (32) hash is expected")
    package = item.get("packageName", "")
    if not isinstance(package, str) or len(package) > MAX_TEXT:
        raise DownloadableProfileError(f"{where}.packageName must be a string of at most {MAX_TEXT} characters")
    access_type = item.get("accessType", 0)
    if not isinstance(access_type, int) or isinstance(access_type, bool) or not 0 <= access_type <= 0xFF:
        raise DownloadableProfileError(f"{where}.accessType must be an integer 0..255")
    return AccessRule(digest.hex().upper(), package, access_type)


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
        "accessRules": [AccessRule(**rule).as_openharmony() for rule in access_rules or []],
    }
