"""Connections that hold the server hostage: a request's headers must arrive within
``HEADER_TIMEOUT_S`` and its body at a minimum rate, and at most ``MAX_CONNECTIONS`` are open
(over it, the oldest connection still sending its headers makes room, so slow clients never lock
out others). aiohttp has no header timeout of its own; this wraps its protocol per connection.

Limitation: the header timer runs for a connection's first request; a kept-alive connection
idle longer than ``KEEPALIVE_TIMEOUT_S`` is closed by aiohttp."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from typing import Any, Protocol, cast

from aiohttp import web

log = logging.getLogger(__name__)

HEADER_TIMEOUT_S = 10.0  # issue 18: a request line and headers take milliseconds, not seconds
BODY_MIN_BYTES_PER_S = 1024.0  # the slowest honest upload we wait for (64 KiB in 64 s)
MAX_CONNECTIONS = 3072  # open at once; the unit's LimitNOFILE=4096 leaves 1024 for the rest
KEEPALIVE_TIMEOUT_S = 15.0  # an idle kept-alive connection is closed after this
_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]{1,12})", re.IGNORECASE)


class Limits:
    """The open connections of one server and the rules they follow."""

    def __init__(
        self,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        body_min_bytes_per_s: float = BODY_MIN_BYTES_PER_S,
        keepalive_timeout_s: float = KEEPALIVE_TIMEOUT_S,
    ) -> None:
        self.header_timeout_s = header_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.max_connections = max_connections
        self.body_min_bytes_per_s = body_min_bytes_per_s
        self.open: dict[GuardedProtocol, None] = {}  # insertion order: oldest first
        self.closed_slow = 0  # connections closed for being slow (tests and logs read it)

    def admit(self, new: GuardedProtocol) -> bool:
        """Room for ``new``: make some by closing the oldest connection still in its headers."""
        if len(self.open) >= self.max_connections:
            victim = next((c for c in self.open if not c.headers_done), None)
            if victim is None:
                log.warning("connection cap %d reached: refusing one", self.max_connections)
                return False
            victim.close("its headers were still coming when the connection cap was reached")
        self.open[new] = None
        return True


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, with a deadline until its request has arrived."""

    def __init__(self, inner: Any, limits: Limits) -> None:
        self.inner = inner
        self.limits = limits
        self.headers_done = False
        self._head = b""
        self._body_left: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (asyncio's, or uvloop's, which subclasses none of asyncio's)
        self._transport = cast(asyncio.Transport, transport)
        if not self.limits.admit(self):
            self._transport.abort()
            return
        self.admitted = True
        self._arm(self.limits.header_timeout_s, "no complete request headers")
        self.inner.connection_made(transport)

    def _arm(self, delay: float, why: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self.close, why)

    def close(self, why: str) -> None:
        """Drop a connection that is too slow (or in the way of a new one)."""
        if self._transport is not None and not self._transport.is_closing():
            peer = self._transport.get_extra_info("peername")
            log.info("closing connection from %s: %s", peer, why)
            self.limits.closed_slow += 1
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if not self.headers_done:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end >= 0:
                self.headers_done = True
                match = _LENGTH.search(self._head[:end])
                length = int(match.group(1)) if match else 0
                self._body_left = length - (len(self._head) - end - 4)
                self._head = b""
                self._after_headers(length)
        elif self._body_left is not None:
            self._body_left -= len(data)
            if self._body_left <= 0:
                self._done()
        self.inner.data_received(data)

    def _after_headers(self, length: int) -> None:
        if self._body_left is not None and self._body_left > 0:
            delay = self.limits.header_timeout_s + length / self.limits.body_min_bytes_per_s
            self._arm(delay, "request body too slow")
        else:
            self._done()

    def _done(self) -> None:
        """The first request is in: from here aiohttp's own timers apply."""
        self._body_left = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.limits.open.pop(self, None)
        if self.admitted:  # a refused connection never reached aiohttp's protocol
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class Framing(Protocol):
    """A protocol of its own around aiohttp's for each connection (``fastsend``)."""

    def wrap(self, inner: Any) -> asyncio.Protocol: ...

    async def stop(self) -> None: ...


class GuardedSite(web.TCPSite):
    """``web.TCPSite`` whose connections go through ``GuardedProtocol``."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        limits: Limits,
        ssl_context: ssl.SSLContext | None = None,
        framing: Framing | None = None,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context)
        self.limits = limits
        self.framing = framing  # inside the guard, around aiohttp's protocol; stopped with it

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: GuardedProtocol(
                server() if self.framing is None else self.framing.wrap(server()), self.limits
            ),
            self._host,
            self._port,
            reuse_address=True,
            family=socket.AF_UNSPEC,
            ssl=self._ssl_context,  # [server] tls_cert/tls_key: the guard sees decrypted bytes
        )

    async def stop(self) -> None:
        await super().stop()
        if self.framing is not None:
            await self.framing.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        server = cast(asyncio.Server, self._server)  # or uvloop's Server: the same surface
        return int(server.sockets[0].getsockname()[1])
