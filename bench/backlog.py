"""Backlog throughput: N modems at L seconds per send, with more jobs queued than they can take.

The backlog is loaded first through the API of a daemon with no modems, which is then stopped;
a second daemon on the same database opens the N modems and finds the jobs queued. At the pty
each modem's sends are stamped: start = ``AT+CMGS=`` arriving, end = the network's ``+CMGS``.
The physical limit is N / L parts per second. While the backlog lasts a modem should start its
next send the moment the last one ended, so the achieved rate is measured per modem from its
first send's start to its last send's start (attach order does not count), summed over modems:

    ratio = sum(sends - 1) * L / sum(last start - first start)

With a ``spread``, each send's time at the network is drawn (seeded) uniformly within
L * (1 +- spread), as on real networks (2-6 s, no two alike), and the ideal is the sum of the
drawn times that a modem's sends took (from each PDU's Ctrl-Z to its ``+CMGS`` at the pty):

    ratio = sum(network time of each send but the last) / sum(last start - first start)

Without one (the lockstep variant, as in rounds 1-4), every send takes exactly L, so modems that
start together end together, in bursts.

The largest gap is the longest time any modem waited between one send's end and its next start.
The wall ratio (all jobs / (last end - first start) against N / L) also counts the start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import host, stall_table
from bench.harness import (
    Daemon,
    LineTap,
    OwnLag,
    UsageSampler,
    create_key,
    daemon_lateness,
    emulated_bank,
    lag_summary,
    percentile,
    profiled,
    thread_cpu_s,
    wait_until,
    workdir,
)
from bench.timeline import CpuWait, Stalls, TimelineTap, classify
from bench.timeline import summary as timeline_summary
from bench.waits import Sends, dry_at, waits, written

LOADERS = 32  # concurrent clients filling the backlog
REPORT_DELAY_S = 0.5  # status reports arrive during the run, as they would on a network
DRAIN_SLACK_S = 60.0  # on top of the ideal drain time before the run is given up
COMMITS = "modemd_store_commit_seconds_count"  # the daemon's group commits so far


async def run(
    modems: int,
    latency_s: float,
    rounds: int,
    profile: Path | None = None,
    *,
    timeline: bool = False,
    spread: float = 0.0,
    stall_trace: bool = False,
) -> dict[str, Any]:
    """Drain ``modems * rounds`` jobs through ``modems`` modems taking ``latency_s`` per send
    (drawn within ``latency_s * (1 +- spread)``); ``timeline``: also where the wait between two
    sends goes (``bench.timeline``); ``stall_trace``: the daemon keeps a stall trace, and the
    largest gaps are listed with what overlapped each (``bench.stall_table``)."""
    jobs = modems * rounds
    async with loaded(modems, latency_s, jobs, spread) as (db, taps):
        trace = db.with_name("stalls.json")
        daemon = Daemon(
            db,
            [t.modem.port for t in taps],
            env={"MODEMD_STALL_TRACE": str(trace)} if stall_trace else None,
        )
        timelines = [TimelineTap(t) for t in taps] if timeline else []
        async with (
            daemon,
            profiled(daemon.pid, profile),
            UsageSampler(daemon.pid) as usage,
            UsageSampler(os.getpid()) as own,
            OwnLag() as own_lag,
            Stalls() if timeline else contextlib.nullcontext() as stalls,
        ):
            ready = time.time()  # its API listens (the samplers above started meanwhile)
            late_before = await daemon_lateness(daemon, COMMITS)  # one scrape each side
            threads_before = thread_cpu_s(daemon.pid)
            begun = [len(t.cmgs_at) for t in taps]  # sends begun before the window
            done_before = sum(len(t.modem.accepted) for t in taps)  # ... and ended
            cpu_wait = CpuWait(daemon.pid, os.getpid())
            await wait_until(
                lambda: sum(len(t.modem.accepted) for t in taps) >= jobs,  # no list per look
                taps[0].changed,
                rounds * latency_s * 3 + DRAIN_SLACK_S,
            )
            loop_after, others_after = thread_cpu_s(daemon.pid)
            loop_s, others_s = loop_after - threads_before[0], others_after - threads_before[1]
            late_after = await daemon_lateness(daemon, COMMITS)
            lag = lag_summary(late_before, late_after, own_lag)
            waits = cpu_wait.per_send_ms(jobs)
            commits = late_after[COMMITS] - late_before[COMMITS]
            nices = host.setup(daemon.pid)
            drained = time.time()
        if timelines:
            lag["timeline"] = timeline_summary(timelines) | waits
            assert isinstance(stalls, Stalls)
            lag["timeline"]["slow_waits"] = classify(timelines, stalls)
        network = [t.network_s() for t in taps] if spread else None
        windows = [
            Window(t.cmgs_at[c:], t.accepted_at[c:], t.command_heads)
            for t, c in zip(taps, begun, strict=True)
        ]
        in_window = summary(
            windows,
            latency_s,
            jobs,
            [n[c:] for n, c in zip(network, begun, strict=True)] if network else None,
        )
        sends = max(1, jobs - done_before)  # the daemon's CPU is read around these
        largest = largest_gap(taps)
        if stall_trace:
            shift = stall_table.offset()
            lag["stall_table"] = stall_table.stall_table(taps, trace, shift)
            lag["stall_window"] = stall_table.window(trace, shift, ready, drained)
            lag["stall_trace"] = str(trace)  # kept with the run's database
        return (
            lag
            | summary(taps, latency_s, jobs, network)
            | turn_gaps(taps, latency_s, jobs)
            | line_counts(taps, jobs)
            | nices
            | {f"{k}_window": v for k, v in waits.items()}  # schedstat over the window
            | {
                # the sends begun once the daemon was ready (many modems: many begin before)
                "ratio_in_window": in_window["ratio"],
                "gap_max_ms_in_window": in_window["gap_max_ms"],
                # when the largest gap ended, from the daemon's ready (its API listening);
                # negative: in its start-up (the first modems open send while others open)
                "gap_max_from_ready_s": round(largest["ended_at"] - ready, 3),
                # which of its modem's waits (the last: the backlog's end), what the host
                # wrote in it, and the largest gap before any modem ran dry and after
                "gap_max_wait": [largest["wait"], largest["waits"]],
                "gap_max_commands": largest["commands"],
                "gap_max_ms_before_dry": largest["ms_before_dry"],
                "gap_max_ms_after_dry": largest["ms_after_dry"],
                "sent_before_window": done_before,
                "cpu_percent": round(usage.cpu_percent, 1),
                # the daemon's threads from ready (after a /metrics scrape) to the last send,
                # over the sends that ended meanwhile
                "cpu_ms_per_send": round(1000 * (loop_s + others_s) / sends, 3),
                # of which the event loop's thread, and the others (the store's thread)
                "loop_cpu_ms_per_send": round(1000 * loop_s / sends, 3),
                "threads_cpu_ms_per_send": round(1000 * others_s / sends, 3),
                # rounds 1-4's figure: the process from ready, the scrapes around the window
                # included (0.1-0.2 s of CPU each with 256 devices), over every job
                "cpu_ms_per_send_all_jobs": round(1000 * usage.cpu_s / jobs, 3),
                "bench_cpu_percent": round(own.cpu_percent, 1),  # emulated modems + this harness
                "bench_cpu_ms_per_send": round(1000 * own.cpu_s / sends, 3),
                "rss_mb_peak": round(usage.peak_rss_mb, 1),
                "rss_mb_over_time": usage.rss_mb_over_time(),  # from ready (s, MB)
                "commits_per_send": round(commits / sends, 3),  # the store's group commits
                "spread": spread,
            }
        )


@asynccontextmanager
async def loaded(
    modems: int, latency_s: float, jobs: int, spread: float = 0.0
) -> AsyncIterator[tuple[Path, list[LineTap]]]:
    """A database with ``jobs`` queued (through the API of a daemon without modems, stopped
    since) and ``modems`` emulated modems at ``latency_s`` per send (within ``1 +- spread``
    of it), not opened yet."""
    db = workdir() / "modemd.db"
    key = await create_key(db)
    async with Daemon(db, []) as loader:
        await load_backlog(loader, key, jobs)
    async with emulated_bank(
        modems,
        send_latency_s=(latency_s * (1 - spread), latency_s * (1 + spread)),
        report_delay_s=REPORT_DELAY_S,
    ) as taps:
        yield db, taps


async def load_backlog(daemon: Daemon, key: str, jobs: int) -> None:
    """POST ``jobs`` jobs with ``LOADERS`` concurrent clients."""
    numbers = iter(range(jobs))
    url = f"{daemon.url}/api/v1/send"

    async def client(session: aiohttp.ClientSession) -> None:
        for n in numbers:
            payload = {"apikey": key, "to": f"+39333{n:07d}", "msg": "bench backlog"}
            async with session.post(url, json=payload) as response:
                if response.status != 200:
                    raise RuntimeError(f"send refused: {response.status} {await response.text()}")

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(LOADERS)))


@dataclass(frozen=True)
class Window:
    """One modem's sends from some moment on (the shape ``summary`` reads)."""

    cmgs_at: list[float]
    accepted_at: list[float]
    command_heads: list[tuple[float, bytes]] = field(default_factory=list)


def summary(
    taps: Sequence[Sends],
    latency_s: float,
    jobs: int,
    network: Sequence[list[float]] | None = None,
) -> dict[str, Any]:
    """Ratio to the physical limit per modem, the wall ratio and the gaps (module docstring);
    ``network``: each tap's sends' own times at the network (else each took ``latency_s``)."""
    busy = 0
    ideal_s = 0.0
    span = 0.0
    for k, tap in enumerate(taps):
        starts = tap.cmgs_at
        if len(starts) >= 2:
            busy += len(starts) - 1
            counted = len(starts) - 1  # each send but the last, whose end is past the span
            ideal_s += latency_s * counted if network is None else sum(network[k][:counted])
            span += starts[-1] - starts[0]
    gaps = [wait.s for wait in waits(taps)]
    first = min(t.cmgs_at[0] for t in taps if t.cmgs_at)
    last = max(t.accepted_at[-1] for t in taps if t.accepted_at)
    ideal = len(taps) / latency_s
    return {
        "modems": len(taps),
        "latency_s": latency_s,
        "jobs": jobs,
        "ratio": round(ideal_s / span, 4) if span else float("nan"),
        "ratio_wall": round(jobs / (last - first) / ideal, 4),
        "parts_per_s": round(busy / span * len(taps), 1) if span else float("nan"),
        "limit_parts_per_s": round(ideal, 1),
        "gap_p50_ms": round(percentile(gaps, 50) * 1000, 1),
        "gap_p99_ms": round(percentile(gaps, 99) * 1000, 1),  # issue 21: <= 10 ms
        "gap_max_ms": round(max(gaps, default=float("nan")) * 1000, 1),
        # the sends' own times at the network, on average (the spread keeps the nominal mean)
        "network_mean_s": round(ideal_s / busy, 4) if busy else float("nan"),
    }


def largest_gap(taps: Sequence[Sends]) -> dict[str, Any]:
    """Where the largest gap between two sends of a modem lay (issue 21: <= 10 ms):
    ``ended_at`` (NaN without a gap); ``wait`` of ``waits``, which of that modem's waits it was
    (the last: before its final send, at the backlog's end); ``commands``, what the host wrote
    in it (a stored report's read, a free, a listing); and the largest gap before any modem ran
    dry and from then on (``ms_before_dry``, ``ms_after_dry``: once the first modem's last send
    ended the pool's line was empty, and what a modem waits for is the backlog's end)."""
    every = waits(taps)
    if not every:
        return {"ended_at": float("nan"), "wait": None, "waits": None, "commands": [],
                "ms_before_dry": float("nan"), "ms_after_dry": float("nan")}  # fmt: skip
    dry = dry_at(taps)
    longest = max(every, key=lambda w: w.s)
    before = [w.s for w in every if w.end < dry]
    after = [w.s for w in every if w.end >= dry]
    return {
        "ended_at": longest.next,
        "wait": longest.k,
        "waits": longest.of,
        "commands": written(taps[longest.modem], longest),
        "ms_before_dry": round(max(before, default=float("nan")) * 1000, 1),
        "ms_after_dry": round(max(after, default=float("nan")) * 1000, 1),
    }


def turn_gaps(taps: Sequence[LineTap], latency_s: float, jobs: int) -> dict[str, Any]:
    """The gaps with each ``AT+CMGS=`` stamped at the first read of the turn that read it
    (``bench.turns``): never shorter than the real gap, without the time this process's loop
    spent on the other modems of that turn first."""
    turn = summary([Window(t.cmgs_turn_at, t.accepted_at) for t in taps], latency_s, jobs)
    return {f"{key}_turn": turn[key] for key in ("gap_p50_ms", "gap_p99_ms", "gap_max_ms")}


def line_counts(taps: Sequence[LineTap], jobs: int) -> dict[str, Any]:
    """AT command lines and host writes per part sent (reports read and freed included)."""
    return {
        "commands_per_send": round(sum(t.commands for t in taps) / max(1, jobs), 2),
        "host_writes_per_send": round(sum(t.host_writes for t in taps) / max(1, jobs), 2),
    }
