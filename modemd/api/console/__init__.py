"""The operator console: server-rendered pages under ``/console/`` (Jinja2 templates and static
files shipped in the package; no build step, no CDN). A page's live part refreshes itself:
``console.js`` fetches it again with ``X-Console-Partial: 1`` and swaps it in place.

More pages (inbound, lists, campaigns) plug in with ``add_page``: a nav entry and a handler."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from modemd.api.console import auth, more, pages
from modemd.model import NO_PACING, Pacing
from modemd.store import wallet

if TYPE_CHECKING:  # imported with the first page shown: a daemon nobody opens never loads it
    import jinja2

__all__ = ["NAV", "add_page", "add_routes"]

HERE = Path(__file__).parent
PARTIAL_HEADER = "X-Console-Partial"
REFRESH_S = 5  # the live part of a page is fetched again this often
# Scripts, styles and images from the daemon only: no inline script can run, no page can frame us.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

NAV: list[tuple[str, str]] = [  # (title, path) in the menu, in order
    ("Overview", "/console/"),
    ("Jobs", "/console/jobs"),
    ("Keys", "/console/keys"),
    ("IPN", "/console/ipn"),
]


def _when(value: float | None) -> str:
    if value is None:
        return ""
    return datetime.fromtimestamp(value).astimezone().isoformat(timespec="seconds")


def _subject_link(subject: str) -> str:
    """Where an IPN event's subject is shown: a job's timeline, a received SMS, a campaign, a
    device (the overview)."""
    if subject.startswith("inbound:"):
        return f"/console/inbound?id={quote(subject.removeprefix('inbound:'))}"
    if subject.startswith("device:"):
        return "/console/"
    if subject.startswith("cmp_"):
        return "/console/campaigns"
    return f"/console/jobs/{quote(subject)}"


class Templates:
    """The console's Jinja2 environment, made at the first page asked for."""

    def __init__(self) -> None:
        self._env: jinja2.Environment | None = None

    def get_template(self, name: str) -> jinja2.Template:
        if self._env is None:
            self._env = environment()
        return self._env.get_template(name)


TEMPLATES: web.AppKey[Templates] = web.AppKey("console_templates", Templates)


def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = _when
    env.filters["money"] = wallet.format_amount
    env.filters["subject_link"] = _subject_link
    return env


def render(request: web.Request, name: str, *, status: int = 200, **context: Any) -> web.Response:
    """Render ``name``; with the partial header only its ``live`` block (the refresh)."""
    template = request.app[TEMPLATES].get_template(name)
    values = {
        "nav": NAV,
        "path": request.path,
        "refresh_s": REFRESH_S,
        "csrf": request[auth.SESSION].csrf if auth.SESSION in request else "",
        "now": time.time(),
        **context,
    }
    if request.headers.get(PARTIAL_HEADER) == "1" and "live" in template.blocks:
        text = "".join(template.blocks["live"](template.new_context(values)))
    else:
        text = template.render(values)
    return web.Response(
        text=text, status=status, content_type="text/html", headers=SECURITY_HEADERS
    )


def add_page(app: web.Application, title: str, path: str, handler: auth.Handler) -> None:
    """A signed-in page in the menu (a later feature's console page)."""
    if (title, path) not in NAV:
        NAV.append((title, path))
    app.router.add_get(path, auth.signed_in(handler))


def add_routes(app: web.Application, pacing: Callable[[str, str], Pacing] | None = None) -> None:
    """``/`` -> ``/console/``; the login, the pages, their forms and the static files."""
    app[TEMPLATES] = Templates()
    app[auth.SESSIONS] = auth.Sessions()

    async def to_console(request: web.Request) -> web.Response:
        return auth.redirect("/console/")

    app.router.add_get("/", to_console)
    app.router.add_get("/console", to_console)
    app.router.add_get("/console/login", auth.login_page(render))
    app.router.add_post("/console/login", auth.login(render))
    app.router.add_post("/console/logout", auth.logout)
    app.router.add_static("/console/static", HERE / "static", append_version=True)
    pages.add_routes(app, render, pacing or (lambda _device_id, _iccid: NO_PACING))
    for title, path, handler in more.pages(render):
        add_page(app, title, path, handler)
