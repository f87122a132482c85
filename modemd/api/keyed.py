"""Shared plumbing of the key-scoped conversation routes (lists, opt-outs, rules, surveys):
the key's pool, JSON bodies, numbers, and errors mapped to ``{"response", "message"}``."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from modemd.api.auth import caller_ip
from modemd.api.validation import RequestError, normalise_number
from modemd.model import ApiKey
from modemd.runtime.alarm import Alarm
from modemd.runtime.bank import Bank
from modemd.store.contacts import ConflictError, NotFoundError

log = logging.getLogger(__name__)

Authenticate = Callable[[web.Request], Awaitable[ApiKey | web.Response]]
KeyedHandler = Callable[[web.Request, ApiKey], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BANK: web.AppKey[Bank] = web.AppKey("conversations_bank", Bank)  # surveys queue first questions
# Rung once survey sessions start: the conversations loop then sleeps until their time-out.
SURVEY_ALARM: web.AppKey[Alarm] = web.AppKey("survey_alarm", Alarm)
MAX_UPLOAD_BYTES = 8 * 1024 * 1024  # a CSV of 100,000 members with a few fields


def problem(status: int, message: str) -> web.Response:
    return web.json_response({"response": str(status), "message": message}, status=status)


def keyed(authenticate: Authenticate, handler: KeyedHandler) -> Handler:
    """Run ``handler`` for a request with a valid key; lookup and input errors answer JSON."""

    async def checked(request: web.Request) -> web.StreamResponse:
        key = await authenticate(request)
        if isinstance(key, web.Response):
            return key
        try:
            return await handler(request, key)
        except NotFoundError as exc:
            return problem(404, str(exc))
        except ConflictError as exc:
            return problem(409, str(exc))
        except (ValueError, RequestError) as exc:
            text = exc.message if isinstance(exc, RequestError) else str(exc)
            log.info("%s %s from %s: %s", request.method, request.path, caller_ip(request), text)
            return problem(400, text)

    return checked


def add_keyed_routes(
    app: web.Application, authenticate: Authenticate, routes: list[tuple[str, str, KeyedHandler]]
) -> None:
    """Register ``(method, path, handler)`` routes, each behind ``keyed``."""
    for method, path, handler in routes:
        app.router.add_route(method, path, keyed(authenticate, handler))


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (``ValueError`` otherwise)."""
    try:
        data = json.loads((await request.read()).decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError("the body must be a JSON object") from exc
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


async def upload(request: web.Request) -> bytes:
    """The raw body, up to ``MAX_UPLOAD_BYTES`` (larger than the API's usual 64 KiB)."""
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > MAX_UPLOAD_BYTES:
            raise ValueError(f"the file is over {MAX_UPLOAD_BYTES} bytes")
    return bytes(data)


def number_of(key: ApiKey, raw: Any) -> str:
    """A number as E.164 (the key's default country for national ones); short codes refused."""
    if not isinstance(raw, str | int) or isinstance(raw, bool) or not str(raw).strip():
        raise ValueError("'number' must be a phone number")
    number, _ = normalise_number(str(raw).strip(), key.default_country)
    if not number.startswith("+"):
        raise ValueError(f"{raw!s:.32}: give the number with its country code (+...)")
    return number


def csv_number(key: ApiKey) -> Callable[[str], str]:
    """``number_of`` for the cells of a CSV file (``ValueError`` for one that is no number)."""

    def normalise(cell: str) -> str:
        try:
            return number_of(key, cell)
        except RequestError as exc:
            raise ValueError(exc.message) from exc

    return normalise


def text_field(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"'{name}' must be a non-empty string")
    return value


def page_args(request: web.Request) -> tuple[str | None, int]:
    """``cursor`` and ``limit`` (1-1000, default 100) from the query string."""
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError as exc:
        raise ValueError("limit must be a number") from exc
    if not 1 <= limit <= 1000:
        raise ValueError("limit must be 1 to 1000")
    return request.query.get("cursor") or None, limit


def wants_csv(request: web.Request) -> bool:
    return request.query.get("format") == "csv" or "text/csv" in request.headers.get("Accept", "")
