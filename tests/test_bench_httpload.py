"""bench.httpload, the accept benchmark's light client: it counts only real accepts.

The client as bench/run starts it (its own process) against a real aiohttp server on a real
socket; what is checked is what the client counts, never how fast anything was."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

ROOT = Path(__file__).parent.parent
SECONDS = "0.3"
CLIENTS = "2"
WARM_UP_S = "0"


async def _accept(request: web.Request) -> web.Response:
    fields = json.loads(await request.read())
    return web.json_response({"response": "200", "to": fields["to"]})


async def _other_number(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"response": "200", "to": "+390000000000"})


async def _refuse(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"response": "401", "message": "bad key"}, status=401)


async def _chunked(request: web.Request) -> web.StreamResponse:
    fields = json.loads(await request.read())
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(json.dumps({"response": "200", "to": fields["to"]}).encode())
    await response.write_eof()
    return response


@asynccontextmanager
async def serving(routes: list[tuple[str, Any]]) -> AsyncIterator[str]:
    """A real aiohttp server on 127.0.0.1 answering POSTs on ``routes``; its base URL."""
    app = web.Application()
    for path, handler in routes:
        app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[str]:
    routes = [("/ok", _accept), ("/other", _other_number), ("/refuse", _refuse)]
    async with serving([*routes, ("/chunked", _chunked)]) as url:
        yield url


async def load(url: str) -> dict[str, Any]:
    """``python -m bench.httpload`` for SECONDS on CLIENTS connections; its JSON summary."""
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "bench.httpload", url, "k", SECONDS, CLIENTS, WARM_UP_S],
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    result: dict[str, Any] = json.loads(out)
    return result


async def test_counts_each_accept_of_the_number_sent(server: str) -> None:
    result = await load(f"{server}/ok")
    assert result["refused"] == 0 and result["errors"] == 0 and result["first_refusal"] == ""
    assert result["completed"] >= int(CLIENTS)  # each client sends one at least


@pytest.mark.parametrize(("path", "status"), [("/other", "200"), ("/refuse", "401")])
async def test_an_answer_that_is_not_an_accept_is_refused(
    server: str, path: str, status: str
) -> None:
    result = await load(f"{server}{path}")
    assert result["rps"] == 0 and result["refused"] == result["completed"] >= int(CLIENTS)
    assert result["first_refusal"].startswith(status)


async def test_an_answer_without_content_length_is_an_error(server: str) -> None:
    result = await load(f"{server}/chunked")
    assert result["rps"] == 0 and result["completed"] == 0 and result["errors"] >= int(CLIENTS)
    assert "not an answer this client cuts" in result["first_refusal"]


SUBMIT = "import asyncio, sys; from bench import httpload; " + (
    "asyncio.run(httpload.submit(sys.argv[1:3], 'k', int(sys.argv[3]), clients=4))"
)


async def submit(first: str, second: str, jobs: int) -> tuple[int, str]:
    """``bench.httpload.submit`` (bench.hosts' client) in a process of its own."""
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-c", SUBMIT, first, second, str(jobs)],
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode()


async def test_submit_posts_each_job_once_and_stops_at_a_refusal(server: str) -> None:
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        fields = json.loads(await request.read())
        seen.append(fields["to"])
        return web.json_response({"response": "200", "to": fields["to"]})

    async with serving([("/api/v1/send", record)]) as base:
        url = f"{base}/api/v1/send"
        assert await submit(url, url, 25) == (0, "")
        assert sorted(seen) == [f"+39333{i:07d}" for i in range(25)]
        code, err = await submit(f"{server}/refuse", f"{server}/refuse", 3)
        assert code != 0 and "BadAnswerError: 401" in err
