"""What the console's overview and a /metrics scrape cost the store thread on a big database:
N jobs over the last 14 days on D devices (one part each, a share failed), then each read the
overview and /metrics make, timed on the store's own thread (every other write waits meanwhile).

    .venv/bin/python bench/console_stats.py [--jobs 200000] [--devices 64]

Prints the median and the worst of 5 runs per read, in ms, and the load average."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from modemd.store import stats
from modemd.store.db import Store, connect

DAY_S = 86400
RUNS = 5


def fill(path: Path, jobs: int, devices: int) -> None:
    """Jobs created over 14 days, each sent by one device; about 5 % failed with an error."""
    db = connect(path)
    conn = db.conn
    rng = random.Random(7)
    now = time.time()
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO api_keys (key_id, prefix, hash, pin, created_at) VALUES (1, 'p', 'h', '1', ?)",
        [now],
    )
    imeis = [f"35000099{n:07d}" for n in range(devices)]
    conn.executemany(
        "INSERT INTO devices (device_id, pin, kind, port, state, signal, first_seen, last_seen) "
        "VALUES (?, '1', 'modem', '/dev/null', 'ready', 20, ?, ?)",
        [(d, now, now) for d in imeis],
    )
    rows, parts = [], []
    for seq in range(1, jobs + 1):
        created = now - 14 * DAY_S * (1 - seq / jobs)
        device = imeis[seq % devices]
        failed = rng.random() < 0.05
        state = "failed" if failed else "delivered"
        job_id = f"job_{seq:012x}"
        rows.append(
            (seq, job_id, created, device, state, "TP-Status 0x45" if failed else None, created)
        )
        parts.append((job_id, device, seq % 256, state, created + 2))
    conn.executemany(
        "INSERT INTO jobs (seq, job_id, key_id, pin, to_number, message, state, device_id, "
        "parts, encoding, error, created_at, updated_at, sent_at, final_at) "
        "VALUES (?, ?, 1, '1', '+393331234567', 'hello', ?, ?, 1, 'gsm7', ?, ?, ?, ?, ?)",
        [(s, j, st, d, e, c, c, c + 2, c + 5) for s, j, c, d, st, e, _ in rows],
    )
    conn.executemany(
        "INSERT INTO job_parts (job_id, part, device_id, mr, state, sent_at) "
        "VALUES (?, 1, ?, ?, ?, ?)",
        parts,
    )
    conn.execute("COMMIT")
    conn.close()


async def timed(store: Store, fn, *args) -> tuple[float, float]:
    spent = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await store.read(fn, *args)
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(spent), max(spent)


async def measure(path: Path) -> None:
    store = Store(path)
    await store.start()
    try:
        now = time.time()
        day = now - now % DAY_S
        days = [(day - k * DAY_S, day - (k - 1) * DAY_S) for k in range(13, -1, -1)]
        mark = await store.read(stats.watermark)
        recent = stats.Watermark(
            mark.jobs_seq - 100, mark.events_seq, mark.attempts_rowid, mark.inbound_id
        )
        reads = {
            "snapshot (overview: with last errors)": (stats.snapshot, day, day - 20 * DAY_S, True),
            "snapshot (/metrics)": (stats.snapshot, day, day - 20 * DAY_S),
            "daily_counts (14 days, first view)": (stats.daily_counts, days),
            "daily_counts (4 recent days, refresh)": (stats.daily_counts, days[-4:]),
            "device_counts (today)": (stats.device_counts, day),
            "activity_since (100 new jobs)": (stats.activity_since, recent),
        }
        for name, (fn, *args) in reads.items():
            median, worst = await timed(store, fn, *args)
            print(f"{name:40s} median {median:8.1f} ms   worst {worst:8.1f} ms")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--devices", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "modemd.db"
        started = time.perf_counter()
        fill(path, args.jobs, args.devices)
        print(
            f"{args.jobs} jobs on {args.devices} devices written in "
            f"{time.perf_counter() - started:.1f} s; load {os.getloadavg()[0]:.1f}"
        )
        asyncio.run(measure(path))


if __name__ == "__main__":
    main()
