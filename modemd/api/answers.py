"""JSON answers shared by the campaign and schedule routes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from modemd.api.contract import body
from modemd.api.validation import RequestError
from modemd.errors import InvalidTransitionError
from modemd.model import ApiKey

log = logging.getLogger(__name__)

KeyOf = Callable[[web.Request], Awaitable[ApiKey | web.Response]]
KeyedAction = Callable[[web.Request, ApiKey], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refused(exc: RequestError) -> web.Response:
    """A request refused with its GenioApi code (``response``, ``status_code``, ``status``)."""
    payload = body(exc.code, message=exc.message)
    return web.json_response(payload, status=int(payload["response"]))


def problem(status: int, message: str) -> web.Response:
    """An answer outside the codes: 404 (not yours or none), 409 (not in this state)."""
    return web.json_response({"response": str(status), "message": message}, status=status)


def keyed(key_of: KeyOf) -> Callable[[KeyedAction], Handler]:
    """Handlers that run for a valid key (passed on); a ``LookupError`` answers 404 (no such
    thing for this key), an ``InvalidTransitionError`` 409 (not in a state that allows it)."""

    def wrap(action: KeyedAction) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            key = await key_of(request)
            if isinstance(key, web.Response):
                return key
            try:
                return await action(request, key)
            except LookupError as exc:
                return problem(404, str(exc).strip("'\""))
            except InvalidTransitionError as exc:
                log.info("%s refused: %s", request.path, exc)
                return problem(409, str(exc))

        return handler

    return wrap
