"""What every console page shares: the signed-cookie session (who is logged in, the CSRF token),
the checked POST form, rendering a template with the common context and security headers, and
the login requirement around a page handler. One place, so every page is held to the same rules.

Sessions are signed cookies (Starlette's SessionMiddleware): Secure, HttpOnly, SameSite=Strict,
eight hours. Every form carries the session's CSRF token and every POST is refused without it
(and when the browser names another origin).
"""
from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from temporalio.client import Client

from esimflow.config import TemporalConfig
from esimflow.machines.profile_status import Status
from esimflow.migration.model import Outcome
from sgp22.errors import BadInputError, EsimError
from sgp22.masking import mask_secrets_in

from esimcli.connection import connect_config, owned_runtime
from esimcli.console import migrations as migration_view
from esimcli.console.accounts import Account, AccountBook, Role
from esimcli.console.sources import Sources
from esimcli.failures import CliFailure

HERE = Path(__file__).parent
SESSION_SECONDS = 8 * 3600
TEMPORAL_RETRY_SECONDS = 10.0
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

Handler = Callable[["Console", Request, Account], Awaitable[Response]]


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


def _masked(value: Any) -> Any:
    """Every value a page shows, with what may be a secret masked (a matching ID typed as a
    nickname, a reason, a search term): markup the console made itself (the CSRF token, charts)
    is shown as it is."""
    return mask_secrets_in(value) if isinstance(value, str) and not isinstance(value, Markup) else value


class Console:
    """One running console: its settings, templates, Temporal link and data sources."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.sources = settings.sources
        self.temporal = TemporalLink(settings.temporal)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(workflow_url=self.workflow_url, statuses=list(Status),
                                          outcomes=Outcome.ALL, actions=migration_view.ACTIONS)
        self.templates.env.filters["utc"] = lambda at: at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"
        self.templates.env.finalize = _masked

    def workflow_url(self, workflow_id: str | None) -> str | None:
        temporal, ui = self.settings.temporal, self.settings.temporal_ui
        if not workflow_id or not ui or temporal is None:
            return None
        return f"{ui.rstrip('/')}/namespaces/{quote(temporal.namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"

    @staticmethod
    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return str(token)

    @staticmethod
    def current(request: Request) -> Account | None:
        user = request.session.get("user")
        if not user or request.session.get("expires", 0) < time.time():
            return None
        return Account(user, Role(request.session["role"]), "")

    @staticmethod
    async def checked_form(request: Request) -> dict[str, Any] | Response:
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

    def page(self, request: Request, name: str, user: Account | None, status_code: int = 200,
             **context: Any) -> Response:
        flash = request.session.pop("flash", None)
        context.update(request=request, user=user, csrf=Markup(self.csrf_token(request)), flash=flash,
                       missing=self.sources.missing(), temporal_problem=self.temporal.problem,
                       is_operator=user is not None and user.role == Role.OPERATOR)
        return self.templates.TemplateResponse(request, name, context, status_code=status_code,
                                               headers=SECURITY_HEADERS)

    def login_required(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """The Starlette endpoint for ``handler``: logged-in users only (an API path answers 401,
        a page redirects to the login), the taxonomy's errors as an error page."""
        async def endpoint(request: Request) -> Response:
            user = self.current(request)
            if user is None:
                if request.url.path.endswith((".json", ".csv")) or request.url.path.endswith("/detail"):
                    return PlainTextResponse("log in first", status_code=401)
                return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)
            try:
                return await handler(self, request, user)
            except BadInputError as error:
                return self.page(request, "error.html", user, message=error.message, status_code=400)
            except EsimError as error:
                return self.page(request, "error.html", user, message=error.message, status_code=503)
        return endpoint

    def endpoint(self, handler: Callable[[Console, Request], Awaitable[Response]]
                 ) -> Callable[[Request], Awaitable[Response]]:
        """The Starlette endpoint for a handler that decides about the login itself."""
        async def endpoint(request: Request) -> Response:
            return await handler(self, request)
        return endpoint
