"""The framing of ``fastsend``: which requests it answers (``plain_send``), where the first
of pipelined requests ends (``message_end``), and an answer's bytes (``serialise``)."""

from __future__ import annotations

import contextlib
import functools
import re
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, cast

import httptools
from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE

from modemd.api.answers import JsonAnswer
from modemd.api.send import MAX_BODY_BYTES

ROUTE = b"/api/v1/send"
MAX_HEAD_BYTES = 8190  # aiohttp's max_line_size: a longer head is aiohttp's to refuse
MAX_HEADERS = 64  # more go to aiohttp (its own limit is higher; none of ours need them)
# a chunked or compressed body, 100-continue, CORS, a protocol switch: aiohttp's to handle
_REFUSED = frozenset(
    {
        b"transfer-encoding",
        b"content-encoding",
        b"expect",
        b"origin",
        b"upgrade",
        b"sec-websocket-key1",
    }
)
# aiohttp's SINGLETON_HEADERS (RFC 9110): twice is a 400 from its parser
_SINGLETONS = frozenset(
    {
        b"content-length",
        b"content-location",
        b"content-range",
        b"content-type",
        b"etag",
        b"host",
        b"max-forwards",
        b"server",
        b"user-agent",
    }
)
_PRINTABLE = re.compile(rb"[\t\x20-\x7e]*")  # ASCII without control characters


class NotOurs(Exception):
    """The request is not a plain JSON send: aiohttp's protocol takes the connection."""


class Parsed:
    """What llhttp said of the message being read."""

    __slots__ = ("at", "body", "headers", "length", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.length = 0
        self.at = 0.0  # when it was complete (CLOCK_MONOTONIC), with a stall trace only


def plain_send(parser: Any, reading: Parsed) -> int:
    """The body's length of a request fastsend answers; raise ``NotOurs`` for any other.

    Besides the send's own terms, whatever aiohttp's parser refuses or reads otherwise stays
    aiohttp's: no ``Host``, a singleton header twice, a control character in a value, a head
    near its size limits, a compressed body, the old WebSocket handshake."""
    if (
        reading.url != ROUTE
        or parser.get_method() != b"POST"
        or parser.get_http_version() != "1.1"
        or not parser.should_keep_alive()
        or len(reading.headers) > MAX_HEADERS
    ):
        raise NotOurs
    seen: dict[bytes, bytes] = {}
    size = len(reading.url)
    named = []
    values = []
    for name, value in reading.headers:
        lower, kind = _NAMES.get(name) or _name(name)
        if kind is _SINGLETON:
            if lower in seen:
                raise NotOurs
            seen[lower] = value.rstrip(b" \t")
        elif kind is _REFUSE:
            raise NotOurs
        size += len(name) + len(value)
        named.append((lower, value))
        values.append(value)
    reading.headers = named  # the route asks by name in any case: SendHeaders
    length = seen.get(b"content-length", b"")
    if (
        size > MAX_HEAD_BYTES
        or b"host" not in seen
        or seen.get(b"content-type", b"").lower() != b"application/json"
        or not length.isdigit()
        or not _PRINTABLE.fullmatch(b"".join(values))  # (each value's, at once)
    ):
        raise NotOurs
    body = int(length)
    if not 0 < body <= MAX_BODY_BYTES:
        raise NotOurs
    return body


# Header names as sent, each with its lower-case form and what it is to ``plain_send`` (a
# client sends the same few names: one look-up each, not ``lower()`` and two set look-ups).
_REFUSE, _SINGLETON, _OTHER = "refuse", "singleton", "other"
_NAMES: dict[bytes, tuple[bytes, str]] = {}
MAX_NAMES_KEPT = 512


def _name(name: bytes) -> tuple[bytes, str]:
    """``name`` looked at once and kept (at most ``MAX_NAMES_KEPT`` names: a client inventing
    names empties the lot now and then, and grows nothing)."""
    lower = name.lower()
    kind = _REFUSE if lower in _REFUSED else _SINGLETON if lower in _SINGLETONS else _OTHER
    if len(_NAMES) >= MAX_NAMES_KEPT:
        _NAMES.clear()
    found = _NAMES[name] = (lower, kind)
    return found


def header_text(value: bytes) -> str:
    """A header's value as aiohttp's parser gives it (llhttp keeps the whitespace after it)."""
    return value.rstrip(b" \t").decode("ascii")


class SendHeaders:
    """A send's headers as the route reads them (``get``, ``getall``: a name in any case),
    from ``plain_send``'s pairs (lower-case names): a send has a few, read two or three
    times, where aiohttp's multidict of them took 4 % of the loop to build."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        self._pairs = pairs

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower().encode("ascii")
        for lower, value in self._pairs:
            if lower == wanted:
                return header_text(value)
        return default

    def getall(self, name: str, default: list[str]) -> list[str]:
        wanted = name.lower().encode("ascii")
        return [header_text(value) for lower, value in self._pairs if lower == wanted] or default


class _Counter:
    """llhttp's callbacks stopping at the first complete message (for ``message_end``)."""

    def __init__(self) -> None:
        self.complete = False

    def on_message_complete(self) -> None:
        self.complete = True
        raise NotOurs  # parse no further


def _completes(data: bytes | bytearray, size: int) -> bool:
    """Does llhttp complete a message within the first ``size`` bytes of ``data``?"""
    counter = _Counter()
    with contextlib.suppress(httptools.HttpParserError, httptools.HttpParserUpgrade):
        httptools.HttpRequestParser(counter).feed_data(bytes(data[:size]))
    return counter.complete


def message_end(data: bytes | bytearray) -> int:
    """Where the first request in ``data`` ends (it must be complete there): the shortest
    prefix llhttp completes it in, found by doubling then halving, so the cost is in
    proportion to that request's size, not to the bytes pipelined after it."""
    short, high = 0, 256  # a prefix known not to complete it, and one to try
    while high < len(data) and not _completes(data, high):
        short, high = high, high * 2
    low, high = short + 1, min(high, len(data))
    while low < high:
        middle = (low + high) // 2
        if _completes(data, middle):
            high = middle
        else:
            low = middle + 1
    return low


_date: tuple[int, bytes] = (0, b"")
_SERVER = b"\r\nServer: " + SERVER_SOFTWARE.encode() + b"\r\n\r\n"
_JSON = "application/json; charset=utf-8"  # what ``web.json_response`` sets
_PHRASES = {status.value: status.phrase for status in HTTPStatus}  # aiohttp's reasons
_JSON_HEAD = b"Content-Type: " + _JSON.encode() + b"\r\nContent-Length: "


def _date_header() -> bytes:
    """The ``Date`` value, formatted once a second (as aiohttp does)."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True).encode())
    return _date[1]


def serialise(response: web.Response | JsonAnswer) -> bytes:
    """``response`` as aiohttp writes it on a kept-alive HTTP/1.1 connection: its headers in
    their order, ``Content-Type`` last of them for a ``JsonAnswer`` (as ``json_response``
    sets it), then ``Content-Length``, ``Date`` and ``Server``."""
    if isinstance(response, JsonAnswer):
        body = response.text().encode()  # json_response's own text, as UTF-8
        extra, kind = response.headers, _JSON
        status, reason = response.status, _PHRASES[response.status]
    else:
        body = cast(bytes, response.body)
        extra = {k: v for k, v in response.headers.items() if k != "Content-Type"}
        kind = response.headers.get("Content-Type", "application/octet-stream")
        status, reason = response.status, response.reason
    if extra or kind != _JSON:
        given = "".join(f"{k}: {v}\r\n" for k, v in (extra or {}).items() if k != "Content-Length")
        head = f"{given}Content-Type: {kind}\r\nContent-Length: ".encode()
    else:  # an answer, as a rule
        head = _JSON_HEAD
    return b"".join(
        (
            _status_line(status, reason),
            head,
            str(len(body)).encode(),
            b"\r\nDate: ",
            _date_header(),
            _SERVER,
            body,
        )
    )


@functools.lru_cache(maxsize=64)
def _status_line(status: int, reason: str) -> bytes:
    return f"HTTP/1.1 {status} {reason}\r\n".encode()
