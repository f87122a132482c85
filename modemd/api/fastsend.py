"""``POST /api/v1/send`` framed without aiohttp's per-request machinery (issue 21).

A connection's bytes are parsed with llhttp (httptools, the binding uvicorn uses). A request
that is a plain JSON send (HTTP/1.1 kept alive, ``Content-Type: application/json``, a
``Content-Length`` within ``MAX_BODY_BYTES``, ASCII headers, none of ``Transfer-Encoding``,
``Expect``, ``Origin`` or ``Upgrade``) is answered here, through the same ``accept_send`` and
``failure_answer`` as aiohttp's route. Any other request (another route or method, a form,
chunked, ``Expect: 100-continue``, a CORS call, HTTP/1.0, ``Connection: close``, a head
over ``MAX_HEAD_BYTES``, anything llhttp refuses) makes aiohttp's own protocol take the
connection for good, from that request's first byte: its answers, limits and errors stay
aiohttp's. Pipelined sends are answered in order, one at a time; an idle connection is
closed after the keep-alive timeout as aiohttp's are. ``GuardedProtocol`` (guard.py) wraps
this one, so the header and body deadlines and the connection cap are unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Coroutine
from typing import Any, cast

import httptools
from aiohttp import web

from modemd.api.answers import JsonAnswer
from modemd.api.failures import failure_answer
from modemd.api.fastframe import (
    MAX_HEAD_BYTES,
    ROUTE,
    NotOurs,
    Parsed,
    SendHeaders,
    message_end,
    plain_send,
    serialise,
)
from modemd.api.send import QUEUED_AT, accept_send
from modemd.api.validation import json_body
from modemd.observe import trace

STOP_TIMEOUT_S = 60.0  # aiohttp's shutdown_timeout: sends in progress may finish meanwhile
MAX_HELD_BYTES = 256 * 1024  # pipelined bytes held while a send is answered: reading pauses
# The context each next step of an answer runs in: one, made once (a future's done callback
# otherwise gets a copy of the current one each time); nothing on this path sets a ContextVar.
_CONTEXT = contextvars.Context()


class _Request:
    """One parsed request, seen by the route as aiohttp's ``web.Request`` would be."""

    __slots__ = ("_extra", "app", "headers", "remote")
    method = "POST"
    path = ROUTE.decode()

    def __init__(self, app: web.Application, headers: SendHeaders, remote: str | None):
        self.app = app
        self.headers = headers
        self.remote = remote
        self._extra: dict[Any, Any] = {}

    def __setitem__(self, key: Any, value: Any) -> None:
        self._extra[key] = value


class FastSendProtocol(asyncio.Protocol):
    """One connection: sends answered here until a request is not one; then aiohttp's."""

    def __init__(self, inner: Any, site: FastSends) -> None:
        self.inner = inner  # aiohttp's RequestHandler, told of the connection only at hand-over
        self.site = site
        self.transport: asyncio.Transport | None = None
        self.remote: str | None = None
        self.handed = False  # aiohttp's protocol has the connection
        self._buf = bytearray()  # bytes not yet answered, from the start of a request
        self._fed = 0  # of which the parser has seen this many
        self._parser = httptools.HttpRequestParser(self)
        self._reading: Parsed | None = None
        self._done: list[Parsed] = []
        self._begun = 0
        self._busy = False  # a send is being answered
        self._closing = False  # close once the send in progress is answered
        self._write_paused = False
        self._read_paused = False
        self._idle: asyncio.TimerHandle | None = None
        self._answered_at = 0.0  # the loop's time of the last answer
        self._answering: Coroutine[Any, Any, None] | None = None  # the send being answered

    # asyncio's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._loop = asyncio.get_running_loop()
        self.site.connections.add(self)
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, list | tuple) and peer else None

    def data_received(self, data: bytes) -> None:
        if self.handed:
            self.inner.data_received(data)
            return
        self._buf += data
        self._pump()

    def eof_received(self) -> bool | None:
        if self.handed:
            return cast(bool | None, self.inner.eof_received())
        return None  # as aiohttp's: the transport closes; a send in progress is still accepted

    def connection_lost(self, exc: Exception | None) -> None:
        self.site.connections.discard(self)
        self._stop_idle()
        self._closing = True
        if self.handed:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self.handed:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.handed:
            self.inner.resume_writing()
        else:
            self._pump()

    def close(self) -> None:
        """The server stops: close now if idle, else once the send in progress is answered."""
        if self.handed:
            return  # aiohttp's shutdown closes it
        self._closing = True
        if not self._busy and self.transport is not None:
            self.transport.close()

    # llhttp's side (httptools calls these while ``feed_data`` runs)

    def on_message_begin(self) -> None:
        if self._done:  # pipelined: parsed from its first byte once the one before is answered
            raise NotOurs
        self._begun += 1
        self._reading = Parsed()

    def on_url(self, url: bytes) -> None:
        assert self._reading is not None
        self._reading.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._reading is not None
        self._reading.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._reading is not None
        self._reading.length = plain_send(self._parser, self._reading)

    def on_body(self, body: bytes) -> None:
        assert self._reading is not None
        self._reading.body.append(body)

    def on_message_complete(self) -> None:
        assert self._reading is not None
        self._done.append(self._reading)
        self._reading = None

    # framing

    def _pump(self) -> None:
        """Parse what has come, answer the first complete send, or hand the connection over."""
        if self.handed or self._closing:
            return
        if self._busy or self._write_paused:
            self._hold()
            return
        while self._fed < len(self._buf):
            fresh = bytes(self._buf[self._fed :])
            self._fed = len(self._buf)
            try:
                self._parser.feed_data(fresh)
                refused = False
            except (httptools.HttpParserError, httptools.HttpParserUpgrade):
                refused = True  # NotOurs arrives as a callback error
            if self._done:
                self._answer_first(whole=not refused and self._begun == 1 and len(self._done) == 1)
                return
            head_unread = self._reading is None or not self._reading.length
            if refused or (head_unread and len(self._buf) > MAX_HEAD_BYTES):
                self._hand_over()
                return
        self._hold()

    def _answer_first(self, whole: bool) -> None:
        """Answer the first complete request; the bytes after it wait for their turn."""
        message = self._done[0]
        if whole:  # the buffer was this request: the parser goes on from its end
            del self._buf[:]
            self._fed = 0
            self._begun = 0
            self._done.clear()
        else:  # pipelined, or a refused request after it: parse the rest anew afterwards
            del self._buf[: message_end(self._buf)]
            self._fresh_parser()
        if self.site.trace is not None:
            message.at = time.monotonic()
        self._busy = True
        self.site.in_progress += 1
        self._answering = self._answer(message)
        # Its first step in the loop's next turn, with the other connections' (as a Task's
        # first step was): their writes reach the store together, one batch, one commit.
        self._loop.call_soon(self._resume, context=_CONTEXT)

    def _step(self) -> bool:
        """The next step of the send being answered, as a Task would take it: each after the
        future it awaited is done (the store's write); True when the answer ended. A Task
        per send cost more (its object, a copy of the context for it and for each of its
        steps, its step's own wrapper)."""
        assert self._answering is not None
        try:
            waiting = self._answering.send(None)
        except StopIteration:
            self._answering = None
            self.site.finished()
            return True
        except BaseException as exc:  # as a Task's: reported; the connection stays busy
            self._answering = None
            self.site.finished()
            if not isinstance(exc, Exception):
                raise
            self._loop.call_exception_handler(
                {"message": "answering a send failed", "exception": exc, "protocol": self}
            )
            return False
        if waiting is None:  # a bare yield (``asyncio.sleep(0)``): on in the loop's next turn
            self._loop.call_soon(self._resume, context=_CONTEXT)
        else:  # an asyncio future: what a Task does with one
            waiting._asyncio_future_blocking = False
            waiting.add_done_callback(self._resume, context=_CONTEXT)
        return False

    def _resume(self, _done: object = None) -> None:
        if self._step():
            self._pump()

    def _fresh_parser(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._fed = 0
        self._begun = 0
        self._reading = None
        self._done.clear()

    def _hand_over(self) -> None:
        """aiohttp's protocol takes the connection, with the bytes of the request at hand."""
        assert self.transport is not None
        self.handed = True
        self._stop_idle()
        held, self._buf = bytes(self._buf), bytearray()
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()
        self.inner.connection_made(self.transport)
        if self._write_paused:
            self.inner.pause_writing()
        if held:
            self.inner.data_received(held)

    def _hold(self) -> None:
        """Bytes wait unparsed while a send is answered; past ``MAX_HELD_BYTES`` reading pauses."""
        if self.transport is None:
            return
        if len(self._buf) > MAX_HELD_BYTES and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()
        elif len(self._buf) <= MAX_HELD_BYTES and self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()

    async def _answer(self, message: Parsed) -> None:
        traced = self.site.trace
        began = time.monotonic() if traced is not None else 0.0
        request = _Request(self.site.app, SendHeaders(message.headers), self.remote)
        response: JsonAnswer | web.Response
        try:
            response = await accept_send(request, _fields(b"".join(message.body)), False)
        except Exception as exc:  # the middleware's answers, word for word
            response = failure_answer(request, exc)
        resumed = time.monotonic() if traced is not None else 0.0
        self.site.answered += 1
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(serialise(response))
        if traced is not None:
            _stamp(traced, message.at, began, request, resumed, response)
        self._busy = False
        if self._closing:
            if transport is not None:
                transport.close()
            return
        self._answered_at = self._loop.time()
        if self._idle is None:  # one timer a connection, moved on lazily (as aiohttp's)
            self._idle = self._loop.call_at(
                self._answered_at + self.site.keepalive_timeout_s, self._expire
            )

    def _expire(self) -> None:
        """A kept-alive connection with no answer for the keep-alive timeout and no request
        being answered is closed, as aiohttp closes its own."""
        self._idle = None
        if self._busy or self.handed or self.transport is None:
            return  # re-armed after the answer
        due = self._answered_at + self.site.keepalive_timeout_s
        if self._loop.time() < due:
            self._idle = self._loop.call_at(due, self._expire)
            return
        self.transport.close()

    def _stop_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None


class FastSends:
    """The fast framing of one listening site: its connections and the sends in progress."""

    def __init__(self, app: web.Application, keepalive_timeout_s: float) -> None:
        self.app = app
        self.keepalive_timeout_s = keepalive_timeout_s  # aiohttp's, for its connections
        self.answered = 0  # sends answered in this framing (tests read it)
        self.connections: set[FastSendProtocol] = set()
        self.in_progress = 0  # sends being answered (``FastSendProtocol._step``)
        self._all_answered: asyncio.Future[None] | None = None  # ``stop`` waits for it
        self.trace = trace.recorder()  # a stall trace: each send's pieces (``_stamp``)

    def wrap(self, inner: Any) -> FastSendProtocol:
        """A connection's protocol around aiohttp's (``inner``), which it may hand over to."""
        return FastSendProtocol(inner, self)

    async def stop(self) -> None:
        """Close the idle connections, the busy ones once answered; wait for their sends."""
        for connection in list(self.connections):
            connection.close()
        if self.in_progress:
            self._all_answered = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._all_answered), STOP_TIMEOUT_S)

    def finished(self) -> None:
        """A send's answer ended (written, or its connection gone)."""
        self.in_progress -= 1
        done = self._all_answered
        if not self.in_progress and done is not None and not done.done():
            done.set_result(None)


async def _fields(body: bytes) -> dict[str, Any]:
    return json_body(body)


def _stamp(
    traced: trace.Recorder,
    parsed: float,
    began: float,
    request: _Request,
    resumed: float,
    response: JsonAnswer | web.Response,
) -> None:
    """An ``accept`` span of a stall trace: from its request parsed to its answer written, with
    its task's first step, its write queued to the store and its task resumed (the write
    committed, or a refusal) between, and its job's id (``bench.accept_tail`` lays these
    beside the store's batches and the client's own times)."""
    job_id = response.payload.get("job_id") if isinstance(response, JsonAnswer) else None
    queued = request._extra.get(QUEUED_AT)
    traced.span("accept", parsed, time.monotonic(), [job_id, began, queued, resumed])
