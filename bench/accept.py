"""API accept rate: durable accepts per second at 64 concurrent clients, against a bare endpoint.

The daemon has no modems, so every accepted job stays queued and only the accept path is
measured: parse, key lookup, the fsync'd insert, the answer. The same client load then hits
``bench.bare_server`` (aiohttp answering JSON, nothing stored) on the same machine; the ratio
of the two rates is the price of durability and of modemd's own code. The load comes from
``bench.httpload`` (plain asyncio protocols on uvloop, in its own process: 0.04 ms of CPU a
request where aiohttp's client took 0.2-0.3 ms of the same 2 cores); the targets are read on
it (round 5's old client, aiohttp's, is gone; the README's round 5 tables keep its rows).

A third pass gives the daemon a pool of ``POOL_DEVICES`` emulated modems, each held in one
send that outlasts the run: every accepted job still queues, but each answer now lists the
pool's devices (its ``records``, 5.6 KB of JSON for 64) as a gateway in use answers, so the
bench sees what a pool costs an accept (``Bank.offers``, the records).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import httpload
from bench.harness import (
    Daemon,
    UsageSampler,
    create_key,
    emulated_bank,
    profiled,
    thread_cpu_s,
    workdir,
)

CLIENTS = 64
WARM_UP_S = 1.0  # requests started before this are not counted
BARE_READY_TIMEOUT_S = 30.0
COMMITS = "modemd_store_commit_seconds_count"
POOL_DEVICES = 64  # the third pass's pool: each answer lists them all
POOL_SEND_S = 3600.0  # each of its modems' one send: longer than the run (and the daemon's
# CMGS timeout): none takes a second job, the pool is busy and every accept queues its job


async def run(seconds: float, profile: Path | None = None) -> dict[str, Any]:
    """Accept rate of modemd, then of the bare endpoint, then of modemd with a busy pool of
    devices, each for ``seconds`` per client."""
    tmp = workdir()
    key = await create_key(tmp / "modemd.db")
    async with Daemon(tmp / "modemd.db", []) as daemon:
        modemd, usage, loop_cpu_s, store_cpu_s, commits = await _measure(
            daemon, key, seconds, profile
        )
    bare = await _bare(seconds)
    pool = await _with_pool(seconds, profile)
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
        "accept_loop_cpu_ms": round(loop_cpu_s * 1000 / completed, 3),
        "accept_store_cpu_ms": round(store_cpu_s * 1000 / completed, 3),
        "bare_cpu_ms": bare["cpu_ms"],
        "accept_cpu_ratio_vs_bare": round(bare["cpu_ms"] / cpu_ms, 3),
        "accept_rss_kb_per_queued_job": round(grown_kb / completed, 2),
        **pool,
    }


async def _measure(
    daemon: Daemon, key: str, seconds: float, profile: Path | None
) -> tuple[dict[str, Any], UsageSampler, float, float, float]:
    """The client's load on ``daemon``: its summary, the daemon's usage, the loop's and the
    other threads' CPU seconds, and the store's commits meanwhile."""
    url = f"{daemon.url}/api/v1/send"
    async with profiled(daemon.pid, profile), UsageSampler(daemon.pid) as usage:
        commits = await daemon.metric(COMMITS)
        loop_before, others_before = thread_cpu_s(daemon.pid)
        load = await httpload.in_subprocess(url, key, seconds)
        loop_after, others_after = thread_cpu_s(daemon.pid)
        commits = await daemon.metric(COMMITS) - commits
    return load, usage, loop_after - loop_before, others_after - others_before, commits


async def _with_pool(seconds: float, profile: Path | None) -> dict[str, Any]:
    """The accepts again with ``POOL_DEVICES`` busy modems in the key's pool."""
    tmp = workdir()
    key = await create_key(tmp / "modemd.db")
    pool_profile = None if profile is None else profile.with_name(f"{profile.stem}-pool.txt")
    async with (
        emulated_bank(POOL_DEVICES, send_latency_s=(POOL_SEND_S, POOL_SEND_S)) as taps,
        Daemon(tmp / "modemd.db", [t.modem.port for t in taps]) as daemon,
    ):
        load, usage, loop_cpu_s, store_cpu_s, _ = await _measure(daemon, key, seconds, pool_profile)
        for tap in taps:  # the sends in flight end (unknown): the daemon stops at once
            tap.modem.unplug()
    completed = max(load["completed"], 1)
    return {
        "pool_devices": POOL_DEVICES,
        "pool_accept_rps": load["rps"],
        "pool_accept_p50_ms": load["p50_ms"],
        "pool_accept_p99_ms": load["p99_ms"],
        "pool_accept_refused": load["refused"] + load["errors"],
        "pool_accept_cpu_ms": round(1000 * usage.cpu_s / completed, 3),
        "pool_accept_loop_cpu_ms": round(loop_cpu_s * 1000 / completed, 3),
        "pool_accept_store_cpu_ms": round(store_cpu_s * 1000 / completed, 3),
        "pool_accept_client_cpu_ms": load["client_cpu_ms"],
    }


def _ratio(ours: float, bare: float) -> float | None:
    return round(ours / bare, 3) if bare else None


async def _bare(seconds: float) -> dict[str, Any]:
    """The bare endpoint under the same client."""
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
        return light
    finally:
        proc.terminate()
        await proc.wait()


# (key, label, unit, target text, passes): bench/run's table rows of this scenario
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
    ("pool_accept_rps", "accepts/s, a busy pool of 64 devices", "/s", "", None),
    ("pool_accept_p99_ms", "  its p99", "ms", "", None),
    ("pool_accept_cpu_ms", "  its daemon CPU per accept", "ms", "", None),
    ("pool_accept_loop_cpu_ms", "    of which the event loop", "ms", "", None),
    ("pool_accept_client_cpu_ms", "  its client CPU per request", "ms", "", None),
]
