"""A bare aiohttp endpoint, the accept benchmark's yardstick: parse the JSON body, answer JSON.

Nothing else: no key lookup, no database, no fsync. Run as a subprocess; prints its port. It
runs on the event loop the daemon would (uvloop unless ``MODEMD_EVENT_LOOP=asyncio``).

    python -m bench.bare_server
"""

from __future__ import annotations

import asyncio
import json
import os

from aiohttp import web

from modemd.serving import EVENT_LOOP_ENV, loop_factory


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
    # the daemon's loop (server.event_loop's default: uvloop), so that the ratio compares the
    # daemon's own work, not two event loops; MODEMD_EVENT_LOOP=asyncio for asyncio's
    factory = loop_factory(os.environ.get(EVENT_LOOP_ENV) or "uvloop")
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())
