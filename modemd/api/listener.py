"""A small IPN receiver for development and tests: prints (or collects) every POST it gets.

``modemd ipn-listen`` runs it, so a developer can watch IPNs arrive without writing a server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from modemd.api.app import start_site

Received = Callable[[dict[str, Any], dict[str, str]], int | None]  # (body, headers) -> status


def create_listener(on_event: Received, *, status: int = 200) -> web.Application:
    """An app answering every POST on any path with what ``on_event`` returns (or ``status``)."""

    async def receive(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = {"raw": raw.decode("utf-8", "replace")}
        answer = on_event(payload, dict(request.headers))
        return web.Response(status=answer or status, text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    return app


async def start_listener(
    on_event: Received, host: str = "127.0.0.1", port: int = 0, *, status: int = 200
) -> tuple[web.AppRunner, int]:
    """Start a listener; return its runner (for cleanup) and the bound port."""
    return await start_site(create_listener(on_event, status=status), host, port)
