"""A raw HTTP/1.1 client for the framing tests: bytes written as given (in chunks if asked),
answers cut by llhttp (httptools' response parser), the connection's end noticed."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httptools

READ_TIMEOUT_S = 10.0  # an answer the server owes; generous for a loaded machine
IGNORED_HEADERS = frozenset({"date"})  # differs by the second it was written
JOB_ID = re.compile(rb'"job_id": "[^"]*"')  # a new job's id, the one difference of two accepts


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def comparable(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, headers but the date, and the body's bytes (an accepted job's id masked)."""
        kept = [(k, v) for k, v in self.headers if k.lower() not in IGNORED_HEADERS]
        return self.status, kept, JOB_ID.sub(b'"job_id": "*"', self.body)


@dataclass
class _Cutter:
    answers: list[Answer] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    parser: Any = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode(), value.decode()))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.answers.append(Answer(status, self.headers, bytes(self.body)))
        self.headers, self.body = [], bytearray()


async def exchange(
    port: int, chunks: list[bytes], answers: int, pause_s: float = 0.0
) -> tuple[list[Answer], bool]:
    """Write ``chunks`` (``pause_s`` apart) to a new connection; read until ``answers`` have
    come or the server closed. The answers, and whether the server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    cutter = _Cutter()
    cutter.parser = httptools.HttpResponseParser(cutter)
    closed = False
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            if pause_s:
                await asyncio.sleep(pause_s)
        async with asyncio.timeout(READ_TIMEOUT_S):
            while len(cutter.answers) < answers:
                data = await reader.read(65536)
                if not data:
                    closed = True
                    break
                cutter.parser.feed_data(data)
    except ConnectionError:
        closed = True
    finally:
        writer.close()
    return cutter.answers, closed


def post(
    body: bytes | str,
    *,
    path: str = "/api/v1/send",
    content_type: str = "application/json",
    extra: str = "",
    version: str = "1.1",
) -> bytes:
    """A POST with ``body`` as bytes (``extra``: more header lines, each ending in CRLF)."""
    raw = body.encode() if isinstance(body, str) else body
    head = (
        f"POST {path} HTTP/{version}\r\nHost: modemd\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(raw)}\r\n{extra}\r\n"
    )
    return head.encode() + raw
