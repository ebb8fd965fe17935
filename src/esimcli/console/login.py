"""Logging in and out of the console: a name and password (or a token), throttled per account and
per client address, and a fresh session for whoever gets in."""
from __future__ import annotations

import secrets
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from esimcli.console.accounts import LoginThrottle
from esimcli.console.web import SESSION_SECONDS, Console

# an account's password is guessed slowly; one address (every user of a loopback console, or
# behind one proxy) gets more room before everyone there is refused
ATTEMPTS_PER_ACCOUNT = 5
ATTEMPTS_PER_CLIENT = 30


class Login:
    """The login endpoints of one console, with its throttles."""

    def __init__(self) -> None:
        self.per_account = LoginThrottle(attempts=ATTEMPTS_PER_ACCOUNT)
        self.per_client = LoginThrottle(attempts=ATTEMPTS_PER_CLIENT)

    async def login_page(self, console: Console, request: Request) -> Response:
        return console.page(request, "login.html", console.current(request),
                            next=safe_next(request.query_params.get("next")), error=None)

    async def login(self, console: Console, request: Request) -> Response:
        form = await console.checked_form(request)
        if isinstance(form, Response):
            return form
        token = form.get("token", "").strip()
        name = form.get("name", "").strip()
        client_key = request.client.host if request.client else "?"
        wait = max(self.per_account.blocked(name) if name else 0.0, self.per_client.blocked(client_key))
        if wait:
            return console.page(request, "login.html", None, status_code=429, next=safe_next(form.get("next")),
                                error=f"too many failed logins: try again in {int(wait) + 1} s")
        accounts = console.settings.accounts
        if token:
            account = accounts.token_login(token)
        else:
            account = await run_in_threadpool(accounts.login, name, form.get("password", ""))
        if account is None:
            self.per_client.failed(client_key)
            if name:
                self.per_account.failed(name)
            return console.page(request, "login.html", None, status_code=401, next=safe_next(form.get("next")),
                                error="wrong name, password or token")
        self.per_account.succeeded(name)
        request.session.clear()  # a fresh session (and CSRF token) for the logged-in user
        request.session.update(user=account.name, role=str(account.role), expires=time.time() + SESSION_SECONDS,
                               csrf=secrets.token_urlsafe(32))
        return RedirectResponse(safe_next(form.get("next")), status_code=303)

    @staticmethod
    async def logout(console: Console, request: Request) -> Response:
        form = await console.checked_form(request)
        if isinstance(form, Response):
            return form
        request.session.clear()
        return RedirectResponse("/login", status_code=303)


def safe_next(target: str | None) -> str:
    """Only a path of this console (never another site) after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/fleet"
    return target
