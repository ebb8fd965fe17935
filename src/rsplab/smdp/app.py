"""The lab SM-DP+ as ASGI applications: ES9+, the lab SM-DS (ES11), and the admin API, each on
a listening socket of its own (``by_local_port``), so no ES9+ or ES11 path can reach an admin
function whatever it looks like; the admin API also wants its bearer token (``BearerToken``).

The SM-DS answers ES11 under ``/gsma/rsp2/es11/`` and also under ``/gsma/rsp2/es9plus/``, where
field LPAs post it (the function names do not collide: ES11 has only the two authentication
functions).

Requests must be POSTs with a JSON content type (``application/json`` prefix, any charset)
and an ``X-Admin-Protocol`` of ``gsma/rsp/v2.*``; anything else is an HTTP 400 with a Failed
header. Function work (signatures, key agreement, SQLite) runs in worker threads so a slow
request does not hold up the others. Faults wrap the whole application so that they can also
drop the connection.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import re
from collections.abc import Callable

try:
    import anyio
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(f"the lab SM-DP+ needs {missing.name} from the [lab] extra: "
                              "pip install 'esimflow[lab]'", name=missing.name) from missing

from rsplab.smdp.admin import SmdpAdmin, admin_routes
from rsplab.smdp.config import SmdpConfig
from rsplab.smdp.es9 import Es9Service
from rsplab.smdp.es11 import Es11Service
from rsplab.smdp.faults import FaultPlan, endpoint_of, smds_endpoint_of
from rsplab.smdp.inventory import Inventory
from rsplab.smdp.sessions import SessionStore
from rsplab.smdp.wire import JSON_CONTENT_TYPE, FunctionFailed, failed_header, success_header
from sgp22.es9_functions import ADMIN_PROTOCOL, ADMIN_PROTOCOL_PREFIX, ES9_FUNCTIONS, ES9_PATH, ES11_FUNCTIONS, ES11_PATH, Function

log = logging.getLogger(__name__)

_RESPONSE_HEADERS = {"X-Admin-Protocol": ADMIN_PROTOCOL}


def json_response(document: dict, status_code: int = 200) -> Response:
    return Response(json.dumps(document), status_code=status_code,
                    headers={**_RESPONSE_HEADERS, "Content-Type": JSON_CONTENT_TYPE})


async def _request_body(request: Request) -> dict | Response:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("application/json"):
        return json_response({"header": failed_header("1.1", "2.1", "Content-Type must be application/json")}, 400)
    protocol = request.headers.get("x-admin-protocol", "")
    if not protocol.startswith(ADMIN_PROTOCOL_PREFIX):
        return json_response({"header": failed_header("1.1", "2.1", "X-Admin-Protocol must be gsma/rsp/v2.x.y")},
                             400)
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        return json_response({"header": failed_header("1.1", "2.1", "the body is not JSON")}, 400)
    if not isinstance(body, dict):
        return json_response({"header": failed_header("1.1", "2.1", "the body is not a JSON object")}, 400)
    return body


def handlers(service: object, functions: dict[str, Function]) -> dict[str, Callable[[dict], dict | None]]:
    """The service's method for each function of the binding table (``getBoundProfilePackage``:
    ``get_bound_profile_package``), so the lab serves exactly the functions the client calls."""
    return {name: getattr(service, re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()) for name in functions}


def _function_endpoint(handlers: dict, no_content: frozenset = frozenset()):
    async def endpoint(request: Request) -> Response:
        name = request.path_params["function"]
        handler = handlers.get(name)
        if handler is None:
            return Response(status_code=404)
        body = await _request_body(request)
        if isinstance(body, Response):
            return body
        try:
            payload = await anyio.to_thread.run_sync(handler, body)
        except FunctionFailed as failure:
            log.info("%s failed: %s", name, failure.message)
            return json_response({"header": failure.header()})
        if name in no_content:
            return Response(status_code=204, headers=_RESPONSE_HEADERS)
        return json_response({"header": success_header(), **payload})
    return endpoint


class FaultInjection:
    """ASGI wrapper applying the fault plan to ES9+/ES11 calls."""

    def __init__(self, app, plan: FaultPlan, sessions: SessionStore, endpoint_of=endpoint_of) -> None:
        self.app = app
        self.plan = plan
        self.sessions = sessions
        self.endpoint_of = endpoint_of

    async def __call__(self, scope, receive, send) -> None:
        endpoint = self.endpoint_of(scope.get("path", "")) if scope["type"] == "http" else None
        if endpoint is None:
            return await self.app(scope, receive, send)
        decision = self.plan.decide(endpoint)
        if decision.delay:
            await anyio.sleep(decision.delay)
        fault = decision.fault
        if fault is None:
            return await self.app(scope, receive, send)
        log.info("fault %s on %s", fault.kind, endpoint)
        if fault.kind == "restart":
            self.sessions.clear()
            return await self.app(scope, receive, send)
        if fault.kind in ("http_error", "drop") and not fault.after_processing:
            if fault.kind == "drop":
                return await _drop(receive, send)
            return await _send(send, fault.status, b"injected fault", "text/plain")
        await _run_capturing(self.app, scope, receive)
        if fault.kind == "drop":
            return await _drop(receive, send)
        if fault.kind == "http_error":
            return await _send(send, fault.status, b"injected fault", "text/plain")
        if fault.kind == "wrong_shape":
            return await _send(send, 200, json.dumps({"header": success_header()}).encode(), JSON_CONTENT_TYPE)
        return await _send(send, 200, b"\x00<not json>" + os.urandom(16), JSON_CONTENT_TYPE)


async def _run_capturing(app, scope, receive) -> tuple[int, bytes]:
    """Run the function for its effects; the answer goes nowhere (a fault replaces it)."""
    captured = {"status": 500, "body": bytearray()}

    async def capture(message) -> None:
        if message["type"] == "http.response.start":
            captured["status"] = message["status"]
        elif message["type"] == "http.response.body":
            captured["body"] += message.get("body", b"")

    await app(scope, receive, capture)
    return captured["status"], bytes(captured["body"])


async def _send(send, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
               (b"x-admin-protocol", ADMIN_PROTOCOL.encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(receive, send) -> None:
    """Close the connection without a byte of answer (uvicorn's transport, aborted)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("cannot drop the connection: the server does not expose its transport")
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass


def build_app(config: SmdpConfig, inventory: Inventory, *, faults: FaultPlan | None = None,
              sessions: SessionStore | None = None):
    """ES9+, with the fault plan applied."""
    sessions = sessions if sessions is not None else SessionStore(config.session_ttl)
    faults = faults if faults is not None else FaultPlan()
    es9 = Es9Service(config, inventory, sessions)
    no_content = frozenset(function.name for function in ES9_FUNCTIONS.values() if function.no_content)
    app = Starlette(routes=[
        Route(f"{ES9_PATH}{{function}}", _function_endpoint(handlers(es9, ES9_FUNCTIONS), no_content),
              methods=["POST"]),
    ])
    return FaultInjection(app, faults, sessions)


def build_admin_app(config: SmdpConfig, inventory: Inventory, *, faults: FaultPlan, sessions: SessionStore,
                    token: str):
    """The admin API; every request needs ``Authorization: Bearer <token>``."""
    admin = SmdpAdmin(inventory, config.address)

    def describe() -> dict:
        return {"address": config.address, "oid": config.oid, "sessions": len(sessions),
                "curves": [s.curve for s in config.signing_sets]}

    return BearerToken(Starlette(routes=admin_routes(admin, faults, describe)), token)


class BearerToken:
    """ASGI wrapper refusing any request without the right bearer token (compared in constant time)."""

    def __init__(self, app, token: str) -> None:
        if len(token) < 16:
            raise ValueError("an admin token has at least 16 characters")
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                body = json.dumps({"error": "the admin API needs its bearer token (the lab's admin-token file)",
                                   "kind": "lab.admin.unauthorized"}).encode()
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="esimflow lab admin"')]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def build_smds_app(config: SmdpConfig, smdp_address: str, inventory: Inventory, *, faults: FaultPlan | None = None,
                   sessions: SessionStore | None = None):
    """The lab SM-DS at ``config.address``; its events send the LPA to the SM-DP+ at ``smdp_address``."""
    sessions = sessions if sessions is not None else SessionStore(config.session_ttl)
    es11 = Es11Service(config, smdp_address, inventory, sessions)
    endpoint = _function_endpoint(handlers(es11, ES11_FUNCTIONS))
    app = Starlette(routes=[Route(f"{path}{{function}}", endpoint, methods=["POST"]) for path in (ES11_PATH, ES9_PATH)])
    return FaultInjection(app, faults if faults is not None else FaultPlan(), sessions, smds_endpoint_of)


def by_local_port(apps: dict[int, object]):
    """One ASGI application per listening port (the SM-DP+ and the SM-DS share a server)."""
    async def dispatch(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return
        _, port = scope.get("server") or (None, None)
        app = apps.get(port)
        if app is None:
            raise RuntimeError(f"no lab application listens on port {port}")
        await app(scope, receive, send)
    return dispatch
