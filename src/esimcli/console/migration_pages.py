"""The console's migration pages: every migration, one migration with its devices, its live
status as JSON for the page's refresh, and the operator's controls (pause, resume, cancel,
concurrency), which need the operator role."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from esimflow.codec_server import mask_secrets
from esimflow.migration.model import NOT_STARTED, Outcome
from esimflow.migration.store import UnknownMigrationError
from sgp22.errors import BadInputError

from esimcli.console import migrations as migration_view
from esimcli.console.accounts import Account, Role
from esimcli.console.pages import now
from esimcli.console.web import SECURITY_HEADERS, Console


def _store(console: Console) -> Any:
    store = console.sources.migration_store()
    if store is None:
        raise BadInputError("no migration store: give --migrations (the migration worker's file)")
    return store


async def migration_list(console: Console, request: Request, user: Account) -> Response:
    store = console.sources.migration_store()
    client = await console.temporal.get()
    items = []
    for migration_id in (await run_in_threadpool(store.migration_ids) if store else []):
        items.append(await migration_view.live_status(client, store, migration_id))
    return console.page(request, "migrations.html", user, items=items)


async def migration_page(console: Console, request: Request, user: Account) -> Response:
    migration_id = request.path_params["migration_id"]
    store = _store(console)
    try:
        status = await migration_view.live_status(await console.temporal.get(), store, migration_id)
    except UnknownMigrationError as error:
        return console.page(request, "error.html", user, message=error.message, status_code=404)
    outcome = request.query_params.get("outcome", "")
    if outcome and outcome not in (*Outcome.ALL, NOT_STARTED):
        raise BadInputError(f"{outcome!r} is not an outcome ({', '.join((*Outcome.ALL, NOT_STARTED))})")
    rows = await run_in_threadpool(store.devices, migration_id, outcome or None)
    return console.page(request, "migration.html", user, status=status, chart=Markup(status["chart"]), devices=rows,
                        outcome=outcome, migration_id=migration_id, now=now())


async def migration_status(console: Console, request: Request, user: Account) -> Response:
    try:
        body = await migration_view.live_status(await console.temporal.get(), _store(console),
                                                request.path_params["migration_id"])
    except UnknownMigrationError as error:
        return JSONResponse({"error": error.message}, status_code=404, headers=SECURITY_HEADERS)
    return JSONResponse(mask_secrets(body), headers=SECURITY_HEADERS)


async def migration_control(console: Console, request: Request) -> Response:
    user = console.current(request)
    if user is None:
        return PlainTextResponse("refused: log in first", status_code=401)
    form = await console.checked_form(request)
    if isinstance(form, Response):
        return form
    if user.role != Role.OPERATOR:
        return PlainTextResponse("refused: steering a migration needs the operator role", status_code=403)
    migration_id = request.path_params["migration_id"]
    try:
        accepted, message = await migration_view.control(await console.temporal.get(), migration_id,
                                                         form.get("action", ""), form.get("concurrency"))
    except BadInputError as error:
        accepted, message = False, error.message
    request.session["flash"] = {"ok": accepted, "text": message}
    return RedirectResponse(f"/migrations/{quote(migration_id)}", status_code=303)
