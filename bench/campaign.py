"""Campaigns: a big file validated and queued, and a campaign sharing modems with API sends.

``file``: a daemon with no modems gets an N-row CSV (``to,name``) as the body of
``POST /api/v1/campaigns`` (validation: the report comes back), then ``start`` (queueing: until
every recipient is a job). Measured: both times, and the daemon's RSS growth (peak during the
two steps against its RSS just before the upload).

``mix``: M emulated modems at L seconds per send run an N-row campaign while one API send a
second goes to the same pool. Measured: the campaign's rate against the limit M / L, per modem
as in ``backlog`` (from its first send's start to its last one's, so the ramp-up does not
count), and for each API send the client's 200 -> ``AT+CMGS=`` on the pty of the modem that
sent it (the i-th message a modem's network accepted is its i-th ``AT+CMGS``): its p99 should
stay within one send time L.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import (
    Daemon,
    LineTap,
    Usage,
    UsageSampler,
    create_key,
    emulated_bank,
    percentile,
    profiled,
    wait_until,
    workdir,
)

STEP_TIMEOUT_S = 600.0
API_EVERY_S = 1.0  # one API send a second during the campaign
DRAIN_SLACK_S = 60.0


def write_csv(path: Path, rows: int) -> None:
    """``rows`` distinct Italian mobile numbers with a name."""
    with path.open("w", encoding="utf-8") as f:
        f.write("to,name\n")
        for n in range(rows):
            f.write(f"+39333{n:07d},Name{n}\n")


async def _create(url: str, key: str, path: Path) -> str:
    async with aiohttp.ClientSession() as session:
        with path.open("rb") as body:
            async with session.post(
                f"{url}/api/v1/campaigns?template=Hello%20%7Bname%7D",
                data=body,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
                timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT_S),
            ) as r:
                answer = await r.json()
        assert r.status == 200, answer
        campaign_id: str = answer["campaign"]["campaign_id"]
        async with session.post(
            f"{url}/api/v1/campaigns/{campaign_id}/start",
            headers={"Authorization": f"Bearer {key}"},
        ) as r:
            assert r.status == 200, await r.text()
    return campaign_id


async def _show(session: aiohttp.ClientSession, url: str, key: str, campaign_id: str) -> Any:
    async with session.get(
        f"{url}/api/v1/campaigns/{campaign_id}", headers={"Authorization": f"Bearer {key}"}
    ) as r:
        return (await r.json())["campaign"]


async def run_file(rows: int, profile: Path | None = None) -> dict[str, Any]:
    """Validate and queue a ``rows``-row CSV on a daemon without modems (``profile``: py-spy
    the daemon meanwhile into that file)."""
    tmp = workdir()
    db = tmp / "modemd.db"
    csv_file = tmp / "campaign.csv"
    write_csv(csv_file, rows)
    key = await create_key(db)
    async with Daemon(db, []) as daemon:
        before = Usage.of(daemon.pid).rss_mb
        async with profiled(daemon.pid, profile), UsageSampler(daemon.pid) as usage:
            started = time.perf_counter()
            campaign_id = await _create(daemon.url, key, csv_file)
            validated = time.perf_counter()
            async with aiohttp.ClientSession() as session, asyncio.timeout(STEP_TIMEOUT_S):
                while True:  # polled: the progress route is what a client watches
                    shown = await _show(session, daemon.url, key, campaign_id)
                    if not shown["counts"]["not_queued"]:
                        break
                    await asyncio.sleep(0.05)
            queued = time.perf_counter()
    return {
        "rows": rows,
        "file_mb": round(csv_file.stat().st_size / 1e6, 1),
        "validate_s": round(validated - started, 2),
        "queue_s": round(queued - validated, 2),
        "total_s": round(queued - started, 2),
        "rss_before_mb": round(before, 1),
        "rss_growth_mb": round(usage.peak_rss_mb - before, 1),
    }


async def run_mix(
    modems: int, latency_s: float, rows: int, profile: Path | None = None
) -> dict[str, Any]:
    """A ``rows``-row campaign on ``modems`` modems at ``latency_s``, one API send a second
    (``profile``: py-spy the daemon meanwhile into that file)."""
    tmp = workdir()
    db = tmp / "modemd.db"
    csv_file = tmp / "campaign.csv"
    write_csv(csv_file, rows)
    key = await create_key(db)
    accepted: dict[str, float] = {}
    async with (
        emulated_bank(modems, send_latency_s=(latency_s, latency_s), report_delay_s=0.5) as taps,
        Daemon(db, [t.modem.port for t in taps]) as daemon,
        profiled(daemon.pid, profile),
    ):
        await _create(daemon.url, key, csv_file)
        sender = asyncio.create_task(_api_sends(daemon.url, key, accepted), name="api sends")
        try:
            await wait_until(
                lambda: sum(len(t.accepted_at) for t in taps) >= rows,
                taps[0].changed,
                rows / modems * latency_s * 2 + DRAIN_SLACK_S,
            )
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        await wait_until(lambda: _all_sent(taps, accepted), taps[0].changed, DRAIN_SLACK_S)
    latencies = _api_latencies(taps, accepted)
    return {
        "modems": modems,
        "latency_s": latency_s,
        "rows": rows,
        "ratio": round(_ratio(taps, latency_s), 3),
        "api_sends": len(latencies),
        "api_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "api_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "api_max_ms": round(max(latencies) * 1000, 1),
    }


async def _api_sends(url: str, key: str, accepted: dict[str, float]) -> None:
    """One API send a second (its 200's time by number) until cancelled."""
    async with aiohttp.ClientSession() as session:
        n = 0
        while True:
            to = f"+44770090{n:04d}"
            async with session.post(
                f"{url}/api/v1/send", json={"apikey": key, "to": to, "msg": "code 1234"}
            ) as r:
                assert r.status == 200, await r.text()
            accepted[to] = time.time()
            n += 1
            await asyncio.sleep(API_EVERY_S)


def _all_sent(taps: list[LineTap], accepted: dict[str, float]) -> bool:
    sent = {m.to for t in taps for m in t.modem.accepted}
    return all(to in sent for to in accepted)


def _api_latencies(taps: list[LineTap], accepted: dict[str, float]) -> list[float]:
    """For each API send: its 200 -> the ``AT+CMGS=`` of the modem that sent it."""
    found = []
    for tap in taps:
        for index, message in enumerate(tap.modem.accepted):
            if message.to in accepted and index < len(tap.cmgs_at):
                found.append(tap.cmgs_at[index] - accepted[message.to])
    return found


def _ratio(taps: list[LineTap], latency_s: float) -> float:
    """sum(sends - 1) * L / sum(last start - first start), per modem (see ``backlog``)."""
    sends = sum(max(len(t.cmgs_at) - 1, 0) for t in taps)
    busy = sum(t.cmgs_at[-1] - t.cmgs_at[0] for t in taps if len(t.cmgs_at) > 1)
    return sends * latency_s / busy if busy else 0.0


if __name__ == "__main__":  # a quick look: python -m bench.campaign
    print(asyncio.run(run_file(int(os.environ.get("ROWS", "20000")))))
