"""Inbound latency: the emulated network's ``+CMTI`` written to the pty -> the ``sms.received``
IPN arriving at a listener in this process. Each number first gets a job (a received SMS is
posted to the key whose job it answers); then one text at a time is delivered to a modem, the
next only after the last one's IPN arrived. Measured: modemd's AT+CMGR, decode, commit (one
write: the message and its event) and the IPN sender's post; AT+CMGD follows the commit.

Split at the event's own ``timestamp`` (taken when it is written, just before its commit;
milliseconds, truncated): ``+CMTI`` -> event is the modem side (reading and storing the text),
event -> POST at the listener is the commit and the IPN sender. How long the daemon's commits
took meanwhile (its histogram: the bucket holding the 99th percentile) says how much of that is
the fsync.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from functools import partial
from operator import contains
from typing import Any

import aiohttp

from bench.harness import (
    Daemon,
    create_key,
    emulated_bank,
    percentile,
    wait_until,
    workdir,
)
from modemd.api.listener import start_listener
from modemd.observe.metrics import COMMIT_BUCKETS_S

STEP_TIMEOUT_S = 5.0
SENDS_SETTLE_S = 1.0  # the jobs are claimed and sent (send latency 0) well within this
RECEIVED = "sms.received"
CMTI = b"+CMTI:"


async def run(messages: int, modems: int = 2) -> dict[str, Any]:
    """Measure ``messages`` received SMS, one at a time, over ``modems`` idle modems."""
    tmp = workdir()
    posted: dict[str, float] = {}  # sender -> IPN arrival
    written: dict[str, float] = {}  # sender -> the event's timestamp
    async with emulated_bank(modems, send_latency_s=(0.0, 0.0), report_delay_s=0.0) as taps:
        changed = taps[0].changed
        cmti: list[float] = []
        for tap in taps:
            tap.modem.on_output = lambda data, seen=cmti: _stamp(data, seen, changed)

        def on_ipn(body: dict[str, Any], _headers: dict[str, str]) -> None:
            if body.get("type") == RECEIVED:
                posted[str(body["data"]["from"])] = time.time()
                written[str(body["data"]["from"])] = event_time(body)
                changed.set()

        listener, ipn_port = await start_listener(on_ipn)
        try:
            key = await create_key(
                tmp / "modemd.db", f"http://127.0.0.1:{ipn_port}/ipn", f"sms.sent,{RECEIVED}"
            )
            async with Daemon(tmp / "modemd.db", [t.modem.port for t in taps]) as daemon:
                numbers = [f"+39334{n:07d}" for n in range(messages + 1)]
                await _jobs_to(daemon, key, numbers)
                latencies, modem_side, ipn_side = [], [], []
                commits_before = await daemon.metrics(COMMIT_BUCKETS)
                for n, number in enumerate(numbers):
                    before = len(cmti)
                    taps[n % len(taps)].modem.network.send(number, f"reply {n}")
                    await wait_until(partial(contains, posted, number), changed, STEP_TIMEOUT_S)
                    if n and len(cmti) > before:  # the first one warms up: not measured
                        latencies.append((posted[number] - cmti[before]) * 1000)
                        modem_side.append((written[number] - cmti[before]) * 1000)
                        ipn_side.append((posted[number] - written[number]) * 1000)
                commits = await daemon.metrics(COMMIT_BUCKETS)
        finally:
            await listener.cleanup()
    return {
        "inbound_messages": len(latencies),
        "inbound_p50_ms": round(percentile(latencies, 50), 2),
        "inbound_p99_ms": round(percentile(latencies, 99), 2),
        "inbound_modem_p99_ms": round(percentile(modem_side, 99), 2),
        "inbound_ipn_p50_ms": round(percentile(ipn_side, 50), 2),
        "inbound_ipn_p99_ms": round(percentile(ipn_side, 99), 2),
        "inbound_commit_p99_under_ms": _p99_bucket(commits_before, commits),
    }


# As prometheus_client writes them: 1 -> "1.0"; the last is every commit ("+Inf").
COMMIT_BUCKETS = [
    f'modemd_store_commit_seconds_bucket{{le="{le}"}}'
    for le in (*map(float, COMMIT_BUCKETS_S), "+Inf")
]


def _p99_bucket(before: dict[str, float], after: dict[str, float]) -> float | None:
    """The upper bound (ms) of the commit histogram's bucket holding the 99th percentile of the
    commits between two reads; None past the last bucket."""
    counts = [after.get(name, 0.0) - before.get(name, 0.0) for name in COMMIT_BUCKETS]
    total = counts.pop()
    for le, count in zip(COMMIT_BUCKETS_S, counts, strict=True):
        if total and count >= 0.99 * total:
            return le * 1000
    return None


def _stamp(data: bytes, stamps: list[float], changed: Any) -> None:
    stamps.extend([time.time()] * data.count(CMTI))
    changed.set()


async def _jobs_to(daemon: Daemon, key: str, numbers: list[str]) -> None:
    """One job to each number, each sent (answered by the network) before the texts come."""
    async with aiohttp.ClientSession() as session:
        for number in numbers:
            payload = {"apikey": key, "to": number, "msg": "bench inbound"}
            async with session.post(f"{daemon.url}/api/v1/send", json=payload) as response:
                if response.status != 200:
                    raise RuntimeError(f"send refused: {response.status}")
    await asyncio.sleep(SENDS_SETTLE_S + 0.02 * len(numbers))  # sent at once by idle modems


def event_time(body: dict[str, Any]) -> float:
    """An IPN event's ``timestamp`` (ISO 8601, milliseconds, taken as it was written, just
    before its commit) as epoch seconds: where the modem's side of a latency ends."""
    return datetime.fromisoformat(str(body["timestamp"])).timestamp()
