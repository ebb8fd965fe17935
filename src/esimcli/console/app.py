"""The console's web application (Starlette, Jinja2 templates, served by uvicorn).

Sessions are signed cookies (Starlette's SessionMiddleware): Secure, HttpOnly, SameSite=Strict,
eight hours. Every form carries the session's CSRF token and every POST is refused without it
(and when the browser names another origin). Pages need a logged-in account; the migration
controls need the operator role, and a viewer's pages do not even show them.
"""
from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

try:
    import jinja2  # noqa: F401  (starlette.templating checks for it only when a page renders)
    from markupsafe import Markup
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
    from starlette.templating import Jinja2Templates
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(f"the operator console needs {missing.name} from the [lab] extra: "
                              "pip install 'esimflow[lab]'", name=missing.name) from missing
from temporalio.client import Client

from esimflow.codec_server import mask_secrets
from esimflow.config import TemporalConfig
from esimflow.machines.profile_status import Status
from esimflow.migration.model import NOT_STARTED, Outcome
from esimflow.migration.store import UnknownMigrationError
from sgp22.errors import BadInputError, EsimError
from sgp22.masking import mask_secrets_in

from esimcli.connection import connect_config, owned_runtime
from esimcli.console import migrations as migration_view
from esimcli.console.accounts import Account, AccountBook, LoginThrottle, Role
from esimcli.console.charts import status_diagram
from esimcli.console.sources import SORT_KEYS, FleetQuery, LogQuery, Sources, logs_csv
from esimcli.failures import CliFailure

HERE = Path(__file__).parent
SESSION_SECONDS = 8 * 3600
TEMPORAL_RETRY_SECONDS = 10.0
LOG_EXPORT_LIMIT = 100_000
_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@dataclass
class ConsoleSettings:
    sources: Sources
    accounts: AccountBook
    temporal: TemporalConfig | None
    session_secret: str
    temporal_ui: str | None = None
    secure_cookies: bool = True


class TemporalLink:
    """One Temporal client for the console's life, connected lazily and again after a failure."""

    def __init__(self, config: TemporalConfig | None) -> None:
        self.config = config
        self.client: Client | None = None
        self.problem: str | None = None if config else "no Temporal configured"
        self._tried_at = 0.0
        self._lock = asyncio.Lock()
        self._runtime = None

    async def get(self) -> Client | None:
        if self.client is not None or self.config is None:
            return self.client
        async with self._lock:
            if self.client is None and time.monotonic() - self._tried_at > TEMPORAL_RETRY_SECONDS:
                self._tried_at = time.monotonic()
                self._runtime = self._runtime or owned_runtime()
                try:
                    self.client = await connect_config(self.config, self._runtime)
                    self.problem = None
                except CliFailure as failure:
                    self.problem = failure.message
        return self.client


def _now() -> datetime:
    return datetime.now(UTC)


def _masked(value):
    """Every value a page shows, with what may be a secret masked (a matching ID typed as a
    nickname, a reason, a search term): markup the console made itself (the CSRF token, charts)
    is shown as it is."""
    return mask_secrets_in(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def create_app(settings: ConsoleSettings) -> Starlette:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    temporal = TemporalLink(settings.temporal)
    sources = settings.sources
    # an account's password is guessed slowly; one address (every user of a loopback console,
    # or behind one proxy) gets more room before everyone there is refused
    per_account = LoginThrottle(attempts=5)
    per_client = LoginThrottle(attempts=30)

    def workflow_url(workflow_id: str | None) -> str | None:
        if not workflow_id or not settings.temporal_ui or settings.temporal is None:
            return None
        return (f"{settings.temporal_ui.rstrip('/')}/namespaces/{quote(settings.temporal.namespace, safe='')}"
                f"/workflows/{quote(workflow_id, safe='')}")

    templates.env.globals.update(workflow_url=workflow_url, statuses=list(Status), outcomes=Outcome.ALL,
                                 actions=migration_view.ACTIONS)
    templates.env.filters["utc"] = lambda at: at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"
    templates.env.finalize = _masked

    # --- sessions, roles, CSRF

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    def current(request: Request) -> Account | None:
        user = request.session.get("user")
        if not user or request.session.get("expires", 0) < time.time():
            return None
        return Account(user, Role(request.session["role"]), "")

    async def checked_form(request: Request) -> dict | Response:
        """The POSTed form if its CSRF token is the session's and it came from this origin."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            return PlainTextResponse("refused: the request came from another origin", status_code=403)
        form = await request.form()
        expected = request.session.get("csrf")
        given = form.get("csrf")
        if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
            return PlainTextResponse("refused: missing or wrong CSRF token (reload the page)", status_code=403)
        return dict(form)

    def page(request: Request, name: str, user: Account | None, status_code: int = 200, **context) -> Response:
        flash = request.session.pop("flash", None)
        context.update(request=request, user=user, csrf=Markup(csrf_token(request)), flash=flash,
                       missing=sources.missing(), temporal_problem=temporal.problem,
                       is_operator=user is not None and user.role == Role.OPERATOR)
        return templates.TemplateResponse(request, name, context, status_code=status_code, headers=_SECURITY_HEADERS)

    def login_required(handler):
        async def wrapped(request: Request) -> Response:
            user = current(request)
            if user is None:
                if request.url.path.endswith((".json", ".csv")) or request.url.path.endswith("/detail"):
                    return PlainTextResponse("log in first", status_code=401)
                return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)
            try:
                return await handler(request, user)
            except BadInputError as error:
                return page(request, "error.html", user, message=error.message, status_code=400)
            except EsimError as error:
                return page(request, "error.html", user, message=error.message, status_code=503)
        return wrapped

    # --- login

    async def login_page(request: Request) -> Response:
        return page(request, "login.html", current(request), next=_safe_next(request.query_params.get("next")),
                    error=None)

    async def login(request: Request) -> Response:
        form = await checked_form(request)
        if isinstance(form, Response):
            return form
        token = form.get("token", "").strip()
        name = form.get("name", "").strip()
        client_key = request.client.host if request.client else "?"
        wait = max(per_account.blocked(name) if name else 0.0, per_client.blocked(client_key))
        if wait:
            return page(request, "login.html", None, status_code=429, next=_safe_next(form.get("next")),
                        error=f"too many failed logins: try again in {int(wait) + 1} s")
        if token:
            account = settings.accounts.token_login(token)
        else:
            account = await run_in_threadpool(settings.accounts.login, name, form.get("password", ""))
        if account is None:
            per_client.failed(client_key)
            if name:
                per_account.failed(name)
            return page(request, "login.html", None, status_code=401, next=_safe_next(form.get("next")),
                        error="wrong name, password or token")
        per_account.succeeded(name)
        request.session.clear()  # a fresh session (and CSRF token) for the logged-in user
        request.session.update(user=account.name, role=str(account.role), expires=time.time() + SESSION_SECONDS,
                               csrf=secrets.token_urlsafe(32))
        return RedirectResponse(_safe_next(form.get("next")), status_code=303)

    async def logout(request: Request) -> Response:
        form = await checked_form(request)
        if isinstance(form, Response):
            return form
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # --- pages

    async def home(request: Request) -> Response:
        return RedirectResponse("/fleet", status_code=303)

    @login_required
    async def fleet(request: Request, user: Account) -> Response:
        q = request.query_params
        query = FleetQuery(iccid=q.get("iccid", ""), eid=q.get("eid", ""), status=q.get("status", "").upper(),
                           operator=q.get("operator", ""), smdp=q.get("smdp", ""), sort=q.get("sort", "iccid"),
                           descending=q.get("order") == "desc", page=_int(q.get("page"), 1),
                           per_page=_int(q.get("per_page"), 50))
        rows, total = await run_in_threadpool(sources.fleet, query)
        pages = max(1, -(-total // query.per_page))
        base = {k: v for k, v in q.items() if k not in ("page", "sort", "order")}

        def link(**changes) -> str:
            return "/fleet?" + urlencode({**base, "sort": query.sort, "order": "desc" if query.descending else "asc",
                                          "page": query.page, **changes})

        return page(request, "fleet.html", user, rows=rows, total=total, query=query, pages=pages, link=link,
                    sort_keys=SORT_KEYS)

    async def _detail_context(iccid: str) -> dict:
        records = await run_in_threadpool(sources.profile_records, iccid)
        row = await run_in_threadpool(sources.current, iccid)
        status = row.status if row else (records[-1].to_status if records else None)
        return dict(iccid=iccid, records=records, row=row, status=status, diagram=Markup(status_diagram(status)))

    @login_required
    async def profile_detail(request: Request, user: Account) -> Response:
        return page(request, "detail.html", user, **await _detail_context(_iccid(request)))

    @login_required
    async def profile_page(request: Request, user: Account) -> Response:
        return page(request, "profile.html", user, **await _detail_context(_iccid(request)))

    def _log_query(request: Request) -> tuple[LogQuery, dict]:
        q = request.query_params
        form = {name: q.get(name, "") for name in ("since", "until", "status", "operation")}
        form["errors"] = q.get("errors", "")
        status = form["status"].upper()
        if status and status not in set(Status):
            raise BadInputError(f"{form['status']!r} is not a profile status")
        query = LogQuery(since=_datetime(form["since"], "from"), until=_datetime(form["until"], "to"), status=status,
                         operation=form["operation"], errors_only=bool(form["errors"]), page=_int(q.get("page"), 1),
                         per_page=min(_int(q.get("per_page"), 100), 1000))
        return query, form

    @login_required
    async def logs(request: Request, user: Account) -> Response:
        query, form = _log_query(request)
        records = await run_in_threadpool(sources.logs, query)
        operations = await run_in_threadpool(sources.operations)
        filters = {k: v for k, v in form.items() if v}
        return page(request, "logs.html", user, records=records, form=form, query=query, operations=operations,
                    csv_link="/logs.csv?" + urlencode(filters),
                    next_link="/logs?" + urlencode({**filters, "page": query.page + 1}),
                    previous_link="/logs?" + urlencode({**filters, "page": query.page - 1}))

    @login_required
    async def logs_export(request: Request, user: Account) -> Response:
        query, _ = _log_query(request)
        records = await run_in_threadpool(sources.all_logs, query, LOG_EXPORT_LIMIT)
        return Response(mask_secrets_in(logs_csv(records)), media_type="text/csv", headers={
            **_SECURITY_HEADERS,
            "content-disposition": f'attachment; filename="profile-logs-{_now():%Y%m%dT%H%M%SZ}.csv"'})

    @login_required
    async def devices(request: Request, user: Account) -> Response:
        rows = await run_in_threadpool(sources.devices)
        return page(request, "devices.html", user, rows=rows)

    @login_required
    async def device_page(request: Request, user: Account) -> Response:
        eid = request.path_params["eid"]
        if not eid.isdigit() or len(eid) != 32:
            raise BadInputError("an EID is 32 digits")
        device, profiles, records, migrations = await run_in_threadpool(sources.device, eid)
        return page(request, "device.html", user, eid=eid, device=device, profiles=profiles, records=records,
                    migrations=migrations)

    def _store():
        store = sources.migration_store()
        if store is None:
            raise BadInputError("no migration store: give --migrations (the migration worker's file)")
        return store

    @login_required
    async def migration_list(request: Request, user: Account) -> Response:
        store = sources.migration_store()
        client = await temporal.get()
        items = []
        for migration_id in (await run_in_threadpool(store.migration_ids) if store else []):
            items.append(await migration_view.live_status(client, store, migration_id))
        return page(request, "migrations.html", user, items=items)

    @login_required
    async def migration_page(request: Request, user: Account) -> Response:
        migration_id = request.path_params["migration_id"]
        store = _store()
        try:
            status = await migration_view.live_status(await temporal.get(), store, migration_id)
        except UnknownMigrationError as error:
            return page(request, "error.html", user, message=error.message, status_code=404)
        outcome = request.query_params.get("outcome", "")
        if outcome and outcome not in (*Outcome.ALL, NOT_STARTED):
            raise BadInputError(f"{outcome!r} is not an outcome ({', '.join((*Outcome.ALL, NOT_STARTED))})")
        rows = await run_in_threadpool(store.devices, migration_id, outcome or None)
        return page(request, "migration.html", user, status=status, chart=Markup(status["chart"]), devices=rows,
                    outcome=outcome, migration_id=migration_id, now=_now())

    @login_required
    async def migration_status(request: Request, user: Account) -> Response:
        try:
            body = await migration_view.live_status(await temporal.get(), _store(),
                                                    request.path_params["migration_id"])
        except UnknownMigrationError as error:
            return JSONResponse({"error": error.message}, status_code=404, headers=_SECURITY_HEADERS)
        return JSONResponse(mask_secrets(body), headers=_SECURITY_HEADERS)

    async def migration_control(request: Request) -> Response:
        user = current(request)
        if user is None:
            return PlainTextResponse("refused: log in first", status_code=401)
        form = await checked_form(request)
        if isinstance(form, Response):
            return form
        if user.role != Role.OPERATOR:
            return PlainTextResponse("refused: steering a migration needs the operator role", status_code=403)
        migration_id = request.path_params["migration_id"]
        try:
            accepted, message = await migration_view.control(await temporal.get(), migration_id,
                                                             form.get("action", ""), form.get("concurrency"))
        except BadInputError as error:
            accepted, message = False, error.message
        request.session["flash"] = {"ok": accepted, "text": message}
        return RedirectResponse(f"/migrations/{quote(migration_id)}", status_code=303)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        await temporal.get()
        try:
            yield
        finally:
            sources.close()

    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/fleet", fleet),
        Route("/profiles/{iccid}", profile_page),
        Route("/profiles/{iccid}/detail", profile_detail),
        Route("/logs", logs),
        Route("/logs.csv", logs_export),
        Route("/devices", devices),
        Route("/devices/{eid}", device_page),
        Route("/migrations", migration_list),
        Route("/migrations/{migration_id}", migration_page),
        Route("/migrations/{migration_id}/status.json", migration_status),
        Route("/migrations/{migration_id}/control", migration_control, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [Middleware(SessionMiddleware, secret_key=settings.session_secret, session_cookie="esimflow_console",
                             max_age=SESSION_SECONDS, same_site="strict", https_only=settings.secure_cookies)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def _safe_next(target: str | None) -> str:
    """Only a path of this console (never another site) after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/fleet"
    return target


def _iccid(request: Request) -> str:
    iccid = request.path_params["iccid"]
    if not iccid.isdigit() or not 18 <= len(iccid) <= 20:
        raise BadInputError("an ICCID is 18 to 20 digits")
    return iccid


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        raise BadInputError(f"{text!r} is not a number") from None


def _datetime(text: str, name: str) -> datetime | None:
    """A ``datetime-local`` field's value, read as UTC (the page shows UTC times)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise BadInputError(f"the {name} time {text!r} is not a date and time") from None
