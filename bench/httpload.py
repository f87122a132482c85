"""A light HTTP/1.1 load client for the accept benchmark: plain asyncio protocols on uvloop.

aiohttp's client took 0.2-0.3 ms of CPU per request on the 2-core machine, about what the
daemon spends on an accept, so the client competed with the server it measured. This one
writes each request as bytes on a kept-alive connection and cuts each answer by its
Content-Length (an answer without one, chunked, or a closed connection is an error, never a
guess). It still checks every answer: the HTTP status, a JSON body whose ``response`` is
"200" and whose ``to`` is the number sent. It runs as its own process, so its CPU is its own:

    python -m bench.httpload URL APIKEY SECONDS [CLIENTS [WARM_UP_S [TIMES]]]   # one JSON line

``TIMES``: a file for each counted accept's ``[written, answered, job_id]`` (CLOCK_MONOTONIC,
the clock of a stall trace: ``bench.accept_tail`` lays them beside the daemon's own stamps).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from modemd.serving import loop_factory

CLIENTS = 64
WARM_UP_S = 1.0  # requests started before this are not counted
CONNECT_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 30.0  # one answer; far above any p99 seen, even at load 10


class BadAnswerError(Exception):
    """An answer the client cannot cut or would not accept."""


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Connection(asyncio.Protocol):
    """One kept-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            cut = self._cut()
        except (BadAnswerError, ValueError, IndexError) as exc:
            self.waiter.set_exception(BadAnswerError(f"unparsable answer: {exc}"))
            return
        if cut is not None:
            self.waiter.set_result(cut)

    def _cut(self) -> tuple[int, bytes] | None:
        """The first complete answer in the buffer (status, body), taken out of it; or None."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        status_line, *header_lines = self.buffer[:end].decode("latin-1").split("\r\n")
        length = None
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" or (
                name == "connection" and value.strip().lower() == "close"
            ):
                raise BadAnswerError(f"{line!r}: not an answer this client cuts")
        if length is None:
            raise BadAnswerError("no Content-Length")
        total = end + 4 + length
        if len(self.buffer) < total:
            return None
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        return int(status_line.split(" ", 2)[1]), body

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection closed: {exc}"))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Write ``request``; its answer's status and body."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            return await self.waiter


class Load:
    """``clients`` connections posting sends back to back; latencies of the counted ones."""

    def __init__(
        self,
        url: str,
        key: str,
        seconds: float,
        clients: int = CLIENTS,
        warm_up_s: float = WARM_UP_S,
        times: Path | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self.key = key
        self.seconds = seconds
        self.clients = clients
        self.warm_up_s = warm_up_s
        self.latencies_ms: list[float] = []
        self.refused = 0  # answers that were not an accept of the number sent (any time)
        self.errors = 0  # connections lost or answers that could not be cut (any time)
        self.completed = 0  # every answer, warm-up included
        self.first_refusal = ""
        self.times = times
        self.stamps: list[tuple[float, float, str]] = []  # with ``times``: (written, answered, job)

    async def run(self) -> dict[str, Any]:
        """Hammer the URL; requests rate, p50, p99 and the client's own CPU."""
        start = time.perf_counter()
        cpu_start = time.process_time()
        self._count_from = start + self.warm_up_s
        self._stop_at = self._count_from + self.seconds
        await asyncio.gather(*(self._client(n) for n in range(self.clients)))
        cpu_s = time.process_time() - cpu_start
        wall_s = time.perf_counter() - start
        if self.times is not None:
            self.times.write_text(json.dumps(self.stamps))
        return {
            "rps": round(len(self.latencies_ms) / self.seconds, 1),
            "p50_ms": round(_percentile(self.latencies_ms, 50), 2),
            "p99_ms": round(_percentile(self.latencies_ms, 99), 2),
            "refused": self.refused,
            "errors": self.errors,
            "first_refusal": self.first_refusal,
            "completed": self.completed,
            "client_cpu_percent": round(100 * cpu_s / wall_s, 1),
            "client_cpu_ms": round(1000 * cpu_s / max(self.completed, 1), 3),
        }

    def request(self, fields: dict[str, Any]) -> bytes:
        """A send of ``fields`` (a JSON body) to the URL."""
        body = json.dumps(fields).encode()
        return self.head + str(len(body)).encode() + b"\r\n\r\n" + body

    async def connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            _, connection = await loop.create_connection(Connection, self.host, self.port)
        return connection

    async def _client(self, n: int) -> None:
        connection = await self.connect()
        sent = 0
        try:
            started = time.perf_counter()
            while True:  # each client sends at least one request, however late it starts
                sent += 1
                # Italian mobile numbers (33x xxxxxxx), all different, as bench.accept's were
                to = f"+3933{n:02d}{sent % 1_000_000:06d}"
                fields = {"apikey": self.key, "to": to, "msg": "bench accept"}
                try:
                    status, answer = await connection.exchange(self.request(fields))
                except (ConnectionError, BadAnswerError, TimeoutError) as exc:
                    self.errors += 1
                    self.first_refusal = self.first_refusal or f"{type(exc).__name__}: {exc}"
                    if connection.transport is not None:
                        connection.transport.close()
                    connection = await self.connect()
                else:
                    self.completed += 1
                    done = time.perf_counter()
                    if not _accepted(status, answer, to):
                        self.refused += 1
                        self.first_refusal = self.first_refusal or f"{status} {answer[:200]!r}"
                    elif started >= self._count_from and done <= self._stop_at:
                        self.latencies_ms.append((done - started) * 1000)
                        if self.times is not None:  # (perf_counter: CLOCK_MONOTONIC on Linux)
                            self.stamps.append((started, done, json.loads(answer)["job_id"]))
                started = time.perf_counter()
                if started >= self._stop_at:
                    return
        finally:
            if connection.transport is not None:
                connection.transport.close()


def _accepted(status: int, body: bytes, to: str) -> bool:
    """A 200 whose JSON says ``response`` "200" for the number sent."""
    if status != 200:
        return False
    try:
        fields = json.loads(body)
    except ValueError:
        return False
    return isinstance(fields, dict) and fields.get("response") == "200" and fields.get("to") == to


async def submit(urls: list[str], key: str, jobs: int, clients: int = CLIENTS) -> None:
    """Post ``jobs`` sends (+39333 and the job's number) from ``clients`` kept-alive
    connections spread over ``urls``; ``BadAnswerError`` for the first that is not accepted."""
    numbers = iter(range(jobs))

    async def client(n: int) -> None:
        target = Load(urls[n % len(urls)], key, 0.0)
        connection = await target.connect()
        try:
            for i in numbers:
                to = f"+39333{i:07d}"
                status, answer = await connection.exchange(
                    target.request({"apikey": key, "to": to, "msg": "bench"})
                )
                if not _accepted(status, answer, to):
                    raise BadAnswerError(f"{status}: {answer[:200]!r}")
        finally:
            if connection.transport is not None:
                connection.transport.close()

    await asyncio.gather(*(client(n) for n in range(clients)))


async def in_subprocess(url: str, key: str, seconds: float, *more: str) -> dict[str, Any]:
    """Run the load from its own process (uvloop); its summary, with its own CPU in it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.httpload",
        url,
        key,
        str(seconds),
        *more,
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench.httpload exited {proc.returncode}")
    result: dict[str, Any] = json.loads(out)
    return result


def main() -> None:
    """``python -m bench.httpload URL APIKEY SECONDS [CLIENTS [WARM_UP_S [TIMES]]]``: one JSON
    line."""
    url, key, seconds, *rest = sys.argv[1:]
    clients = int(rest[0]) if rest else CLIENTS
    warm_up_s = float(rest[1]) if rest[1:] else WARM_UP_S
    times = Path(rest[2]) if rest[2:] else None
    load = Load(url, key, float(seconds), clients, warm_up_s, times)
    with asyncio.Runner(loop_factory=loop_factory("uvloop")) as runner:
        result = runner.run(load.run())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
