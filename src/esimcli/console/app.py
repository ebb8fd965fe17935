"""The console's web application (Starlette, Jinja2 templates, served by uvicorn): its routes,
session middleware and life span. The pages live by concern in ``login``, ``pages`` and
``migration_pages``; what they share (session, CSRF, rendering, the login requirement) in ``web``.

Pages need a logged-in account; the migration controls need the operator role, and a viewer's
pages do not even show them.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

try:
    import jinja2  # noqa: F401  (starlette.templating checks for it only when a page renders)
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.requests import Request
    from starlette.responses import RedirectResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(f"the operator console needs {missing.name} from the [lab] extra: "
                              "pip install 'esimflow[lab]'", name=missing.name) from missing

from esimcli.console import migration_pages, pages
from esimcli.console.login import Login
from esimcli.console.web import HERE, SESSION_SECONDS, Console, ConsoleSettings

__all__ = ["ConsoleSettings", "create_app"]


async def _home(request: Request) -> Response:
    return RedirectResponse("/fleet", status_code=303)


def create_app(settings: ConsoleSettings) -> Starlette:
    console = Console(settings)
    login = Login()
    page = console.login_required

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await console.temporal.get()
        try:
            yield
        finally:
            console.sources.close()

    routes = [
        Route("/", _home),
        Route("/login", console.endpoint(login.login_page), methods=["GET"]),
        Route("/login", console.endpoint(login.login), methods=["POST"]),
        Route("/logout", console.endpoint(login.logout), methods=["POST"]),
        Route("/fleet", page(pages.fleet)),
        Route("/profiles/{iccid}", page(pages.profile_page)),
        Route("/profiles/{iccid}/detail", page(pages.profile_detail)),
        Route("/logs", page(pages.logs)),
        Route("/logs.csv", page(pages.logs_export)),
        Route("/devices", page(pages.devices)),
        Route("/devices/{eid}", page(pages.device_page)),
        Route("/migrations", page(migration_pages.migration_list)),
        Route("/migrations/{migration_id}", page(migration_pages.migration_page)),
        Route("/migrations/{migration_id}/status.json", page(migration_pages.migration_status)),
        Route("/migrations/{migration_id}/control", console.endpoint(migration_pages.migration_control),
              methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [Middleware(SessionMiddleware, secret_key=settings.session_secret, session_cookie="esimflow_console",
                             max_age=SESSION_SECONDS, same_site="strict", https_only=settings.secure_cookies)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
