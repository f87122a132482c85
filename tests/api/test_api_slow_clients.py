"""Issue 18 item 2: half-sent requests are closed after the header timeout, slow bodies after a
time by their size, the number of connections is capped, and a normal request made meanwhile
is answered (a slow client never blocks others)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from modemd.api.app import start_site
from modemd.api.guard import Limits

SLOW = 60  # half-sent requests (bench/ has the 1,500 of the reproducer)


async def ping(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"response": "200"})


async def serve(limits: Limits) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route("*", "/ping", ping)
    return await start_site(app, "127.0.0.1", 0, limits)


async def half_request(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def closed(reader: asyncio.StreamReader, deadline_s: float) -> bool:
    try:
        async with asyncio.timeout(deadline_s):
            await reader.read()  # b"" (EOF) or a reset
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def test_half_sent_requests_are_closed_and_others_served() -> None:
    limits = Limits(header_timeout_s=0.5, max_connections=SLOW // 2)
    runner, port = await serve(limits)
    try:
        slow = [await half_request(port, b"POST /ping HTT") for _ in range(SLOW)]
        async with (
            aiohttp.ClientSession() as session,  # meanwhile, a normal request
            session.get(f"http://127.0.0.1:{port}/ping") as r,
        ):
            assert r.status == 200
        results = await asyncio.gather(*(closed(r, 20) for r, _ in slow))
        assert all(results)
        assert limits.closed_slow >= SLOW
        assert len(limits.open) <= 1  # only a kept-alive normal one may remain
        for _, writer in slow:
            writer.close()
    finally:
        await runner.cleanup()


async def test_a_slow_body_is_closed_after_a_time_by_its_size() -> None:
    limits = Limits(header_timeout_s=0.3, body_min_bytes_per_s=1000.0)
    runner, port = await serve(limits)
    try:
        head = b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"
        reader, writer = await half_request(port, head + b"x" * 10)
        assert await closed(reader, 20)  # 0.3 s + 500 bytes at 1000/s
        writer.close()
        reader, writer = await half_request(port, head + b"x" * 500)  # all of it: answered
        line = await asyncio.wait_for(reader.readline(), 20)
        assert line.startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        await runner.cleanup()
