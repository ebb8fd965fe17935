"""Operator actions on the lab SM-DP+, shared by the admin HTTP API, ``LabSmdp`` and the CLI.

The HTTP API lives under ``/lab/admin`` on a port of its own (loopback only, bearer token:
see ``rsplab.smdp.server``); the CLI works on the SQLite file directly, so it needs no running
server, and finds the SM-DP+ address for activation codes in the file (written by ``serve``).
"""
from __future__ import annotations

import base64
import binascii
import json

try:
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(f"the lab SM-DP+ needs {missing.name} from the [lab] extra: "
                              "pip install 'esimflow[lab]'", name=missing.name) from missing

from sgp22.errors import BadInputError, EsimError
from sgp22.activation_code import ActivationCode

from rsplab.smdp.faults import FaultPlan
from rsplab.smdp.inventory import Inventory, InventoryError, ProfileNotFoundError
from rsplab.smdp.profiles import NewProfile, Profile, parse_access_rule
from rsplab.smdp.status import IllegalStatusChange, ProfileStatus

ADMIN_PREFIX = "/lab/admin"
DEFAULT_ADMIN_PORT = 8445
STATUS_ACTIONS = {"expire": "expired by the operator", "cancel": "cancelled by the operator",
                  "remove": "removed from the platform"}
_PROFILE_FIELDS = {
    # JSON name: (NewProfile field, JSON type)
    "iccid": ("iccid", str), "matchingId": ("matching_id", str), "confirmationCode": ("confirmation_code", str),
    "eid": ("eid", str), "profileClass": ("profile_class", str), "ppr1": ("ppr1", bool), "ppr2": ("ppr2", bool),
    "released": ("released", bool), "reusable": ("reusable", bool), "size": ("size", int),
    "serviceProviderName": ("service_provider_name", str), "profileName": ("profile_name", str),
    "ccRetryLimit": ("cc_retry_limit", int), "package": ("package", str), "accessRules": ("access_rules", list),
    "operator": ("profile_owner", str),
}


def activation_code(address: str, matching_id: str, cc_required: bool) -> str:
    """``LPA:1$address$matchingId``, with ``$$1`` (empty OID field, CC flag) when a code is needed."""
    return ActivationCode(address, matching_id, confirmation_code_required=cc_required).to_text()


class SmdpAdmin:
    def __init__(self, inventory: Inventory, address: str | None = None) -> None:
        self.inventory = inventory
        self._address = address

    @property
    def address(self) -> str:
        address = self._address or self.inventory.meta("address")
        if not address:
            raise BadInputError("the SM-DP+ address is unknown: start the server once with this database "
                                "or give the address")
        return address

    def activation_code(self, profile: Profile) -> str:
        return activation_code(self.address, profile.matching_id, profile.cc_required)

    def add_profile(self, new: NewProfile) -> tuple[Profile, str]:
        address = self.address  # refuse before storing anything
        profile = self.inventory.add_profile(new)
        return profile, activation_code(address, profile.matching_id, profile.cc_required)

    def change_status(self, iccid: str, action: str, reason: str | None = None) -> Profile:
        if action not in STATUS_ACTIONS:
            raise BadInputError(f"unknown action {action!r}")
        self.inventory.apply(iccid, action, reason=reason or STATUS_ACTIONS[action])
        return self.inventory.get(iccid)

    def release(self, iccid: str, released: bool = True) -> Profile:
        return self.inventory.set_released(iccid, released)

    def reissue(self, iccid: str, *, matching_id: str | None = None,
                confirmation_code: str | None = None) -> tuple[Profile, str]:
        profile = self.inventory.reissue(iccid, matching_id=matching_id, confirmation_code=confirmation_code)
        return profile, self.activation_code(profile)


def new_profile_from_json(body: dict) -> NewProfile:
    if not isinstance(body, dict):
        raise BadInputError("a profile is a JSON object")
    unknown = set(body) - set(_PROFILE_FIELDS)
    if unknown:
        raise BadInputError(f"unknown profile fields: {', '.join(sorted(unknown))}")
    if "iccid" not in body and "package" not in body:
        raise BadInputError("iccid is missing (or give package, a base64 profile package)")
    values = {}
    for key, value in body.items():
        name, kind = _PROFILE_FIELDS[key]
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadInputError(f"{key} must be a {kind.__name__.replace('str', 'string')}")
        values[name] = value
    if "access_rules" in values:
        if not all(isinstance(rule, str) for rule in values["access_rules"]):
            raise BadInputError("accessRules must be a list of CERT_HASH[:PACKAGE][:ACCESS_TYPE] strings")
        values["access_rules"] = tuple(parse_access_rule(rule) for rule in values["access_rules"])
    if "package" in values:
        try:
            values["package"] = base64.b64decode(values["package"], validate=True)
        except binascii.Error:
            raise BadInputError("package must be base64 (the profile package DER)") from None
    return NewProfile(**values)


def admin_routes(admin: SmdpAdmin, faults: FaultPlan, describe) -> list[Route]:
    """The admin API; ``describe()`` returns the server facts for ``GET /lab/admin``."""

    async def server(request: Request) -> JSONResponse:
        return JSONResponse(describe())

    return [Route(ADMIN_PREFIX, _guarded(server), methods=["GET"]),
            *_profile_routes(admin), *_fault_routes(faults)]


def _profile_routes(admin: SmdpAdmin) -> list[Route]:
    async def profiles(request: Request) -> JSONResponse:
        if request.method == "GET":
            status = request.query_params.get("status")
            return JSONResponse([p.summary() for p in admin.inventory.profiles(_status(status))])
        profile, code = admin.add_profile(new_profile_from_json(await _json(request)))
        return JSONResponse({"profile": profile.summary(), "activationCode": code}, status_code=201)

    async def profile(request: Request) -> JSONResponse:
        return JSONResponse(admin.inventory.get(request.path_params["iccid"]).summary())

    async def history(request: Request) -> JSONResponse:
        return JSONResponse([c.as_dict() for c in admin.inventory.history(request.path_params["iccid"])])

    async def code(request: Request) -> JSONResponse:
        return JSONResponse({"activationCode": admin.activation_code(admin.inventory.get(request.path_params["iccid"]))})

    async def action(request: Request) -> JSONResponse:
        iccid, verb = request.path_params["iccid"], request.path_params["action"]
        body = await _json(request, optional=True)
        if verb in STATUS_ACTIONS:
            return JSONResponse(admin.change_status(iccid, verb, body.get("reason")).summary())
        if verb in ("release", "hold"):
            return JSONResponse(admin.release(iccid, verb == "release").summary())
        if verb == "reissue":
            profile, code = admin.reissue(iccid, matching_id=body.get("matchingId"),
                                          confirmation_code=body.get("confirmationCode"))
            return JSONResponse({"profile": profile.summary(), "activationCode": code})
        return JSONResponse({"error": f"unknown action {verb}"}, status_code=404)

    return [
        Route(f"{ADMIN_PREFIX}/profiles", _guarded(profiles), methods=["GET", "POST"]),
        Route(f"{ADMIN_PREFIX}/profiles/{{iccid}}", _guarded(profile), methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/profiles/{{iccid}}/history", _guarded(history), methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/profiles/{{iccid}}/activation-code", _guarded(code), methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/profiles/{{iccid}}/{{action}}", _guarded(action), methods=["POST"]),
    ]


def _fault_routes(faults: FaultPlan) -> list[Route]:
    async def fault_rules(request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse(faults.rules())
        if request.method == "DELETE":
            faults.clear()
            return JSONResponse([])
        return JSONResponse(faults.add(await _json(request)).as_dict(), status_code=201)

    async def fault_rule(request: Request) -> JSONResponse:
        if not faults.remove(int(request.path_params["rule_id"])):
            return JSONResponse({"error": "no such fault rule"}, status_code=404)
        return JSONResponse(faults.rules())

    return [
        Route(f"{ADMIN_PREFIX}/faults", _guarded(fault_rules), methods=["GET", "POST", "DELETE"]),
        Route(f"{ADMIN_PREFIX}/faults/{{rule_id:int}}", _guarded(fault_rule), methods=["DELETE"]),
    ]


def _guarded(endpoint):
    """The endpoint with the inventory's refusals as HTTP statuses (404, 409, 400)."""
    async def run(request: Request) -> JSONResponse:
        try:
            return await endpoint(request)
        except ProfileNotFoundError as error:
            return _error(error, 404)
        except IllegalStatusChange as error:
            return _error(error, 409)
        except (BadInputError, InventoryError) as error:
            return _error(error, 400)
    return run


def _status(value: str | None) -> ProfileStatus | None:
    if value is None:
        return None
    try:
        return ProfileStatus(value.upper())
    except ValueError:
        raise BadInputError(f"unknown status {value}") from None


async def _json(request: Request, optional: bool = False) -> dict:
    raw = await request.body()
    if not raw and optional:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadInputError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise BadInputError("the request body must be a JSON object")
    return body


def _error(error: EsimError, status: int) -> JSONResponse:
    return JSONResponse({"error": error.message, "kind": error.kind}, status_code=status)
