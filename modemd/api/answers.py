"""The one way the API answers with an error (and a send with its code): JSON carrying
``response`` (the HTTP status as a string) and, for the contract's answers, ``status_code`` and
``status``."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from aiohttp import web

from modemd.api.contract import OtherAnswer, StatusCode, body, other_body
from modemd.api.validation import RequestError
from modemd.errors import InvalidTransitionError
from modemd.model import ApiKey

log = logging.getLogger(__name__)

KeyOf = Callable[[web.Request], Awaitable[ApiKey | web.Response]]
KeyedAction = Callable[[web.Request, ApiKey], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class JsonAnswer:
    """An answer not yet made into aiohttp's ``Response``: ``fastsend`` writes it as bytes
    (``response`` would write the same), aiohttp's framing takes ``response()``."""

    __slots__ = ("_head", "headers", "payload", "status")

    def __init__(
        self,
        payload: dict[str, Any],
        headers: dict[str, str] | None,
        head: tuple[str, dict[str, Any], str] | None = None,
    ) -> None:
        self.payload = payload
        self.status = int(payload["response"])
        self.headers = headers
        # (the JSON of the payload's first keys without its closing brace, the keys after
        # them, and the last key's JSON when its value was an ``EncodedList``, else "")
        self._head = head

    def response(self) -> web.Response:
        return web.json_response(self.payload, status=self.status, headers=self.headers)

    def text(self) -> str:
        """``json.dumps(payload)``, what ``response()`` writes; a contract answer's code and
        message are written once per process (the accept's message was 2 % of the loop)."""
        if self._head is None:
            return dumps(self.payload)
        head, rest, tail = self._head
        text = f"{head}, {dumps(rest)[1:-1]}" if rest else head
        return f"{text}, {tail}}}" if tail else text + "}"


class EncodedList(list[Any]):
    """A list with its JSON (``dumps``) written once, for a value many answers share: as the
    last key of a contract answer its text is not encoded again (the records of a pool's
    devices: 64 of them were twice the rest of an accept's work on the loop)."""

    __slots__ = ("json",)

    def __init__(self, items: list[Any]) -> None:
        super().__init__(items)
        self.json = dumps(items)


def json_answer(
    what: StatusCode | OtherAnswer | int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JsonAnswer:
    """A contract code (1-12), an answer outside the codes (413, 429, 503), or a plain HTTP
    status for the routes outside the send contract (admin, jobs, IPN, webhooks)."""
    if isinstance(what, StatusCode):
        payload = body(what, message=message, **extra)
        if HEAD_KEYS.isdisjoint(extra):  # (a key of the head given again would move nothing)
            tail = ""
            if extra:
                name, last = next(reversed(extra.items()))
                if isinstance(last, EncodedList):
                    del extra[name]  # (this call's own dict: the payload has it already)
                    tail = f"{dumps(name)}: {last.json}"
            return JsonAnswer(payload, headers, (head_text(what, message), extra, tail))
    elif isinstance(what, OtherAnswer):
        payload = {**other_body(what, message), **extra}
    else:
        payload = {"response": str(what), "message": message, **extra}
    return JsonAnswer(payload, headers)


def _made_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its defaults, as one encoder made once: ``json.dumps`` makes the
    same C encoder anew for every call (with a closure and three Python frames, about as
    much as encoding an accept's answer). Plain ``json.dumps`` where that C encoder is not
    built in. No check for circular values (an answer is a tree of plain values)."""
    if c_make_encoder is None:
        return json.dumps
    encoder = c_make_encoder(
        None,
        json.JSONEncoder().default,
        encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        True,
    )
    return lambda value: "".join(encoder(value, 0))


dumps = _made_encoder()
HEAD_KEYS = frozenset({"response", "status_code", "status", "message"})


@functools.lru_cache(maxsize=64)  # the accept's, and a few refusals' with a fixed message
def head_text(code: StatusCode, message: str) -> str:
    """The JSON of a contract answer's head (``body`` of ``code`` and ``message``), open."""
    return dumps(body(code, message=message))[:-1]


def answer(
    what: StatusCode | OtherAnswer | int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """``json_answer`` as aiohttp's ``Response``."""
    return json_answer(what, message, headers=headers, **extra).response()


def refused(exc: RequestError) -> web.Response:
    """A request refused with its contract code."""
    return answer(exc.code, exc.message)


def problem(status: int, message: str) -> web.Response:
    """An answer outside the codes: 404 (not yours or none), 409 (not in this state)."""
    return answer(status, message)


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
