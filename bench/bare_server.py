"""A bare aiohttp endpoint, the accept benchmark's yardstick: parse the JSON body, answer JSON.

Nothing else: no key lookup, no database, no fsync. Run as a subprocess; prints its port.

    python -m bench.bare_server
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web


async def send(request: web.Request) -> web.Response:
    """Parse the send request and answer like an accept would, without storing anything."""
    fields = json.loads(await request.read())
    return web.json_response({"response": "200", "status_code": "2", "to": fields.get("to")})


async def main() -> None:
    app = web.Application()
    app.router.add_post("/api/v1/send", send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
