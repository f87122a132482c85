"""Dispatch overhead and IPN latency, one job at a time on idle modems.

Per job: POST /api/v1/send; the client's 200 -> ``AT+CMGS=`` arriving on the pty (dispatch);
the ``+CDS`` status report written to the pty -> the ``sms.delivered`` IPN arriving at a
listener in this process (IPN). The radio answers at once (send latency 0) and reports after
``REPORT_DELAY_S``, so only modemd's own path is measured. Jobs rotate over a few modems (the
pool hands a job to the longest-idle one), and the next job is posted only after the last one's
IPN arrived: every job meets an idle modem.
"""

from __future__ import annotations

import asyncio
import operator
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import (
    Daemon,
    LineTap,
    UsageSampler,
    create_key,
    emulated_bank,
    percentile,
    profiled,
    wait_until,
    workdir,
)
from bench.inbound import event_time
from modemd.api.listener import start_listener

STEP_TIMEOUT_S = 3.0  # one job's send or IPN; far above anything seen
# A +CDS routed directly (the fallback when a modem refuses stored reports) that arrives before
# modemd committed the job as sent matches no part, and its IPN never comes: a race in the
# daemon, seen with a 0 s delay. The report comes just behind the send, as on a network.
REPORT_DELAY_S = 0.02
DELIVERED = "sms.delivered"


async def run(jobs: int, modems: int, profile: Path | None = None) -> dict[str, Any]:
    """Measure ``jobs`` sequential jobs over ``modems`` idle modems."""
    tmp = workdir()
    ipn_at: dict[str, float] = {}
    written: dict[str, float] = {}  # job -> its sms.delivered event's timestamp
    async with emulated_bank(
        modems, send_latency_s=(0.0, 0.0), report_delay_s=REPORT_DELAY_S
    ) as taps:
        changed = taps[0].changed

        def on_ipn(body: dict[str, Any], _headers: dict[str, str]) -> None:
            job_id = (body.get("data") or {}).get("job_id")
            if body.get("type") == DELIVERED and job_id:
                ipn_at[job_id] = time.time()
                written[job_id] = event_time(body)
                changed.set()

        listener, ipn_port = await start_listener(on_ipn)
        try:
            key = await create_key(tmp / "modemd.db", f"http://127.0.0.1:{ipn_port}/ipn")
            async with Daemon(tmp / "modemd.db", [t.modem.port for t in taps]) as daemon:
                await _warm_up(daemon, key)
                async with profiled(daemon.pid, profile), UsageSampler(daemon.pid) as usage:
                    result = await _measure(daemon, key, taps, (ipn_at, written), jobs)
        finally:
            await listener.cleanup()
    result["dispatch_cpu_percent"] = round(usage.cpu_percent, 1)
    return result


async def _warm_up(daemon: Daemon, key: str) -> None:
    """One job first, so imports and connections made on first use are not measured."""
    async with aiohttp.ClientSession() as session:
        await _post(session, daemon, key, 0)
    await asyncio.sleep(0.5)


async def _post(session: aiohttp.ClientSession, daemon: Daemon, key: str, n: int) -> str:
    payload = {"apikey": key, "to": f"+39333{n:07d}", "msg": "bench dispatch"}
    async with session.post(f"{daemon.url}/api/v1/send", json=payload) as response:
        answer = await response.json()
        if response.status != 200:
            raise RuntimeError(f"send refused: {response.status} {answer}")
        return str(answer["job_id"])


def _cmgs_counts(taps: list[LineTap]) -> list[int]:
    return [len(t.cmgs_at) for t in taps]


def _moved_from(taps: list[LineTap], before: list[int]) -> Callable[[], bool]:
    """True once some modem saw an AT+CMGS= since ``before`` was counted."""
    return lambda: _cmgs_counts(taps) != before


async def _measure(
    daemon: Daemon,
    key: str,
    taps: list[LineTap],
    ipns: tuple[dict[str, float], dict[str, float]],
    jobs: int,
) -> dict[str, Any]:
    """``ipns``: each job's delivered IPN arrival and its event's timestamp, as they come."""
    ipn_at, written = ipns
    changed = taps[0].changed
    dispatch_ms: list[float] = []
    accept_ms: list[float] = []
    ipn_ms: list[float] = []
    ipn_side_ms: list[float] = []  # the event's timestamp -> the POST (commit + IPN sender)
    missing_ipn = 0
    async with aiohttp.ClientSession() as session:
        for n in range(1, jobs + 1):
            before = _cmgs_counts(taps)
            reports = [len(t.cds_at) for t in taps]
            posted = time.time()
            job_id = await _post(session, daemon, key, n)
            answered = time.time()
            accept_ms.append((answered - posted) * 1000)
            await wait_until(_moved_from(taps, before), changed, STEP_TIMEOUT_S)
            tap = next(t for t, b in zip(taps, before, strict=True) if len(t.cmgs_at) > b)
            dispatch_ms.append((tap.cmgs_at[-1] - answered) * 1000)
            try:
                await wait_until(
                    partial(operator.contains, ipn_at, job_id), changed, STEP_TIMEOUT_S
                )
            except TimeoutError:
                missing_ipn += 1
                continue
            cds = tap.cds_at[reports[taps.index(tap)] :]
            if cds:
                ipn_ms.append((ipn_at[job_id] - cds[0]) * 1000)
                ipn_side_ms.append((ipn_at[job_id] - written[job_id]) * 1000)
    return {
        "dispatch_jobs": jobs,
        "dispatch_p50_ms": round(percentile(dispatch_ms, 50), 2),
        "dispatch_p99_ms": round(percentile(dispatch_ms, 99), 2),
        "dispatch_max_ms": round(max(dispatch_ms), 2),
        "accept_single_p50_ms": round(percentile(accept_ms, 50), 2),
        "ipn_p50_ms": round(percentile(ipn_ms, 50), 2),
        "ipn_p99_ms": round(percentile(ipn_ms, 99), 2),
        "ipn_event_to_post_p50_ms": round(percentile(ipn_side_ms, 50), 2),
        "ipn_event_to_post_p99_ms": round(percentile(ipn_side_ms, 99), 2),
        "ipn_missing": missing_ipn,
    }
