"""What one IPN post costs the daemon's loop in instructions, counted under valgrind's callgrind:
the sender's own part of a delivery (the body, its signature, the headers, aiohttp's request on
a kept-alive connection, the answer read), with no store around it.

A receiver answering 200 runs in a subprocess (not counted); the IPN sender's ``_post`` runs
in a process under callgrind with its session made as ``IpnSender.run`` makes it, posts
``--warm`` events, then counts ``--posts`` more, ``--concurrent`` at a time (a busy bank's
reports come in bursts), the instrumentation on only around the counted ones (callgrind's
client requests, as ``bench.driver_instructions``): a count the machine's load does not move.
Each post of a burst is the event's own task, as the sender starts it. In a lockstep burst
of 16 reports the last post waits for the other 15 posts' work on the loop, so this count is
part of a busy modem's IPN (``bench.ipn_busy``) wherever reports come together.

    .venv/bin/python -m bench.ipn_post_instructions [--posts 200] [--concurrent 16] [--warm 32]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.driver_instructions import client_requests, counted_inner

RECEIVER = """
import asyncio
from modemd.api.listener import start_listener

async def main():
    _, port = await start_listener(lambda body, headers: 200)
    print(port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""
# A delivered report's body as the outbox makes it (the size matters to the signature and the
# write), with a 40-character event id.
BODY = json.dumps(
    {
        "type": "sms.delivered",
        "event_id": "evt_" + "0" * 36,
        "timestamp": "2026-12-02T23:00:00.000+00:00",
        "data": {
            "job_id": "job_" + "0" * 22,
            "pin": "bench",
            "to": "+393330000001",
            "device_id": "860000000000001",
            "parts": 1,
            "status": "delivered",
            "tp_status": 0,
            "message_reference": 7,
        },
    },
    separators=(",", ":"),
)


async def counted_posts(
    port: int, posts: int, concurrent: int, warm: int, requests: ctypes.CDLL
) -> int:
    """Post ``warm`` events, then ``posts`` counted, ``concurrent`` at a time; the 2xx
    answers counted."""
    from modemd.store.endpoints import Endpoint, new_secret
    from modemd.store.events import OutboxEvent
    from modemd.webhooks.sender import IpnSender

    sender = IpnSender(None)  # type: ignore[arg-type]  # ``_post`` does not use the store
    endpoint = Endpoint(1, new_secret(), None, None, "json", None, None)
    url = f"http://127.0.0.1:{port}/ipn"

    def event(n: int) -> OutboxEvent:
        return OutboxEvent(
            f"evt_{n:036d}", f"job_{n:022d}", 1, "sms.delivered", BODY, 0, 0, url, time.time(),
            endpoint,
        )  # fmt: skip

    async def burst(first: int) -> list[Any]:
        tasks = [
            asyncio.create_task(sender._post(event(first + k)), name="ipn")
            for k in range(concurrent)
        ]
        return await asyncio.gather(*tasks)

    answered = 0
    async with sender.session() as session:
        sender._session = session
        for n in range(0, warm, concurrent):
            await burst(n)
        requests.counting_on()
        for n in range(warm, warm + posts, concurrent):
            answered += sum(1 for status, _, _ in await burst(n) if status == 200)
        requests.counting_off()
    return answered


def measure(posts: int, concurrent: int, warm: int) -> dict[str, Any]:
    """The receiver in a subprocess, the sender under callgrind in another: instructions."""
    with tempfile.TemporaryDirectory(prefix="ipn-post-instructions-") as out:
        client_requests(out)
        receiver = subprocess.Popen(
            [sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True
        )
        try:
            assert receiver.stdout is not None
            port = receiver.stdout.readline().strip()
            args = [port, "--posts", str(posts), "--concurrent", str(concurrent)]
            answer, instructions = counted_inner(
                "bench.ipn_post_instructions", [*args, "--warm", str(warm)], out
            )
        finally:
            receiver.terminate()
            receiver.wait()
    counted = posts // concurrent * concurrent
    return {
        "posts": counted,
        "concurrent": concurrent,
        "answered_2xx": int(answer),
        "instructions_per_post": round(instructions / counted),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=192)
    parser.add_argument("--concurrent", type=int, default=16)
    parser.add_argument("--warm", type=int, default=32)
    parser.add_argument("--inner", help=argparse.SUPPRESS)  # the counted process: the port
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.inner:
        import uvloop

        requests = ctypes.CDLL(str(Path(options.dir, "requests.so")))
        answered = uvloop.run(
            counted_posts(
                int(options.inner), options.posts, options.concurrent, options.warm, requests
            )
        )
        print(answered)
        return
    print(json.dumps(measure(options.posts, options.concurrent, options.warm), indent=1))


if __name__ == "__main__":
    main()
