"""The one way the API answers with an error (and a send with its code): JSON carrying
``response`` (the HTTP status as a string) and, for the contract's answers, ``status_code`` and
``status``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from modemd.api.contract import OtherAnswer, StatusCode, body, other_body


def answer(
    what: StatusCode | OtherAnswer | int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """A contract code (1-12), an answer outside the codes (413, 429, 503), or a plain HTTP
    status for the routes outside the send contract (admin, jobs, IPN, webhooks)."""
    if isinstance(what, StatusCode):
        payload = body(what, message=message, **extra)
    elif isinstance(what, OtherAnswer):
        payload = {**other_body(what, message), **extra}
    else:
        payload = {"response": str(what), "message": message, **extra}
    return web.json_response(payload, status=int(payload["response"]), headers=headers)
