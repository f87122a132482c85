"""API accept rate: durable accepts per second at 64 concurrent clients, against a bare endpoint.

The daemon has no modems, so every accepted job stays queued and only the accept path is
measured: parse, key lookup, the fsync'd insert, the answer. The same client load then hits
``bench.bare_server`` (aiohttp answering JSON, nothing stored) on the same machine; the ratio
of the two rates is the price of durability and of modemd's own code. The client runs in this
process; its CPU use is reported, since on 2 cores it competes with the server.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import (
    Daemon,
    UsageSampler,
    create_key,
    percentile,
    profiled,
    thread_cpu_s,
    workdir,
)

CLIENTS = 64
WARM_UP_S = 1.0  # requests started before this are not counted
BARE_READY_TIMEOUT_S = 30.0
COMMITS = "modemd_store_commit_seconds_count"


class Load:
    """``CLIENTS`` clients posting sends back to back for a while; latencies of the counted."""

    def __init__(self, url: str, key: str, seconds: float) -> None:
        self.url = url
        self.key = key
        self.seconds = seconds
        self.latencies_ms: list[float] = []
        self.refused = 0
        self.completed = 0  # every answer, warm-up included

    async def run(self) -> dict[str, Any]:
        """Hammer ``url``; requests rate, p50, p99 and the client's own CPU."""
        connector = aiohttp.TCPConnector(limit=CLIENTS)
        async with aiohttp.ClientSession(connector=connector) as session:
            start = time.perf_counter()
            self._count_from = start + WARM_UP_S
            self._stop_at = self._count_from + self.seconds
            async with UsageSampler(os.getpid()) as own:
                await asyncio.gather(*(self._client(session, n) for n in range(CLIENTS)))
        return {
            "rps": round(len(self.latencies_ms) / self.seconds, 1),
            "p50_ms": round(percentile(self.latencies_ms, 50), 2),
            "p99_ms": round(percentile(self.latencies_ms, 99), 2),
            "refused": self.refused,
            "client_cpu_percent": round(own.cpu_percent, 1),
        }

    async def _client(self, session: aiohttp.ClientSession, n: int) -> None:
        sent = 0
        while True:
            started = time.perf_counter()
            if started >= self._stop_at:
                return
            sent += 1
            # Italian mobile numbers (33x xxxxxxx): a number of unknown type is logged, per send
            to = f"+3933{n:02d}{sent % 1_000_000:06d}"
            payload = {"apikey": self.key, "to": to, "msg": "bench accept"}
            async with session.post(self.url, json=payload) as response:
                await response.read()
                ok = response.status == 200
            self.completed += 1
            done = time.perf_counter()
            if started >= self._count_from and done <= self._stop_at:
                if ok:
                    self.latencies_ms.append((done - started) * 1000)
                else:
                    self.refused += 1


async def run(seconds: float, profile: Path | None = None) -> dict[str, Any]:
    """Accept rate of modemd, then of the bare endpoint, each for ``seconds``."""
    tmp = workdir()
    key = await create_key(tmp / "modemd.db")
    daemon = Daemon(tmp / "modemd.db", [])
    async with daemon, profiled(daemon.pid, profile), UsageSampler(daemon.pid) as usage:
        load = Load(f"{daemon.url}/api/v1/send", key, seconds)
        commits = await daemon.metric(COMMITS)
        loop_before, others_before = thread_cpu_s(daemon.pid)
        modemd = await load.run()
        loop_after, others_after = thread_cpu_s(daemon.pid)
        commits = await daemon.metric(COMMITS) - commits
    bare = await _bare(seconds)
    cpu_ms = 1000 * usage.cpu_s / max(load.completed, 1)
    per_accept_ms = 1000 / max(load.completed, 1)
    # Every accepted job stays queued (no modems): in the pool's memory and in the database.
    grown_kb = 1024 * (usage.last.rss_mb - usage.first.rss_mb)
    return {
        "accept_rps": modemd["rps"],
        "accept_p50_ms": modemd["p50_ms"],
        "accept_p99_ms": modemd["p99_ms"],
        "accept_refused": modemd["refused"],
        # A commit's fsync is shared by every accept in its group: more per commit, fewer waits.
        "accepts_per_commit": round(load.completed / commits, 2) if commits else None,
        "accept_cpu_percent": round(usage.cpu_percent, 1),
        "accept_client_cpu_percent": modemd["client_cpu_percent"],
        "bare_rps": bare["rps"],
        "bare_p50_ms": bare["p50_ms"],
        "bare_p99_ms": bare["p99_ms"],  # the yardstick of accept_p99_ms: the same client
        "bare_client_cpu_percent": bare["client_cpu_percent"],
        "accept_ratio_vs_bare": round(modemd["rps"] / bare["rps"], 3) if bare["rps"] else None,
        # CPU per request barely moves with the machine's load: 1000 / cpu_ms is the rate one
        # core could sustain if nothing waited (the fsync runs on the store thread meanwhile).
        "accept_cpu_ms": round(cpu_ms, 3),
        # The loop's share and the other threads' (the store's): both need the one GIL.
        "accept_loop_cpu_ms": round((loop_after - loop_before) * per_accept_ms, 3),
        "accept_store_cpu_ms": round((others_after - others_before) * per_accept_ms, 3),
        "bare_cpu_ms": bare["cpu_ms"],
        "accept_cpu_ratio_vs_bare": round(bare["cpu_ms"] / cpu_ms, 3),
        "accept_rss_kb_per_queued_job": round(grown_kb / max(load.completed, 1), 2),
    }


async def _bare(seconds: float) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bare_server", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(BARE_READY_TIMEOUT_S):
            line = (await proc.stdout.readline()).decode()
        url = line.split()[-1]
        load = Load(f"{url}/api/v1/send", "none", seconds)
        async with UsageSampler(proc.pid) as usage:
            result = await load.run()
        return result | {"cpu_ms": round(1000 * usage.cpu_s / max(load.completed, 1), 3)}
    finally:
        proc.terminate()
        await proc.wait()
