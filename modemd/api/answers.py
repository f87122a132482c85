"""JSON answers shared by the campaign and schedule routes."""

from __future__ import annotations

from aiohttp import web

from modemd.api.contract import body
from modemd.api.validation import RequestError


def refused(exc: RequestError) -> web.Response:
    """A request refused with its GenioApi code (``response``, ``status_code``, ``status``)."""
    payload = body(exc.code, message=exc.message)
    return web.json_response(payload, status=int(payload["response"]))


def problem(status: int, message: str) -> web.Response:
    """An answer outside the codes: 404 (not yours or none), 409 (not in this state)."""
    return web.json_response({"response": str(status), "message": message}, status=status)
