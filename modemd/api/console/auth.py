"""Console sign-in: the admin token or the console password (``modemd console passwd``) buys an
in-memory session behind an HttpOnly, SameSite=Strict cookie; every form carries the session's
CSRF token (the login form a cookie-bound one). Never an address or a header grants access.
Wrong tokens count against the caller's address in the API's failed-auth limiter (one budget
for guessing keys and guessing the console's token); each sign-in is in the audit log."""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from modemd.api.auth import CONFIG, STORE, caller_ip
from modemd.store import audit
from modemd.store import console as console_rows

__all__ = [
    "Session",
    "Sessions",
    "current",
    "login",
    "login_page",
    "logout",
    "redirect",
    "signed_in",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "modemd_console"
LOGIN_COOKIE = "modemd_console_login"  # binds the login form's CSRF token to this browser
SESSION_TTL_S = 12 * 3600  # a working day; then sign in again
MAX_SESSIONS = 1000  # oldest dropped beyond this: a flood of logins cannot grow memory
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Render = Callable[..., web.Response]


@dataclass
class Session:
    csrf: str
    expires: float


@dataclass
class Sessions:
    """Live sessions by cookie value (lost at restart: sign in again)."""

    by_token: dict[str, Session] = field(default_factory=dict)

    def new(self) -> tuple[str, Session]:
        now = time.time()
        self.by_token = {t: s for t, s in self.by_token.items() if s.expires > now}
        while len(self.by_token) >= MAX_SESSIONS:
            self.by_token.pop(next(iter(self.by_token)))
        token = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(24), now + SESSION_TTL_S)
        self.by_token[token] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        session = self.by_token.get(token or "")
        if session is None or session.expires <= time.time():
            return None
        return session

    def drop(self, token: str | None) -> None:
        self.by_token.pop(token or "", None)


SESSIONS: web.AppKey[Sessions] = web.AppKey("console_sessions", Sessions)
SESSION: web.RequestKey[Session] = web.RequestKey("console_session", Session)


def _cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        max_age=SESSION_TTL_S,
    )


def redirect(location: str) -> web.Response:
    """303 See Other: after a form, the browser GETs ``location``."""
    return web.Response(status=303, headers={"Location": location})


def current(request: web.Request) -> Session:
    return request[SESSION]


def signed_in(handler: Handler) -> Handler:
    """Only with a live session; a POST also needs the session's CSRF token."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        session = request.app[SESSIONS].get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            if request.method == "GET":
                return redirect("/console/login")
            return web.Response(status=403, text="sign in first")
        if request.method == "POST":
            form = await request.post()
            if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
                log.warning("console %s from %s: bad CSRF token", request.path, caller_ip(request))
                return web.Response(status=403, text="stale or forged form; reload the page")
        request[SESSION] = session
        return await handler(request)

    return guarded


def login_page(render: Render) -> Handler:
    async def page(request: web.Request) -> web.StreamResponse:
        csrf = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = render(request, "login.html", login_csrf=csrf, error=None)
        _cookie(response, request, LOGIN_COOKIE, csrf)
        return response

    return page


async def _accepts(request: web.Request, given: str) -> str | None:
    """Who ``given`` signs in as (the audit log's actor), or None."""
    token = request.app[CONFIG].admin_token
    if token and hmac.compare_digest(given.encode(), token.encode()):
        return "admin token"
    if await request.app[STORE].read(console_rows.check_password, given):
        return "console password"
    return None


def login(render: Render) -> Handler:
    async def submit(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(str(form.get("csrf", "")), expected):
            return web.Response(status=403, text="stale login form; reload the page")
        address = caller_ip(request)
        limiter = request.app[CONFIG].failed_auth
        wait = limiter.wait_s(address)
        if wait > 0:  # checked before the token: a guess while throttled is not even tried
            log.warning("console sign-in from %s throttled (%.0f s)", address, wait)
            response = render(
                request,
                "login.html",
                status=429,
                login_csrf=expected,
                error=f"too many wrong tokens from your address; try again in {math.ceil(wait)} s",
            )
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        given = str(form.get("token", ""))
        actor = await _accepts(request, given) if given else None
        if actor is None:
            limiter.failed(address)
            log.warning("console sign-in from %s refused", address)
            return render(
                request, "login.html", status=401, login_csrf=expected, error="not accepted"
            )
        await request.app[STORE].write(
            audit.record, actor, "console.login", "console", f"from {address}"
        )
        token, _ = request.app[SESSIONS].new()
        log.info("console: signed in from %s with the %s", address, actor)
        response = redirect("/console/")
        _cookie(response, request, SESSION_COOKIE, token)
        response.del_cookie(LOGIN_COOKIE, path="/console")
        return response

    return submit


@signed_in
async def logout(request: web.Request) -> web.StreamResponse:
    request.app[SESSIONS].drop(request.cookies.get(SESSION_COOKIE))
    response = redirect("/console/login")
    response.del_cookie(SESSION_COOKIE, path="/console")
    return response
