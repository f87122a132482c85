"""Dispatch latency: from the client's POST to the emulated network accepting the SMS.

The daemon runs as a subprocess (``modemd serve --device PTY``); the modems are emulated in this
process with zero radio latency, so what is measured is modemd's own path: HTTP accept with
fsync, pool hand-off, AT+CMGS, the "> " prompt, the PDU, +CMGS. Times come from one clock (same
machine). Prints p50/p90/p99 and the ratio to a bare fsync on the same disk.

    .venv/bin/python bench/dispatch_latency.py [--jobs 300] [--modems 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from modemd.drivers.emulator import EmulatedBank


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bare_fsync_ms(directory: Path, rounds: int = 200) -> float:
    path = directory / "fsync.probe"
    with open(path, "wb") as f:
        start = time.perf_counter()
        for _ in range(rounds):
            f.write(b"x" * 256)
            f.flush()
            os.fsync(f.fileno())
        return (time.perf_counter() - start) / rounds * 1000


async def main(jobs: int, modems: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="modemd-bench-"))
    db = tmp / "modemd.db"
    bank = EmulatedBank.create(modems, seed=1, profile_overrides={
        "send_latency_s": (0.0, 0.0), "report_delay_s": 0.0})
    await bank.start()
    key = subprocess.run(
        [sys.executable, "-m", "modemd", "keys", "create", "--pin", "1", "--over-ip",
         "--db", str(db)], check=True, capture_output=True, text=True).stdout.split()[-1]
    args = [arg for m in bank.modems for arg in ("--device", f"{m.port}:1")]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "modemd", "serve", "--db", str(db), "--port", "0", *args,
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL)
    assert proc.stderr is not None
    port = 0
    while not port:
        line = (await proc.stderr.readline()).decode()
        if not line:
            raise SystemExit("daemon exited")
        if match := re.search(r"API listening on http://[\d.]+:(\d+)", line):
            port = int(match.group(1))
    drain = asyncio.create_task(proc.stderr.read())
    latencies: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            for n in range(jobs):
                seen = sum(len(m.accepted) for m in bank.modems)
                start = time.time()
                async with session.post(f"http://127.0.0.1:{port}/api/v1/send", json={
                        "apikey": key, "to": f"+3933300{n:05d}", "msg": "bench"}) as r:
                    assert r.status == 200, await r.text()
                while sum(len(m.accepted) for m in bank.modems) == seen:
                    await asyncio.sleep(0.0005)
                accepted = max((m.accepted[-1] for m in bank.modems if m.accepted),
                               key=lambda a: a.at)
                latencies.append((accepted.at - start) * 1000)
    finally:
        proc.terminate()
        await proc.wait()
        await drain
        await bank.close()
    fsync = bare_fsync_ms(tmp)
    p50, p90, p99 = (percentile(latencies, p) for p in (50, 90, 99))
    print(f"jobs {jobs}, modems {modems}, one at a time")
    print(f"POST -> network accepted (ms): p50 {p50:.1f}  p90 {p90:.1f}  p99 {p99:.1f}  "
          f"mean {statistics.mean(latencies):.1f}")
    print(f"bare fsync on this disk (ms): {fsync:.2f}; p50 / fsync = {p50 / fsync:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--modems", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.jobs, options.modems))
