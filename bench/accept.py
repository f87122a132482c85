"""API accept rate: durable accepts per second at 64 concurrent clients, against a bare endpoint.

The daemon has no modems, so every accepted job stays queued and only the accept path is
measured: parse, key lookup, the fsync'd insert, the answer. The same client load then hits
``bench.bare_server`` (aiohttp answering JSON, nothing stored) on the same machine; the ratio
of the two rates is the price of durability and of modemd's own code. The load comes from
``bench.httpload`` (plain asyncio protocols on uvloop, in its own process: 0.04 ms of CPU a
request where aiohttp's client took 0.2-0.3 ms of the same 2 cores); the targets are read on
it. For one round the old client (aiohttp's, in this process) runs the same load after it, on
both servers, and its rows are printed beside (``*_aiohttp_client``), for the history.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench import httpload
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


class AiohttpLoad:
    """The old client (until round 5): aiohttp's, ``CLIENTS`` sessions in this process."""

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
    """Accept rate of modemd, then of the bare endpoint, each for ``seconds`` per client."""
    tmp = workdir()
    key = await create_key(tmp / "modemd.db")
    daemon = Daemon(tmp / "modemd.db", [])
    async with daemon:
        url = f"{daemon.url}/api/v1/send"
        async with profiled(daemon.pid, profile), UsageSampler(daemon.pid) as usage:
            commits = await daemon.metric(COMMITS)
            loop_before, others_before = thread_cpu_s(daemon.pid)
            modemd = await httpload.in_subprocess(url, key, seconds)
            loop_after, others_after = thread_cpu_s(daemon.pid)
            commits = await daemon.metric(COMMITS) - commits
        old = await _aiohttp_window(daemon.pid, url, key, seconds)
    bare, bare_old = await _bare(seconds)
    completed = max(modemd["completed"], 1)
    cpu_ms = 1000 * usage.cpu_s / completed
    # Every accepted job stays queued (no modems): in the pool's memory and in the database.
    grown_kb = 1024 * (usage.last.rss_mb - usage.first.rss_mb)
    return {
        "accept_rps": modemd["rps"],
        "accept_p50_ms": modemd["p50_ms"],
        "accept_p99_ms": modemd["p99_ms"],
        "accept_refused": modemd["refused"] + modemd["errors"],
        "accept_first_refusal": modemd["first_refusal"],
        # A commit's fsync is shared by every accept in its group: more per commit, fewer waits.
        "accepts_per_commit": round(completed / commits, 2) if commits else None,
        "accept_cpu_percent": round(usage.cpu_percent, 1),
        "accept_client_cpu_percent": modemd["client_cpu_percent"],
        "accept_client_cpu_ms": modemd["client_cpu_ms"],
        "bare_rps": bare["rps"],
        "bare_p50_ms": bare["p50_ms"],
        "bare_p99_ms": bare["p99_ms"],  # the yardstick of accept_p99_ms: the same client
        "bare_refused": bare["refused"] + bare["errors"],
        "bare_client_cpu_percent": bare["client_cpu_percent"],
        "accept_ratio_vs_bare": _ratio(modemd["rps"], bare["rps"]),
        # CPU per request barely moves with the machine's load: 1000 / cpu_ms is the rate one
        # core could sustain if nothing waited (the fsync runs on the store thread meanwhile).
        "accept_cpu_ms": round(cpu_ms, 3),
        # The loop's share and the other threads' (the store's): both need the one GIL.
        "accept_loop_cpu_ms": round((loop_after - loop_before) * 1000 / completed, 3),
        "accept_store_cpu_ms": round((others_after - others_before) * 1000 / completed, 3),
        "bare_cpu_ms": bare["cpu_ms"],
        "accept_cpu_ratio_vs_bare": round(bare["cpu_ms"] / cpu_ms, 3),
        "accept_rss_kb_per_queued_job": round(grown_kb / completed, 2),
        # round 5 only: the old client's figures, for the history of the earlier rounds
        "accept_rps_aiohttp_client": old["rps"],
        "accept_p50_ms_aiohttp_client": old["p50_ms"],
        "accept_p99_ms_aiohttp_client": old["p99_ms"],
        "accept_cpu_ms_aiohttp_client": old["cpu_ms"],
        "accept_client_cpu_percent_aiohttp_client": old["client_cpu_percent"],
        "bare_rps_aiohttp_client": bare_old["rps"],
        "bare_p99_ms_aiohttp_client": bare_old["p99_ms"],
        "accept_ratio_vs_bare_aiohttp_client": _ratio(old["rps"], bare_old["rps"]),
    }


def _ratio(ours: float, bare: float) -> float | None:
    return round(ours / bare, 3) if bare else None


async def _aiohttp_window(pid: int, url: str, key: str, seconds: float) -> dict[str, Any]:
    """The old client's load on ``url``, with the server's CPU per request meanwhile."""
    load = AiohttpLoad(url, key, seconds)
    async with UsageSampler(pid) as usage:
        result = await load.run()
    return result | {"cpu_ms": round(1000 * usage.cpu_s / max(load.completed, 1), 3)}


async def _bare(seconds: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bare endpoint under the light client, then under the old one."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bare_server", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(BARE_READY_TIMEOUT_S):
            line = (await proc.stdout.readline()).decode()
        url = f"{line.split()[-1]}/api/v1/send"
        async with UsageSampler(proc.pid) as usage:
            light = await httpload.in_subprocess(url, "none", seconds)
        light["cpu_ms"] = round(1000 * usage.cpu_s / max(light["completed"], 1), 3)
        return light, await _aiohttp_window(proc.pid, url, "none", seconds)
    finally:
        proc.terminate()
        await proc.wait()


# (key, label, unit, target text, passes): bench/run's table rows of this scenario; the target
# is read on the light client's rows, the old client's are printed beside for round 5
ROWS: list[tuple[str, str, str, str, Callable[[float], bool] | None]] = [
    ("accept_rps", "durable accepts/s, 64 clients", "/s", "", None),
    ("accept_p50_ms", "  accept p50", "ms", "", None),
    ("accept_p99_ms", "  accept p99", "ms", "<= 25", lambda v: v <= 25),
    ("accepts_per_commit", "  accepts per commit (group)", "", "", None),
    ("bare_rps", "bare aiohttp endpoint", "/s", "", None),
    ("bare_p50_ms", "  bare p50", "ms", "", None),
    ("bare_p99_ms", "  bare p99 (the same client)", "ms", "", None),
    ("accept_ratio_vs_bare", "  accepts / bare", "", ">= 0.5", lambda v: v >= 0.5),
    ("accept_cpu_ms", "  daemon CPU per accept", "ms", "", None),
    ("accept_loop_cpu_ms", "    of which the event loop", "ms", "", None),
    ("accept_store_cpu_ms", "    of which the store thread", "ms", "", None),
    ("bare_cpu_ms", "  bare CPU per request", "ms", "", None),
    ("accept_client_cpu_ms", "  client CPU per request", "ms", "", None),
    ("accept_rss_kb_per_queued_job", "  daemon RSS growth per queued job", "KB", "", None),
    ("accept_rps_aiohttp_client", "  old client: accepts/s", "/s", "", None),
    ("accept_p99_ms_aiohttp_client", "    accept p99", "ms", "", None),
    ("bare_p99_ms_aiohttp_client", "    bare p99", "ms", "", None),
    ("accept_ratio_vs_bare_aiohttp_client", "    accepts / bare", "", "", None),
    ("accept_cpu_ms_aiohttp_client", "    daemon CPU per accept", "ms", "", None),
]
