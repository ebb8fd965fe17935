"""Temporal's remote codec protocol, so operators holding the payload key can read histories in
the Temporal UI (``codec.endpoint``) and the ``temporal`` CLI (``--codec-endpoint``).

``POST /decode`` and ``POST /encode`` take and return ``{"payloads": [...]}`` (the proto3 JSON
of ``temporal.api.common.v1.Payloads``). The UI calls them from the browser, so the answers
carry CORS headers for the origins given, and the preflight answers without authorization (a
browser sends none with it). Every other request must carry ``Authorization`` equal to one of
the configured values (the CLI sends ``--codec-auth`` verbatim; the UI sends ``Bearer <access
token>`` when ``codec.passAccessToken`` is on): the server holds the key, so whoever may call it
may read every payload.

Decoded is not unmasked: matching IDs, confirmation codes and activation codes are shown the way
the engine's logs show them (``AB12…(16)``), and the DER messages that carry a matching ID
(AuthenticateServerRequest/Response, tag BF38) are replaced by their size. A payload under a key
this server lacks is returned as it came (the UI shows it still encrypted).
"""
from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
try:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(f"the codec server needs {missing.name} from the [lab] extra: "
                              "pip install 'esimflow[lab]'", name=missing.name) from missing
from temporalio.api.common.v1 import Payload, Payloads

from esimflow.codec import AesGcmCodec, UnknownKeyError
from sgp22.secret_text import mask_secret
from sgp22.masking import mask_secrets_in

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024
SECRET_FIELDS = frozenset({"matching_id", "confirmation_code", "activation_code", "code"})
"""Field names whose string values are secrets wherever they occur in an engine payload."""
_MATCHING_ID_CARRIER = re.compile(r"(?i)bf38[0-9a-f]{4,}")  # AuthenticateServerRequest/Response as hex
JSON_ENCODING = b"json/plain"


def mask_secrets(value: Any) -> Any:
    """``value`` (decoded JSON) with every secret masked."""
    if isinstance(value, dict):
        return {key: _mask_field(item) if key in SECRET_FIELDS and isinstance(item, str) else mask_secrets(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    if isinstance(value, str):
        if _MATCHING_ID_CARRIER.fullmatch(value):
            return f"BF38…({len(value) // 2} bytes, holds the matching ID)"
        return mask_secrets_in(value)  # a matching ID put in any other field (a nickname, a reason)
    return value


def _mask_field(secret: str) -> str:
    """An activation code keeps its SM-DP+ address readable; any other secret is masked whole."""
    masked = mask_secrets_in(secret)
    return masked if masked != secret else mask_secret(secret)


def _masked(payload: Payload) -> Payload:
    if payload.metadata.get("encoding") != JSON_ENCODING:
        return payload
    try:
        value = json.loads(payload.data)
    except ValueError:
        return payload
    masked = Payload()
    masked.CopyFrom(payload)
    masked.data = json.dumps(mask_secrets(value), separators=(",", ":"), ensure_ascii=False).encode()
    return masked


def _decoded(codec: AesGcmCodec, payload: Payload) -> Payload:
    try:
        return _masked(codec.decrypt_strict(payload))
    except UnknownKeyError:
        return payload


def create_app(codec: AesGcmCodec, *, authorizations: Iterable[str], cors_origins: Iterable[str] = (),
               allow_unauthenticated: bool = False) -> Starlette:
    """The codec server. ``authorizations``: accepted ``Authorization`` header values; empty
    only with ``allow_unauthenticated`` (a server on loopback for one operator)."""
    accepted = [value.encode() for value in authorizations if value]
    if not accepted and not allow_unauthenticated:
        raise ValueError("a codec server needs at least one accepted Authorization value")

    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return allow_unauthenticated or any(hmac.compare_digest(given, value) for value in accepted)

    async def payloads_of(request: Request) -> Payloads | Response:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            return json_format.Parse(body or b"{}", Payloads())
        except json_format.ParseError as error:
            return JSONResponse({"error": f"not a Payloads JSON object: {error}"}, status_code=400)

    def answer(payloads: list[Payload]) -> JSONResponse:
        return JSONResponse(json_format.MessageToDict(Payloads(payloads=payloads)) or {"payloads": []})

    async def decode(request: Request) -> Response:
        given = await payloads_of(request)
        if isinstance(given, Response):
            return given
        return answer([_decoded(codec, payload) for payload in given.payloads])

    async def encode(request: Request) -> Response:
        given = await payloads_of(request)
        if isinstance(given, Response):
            return given
        return answer([codec.encrypt(payload) for payload in given.payloads])

    return Starlette(
        routes=[Route("/decode", decode, methods=["POST"]), Route("/encode", encode, methods=["POST"])],
        middleware=[Middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["POST"],
                               allow_headers=["Content-Type", "X-Namespace", "Authorization"],
                               allow_credentials=True)],
    )
