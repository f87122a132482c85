"""What the console's overview and a /metrics scrape cost the store thread on a big database:
N jobs over the last 14 days of K keys on D devices, each with its SIM (one part each, a share
failed), to N/4 numbers, N/10 received SMS (a third of them answering a job, each announced by
an IPN), then each read the overview, the inbound page and /metrics make, and a received SMS's
reply match (to a sender with a job, and without), timed on the store's own thread (every
other write waits meanwhile).

    .venv/bin/python bench/console_stats.py [--jobs 200000] [--keys 50] [--devices 64] [--phones 0]

Prints the median and the worst of 5 runs per read, in ms, and the load average."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from modemd.store import inbound, inbound_views, stats
from modemd.store.db import Store, connect
from modemd.store.filters import created_within

DAY_S = 86400
RUNS = 5


def number(seq: int, jobs: int) -> str:
    """The recipient of job ``seq``: ``jobs / 4`` numbers, each sent to four times."""
    return f"+39333{seq % max(jobs // 4, 1):07d}"


def fill(path: Path, jobs: int, devices: int, phones: int, keys: int = 1) -> None:
    """Jobs created over 14 days, each sent by one device; about 5 % failed with an error. The
    last ``phones`` devices have no SIM of their own (no ICCID: their caps count per device)."""
    db = connect(path)
    conn = db.conn
    rng = random.Random(7)
    now = time.time()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO api_keys (key_id, prefix, hash, pin, created_at) VALUES (?, ?, 'h', '1', ?)",
        [(k, f"p{k}", now) for k in range(1, keys + 1)],
    )
    imeis = [f"35000099{n:07d}" for n in range(devices)]
    iccids = {d: f"893900{n:013d}" if n < devices - phones else "" for n, d in enumerate(imeis)}
    conn.executemany(
        "INSERT INTO devices (device_id, pin, kind, port, state, signal, iccid, first_seen, "
        "last_seen) VALUES (?, '1', ?, '/dev/null', 'ready', 20, ?, ?, ?)",
        [(d, "modem" if iccids[d] else "phone", iccids[d], now, now) for d in imeis],
    )
    rows, parts, numbers = [], [], []
    for seq in range(1, jobs + 1):
        created = now - 14 * DAY_S * (1 - seq / jobs)
        device = imeis[seq % devices]
        failed = rng.random() < 0.05
        state = "failed" if failed else "delivered"
        job_id = f"job_{seq:012x}"
        rows.append(
            (seq, job_id, created, device, state, "TP-Status 0x45" if failed else None, created)
        )
        numbers.append((seq % keys + 1, number(seq, jobs)))
        parts.append((job_id, device, seq % 256, state, created + 2, iccids[device]))
    conn.executemany(
        "INSERT INTO jobs (seq, job_id, key_id, pin, to_number, message, state, device_id, "
        "parts, encoding, error, created_at, updated_at, sent_at, final_at) "
        "VALUES (?, ?, ?, '1', ?, 'hello', ?, ?, 1, 'gsm7', ?, ?, ?, ?, ?)",
        [
            (s, j, k, to, st, d, e, c, c, c + 2, c + 5)
            for (s, j, c, d, st, e, _), (k, to) in zip(rows, numbers, strict=True)
        ],
    )
    conn.executemany(
        "INSERT INTO job_parts (job_id, part, device_id, mr, state, sent_at, iccid) "
        "VALUES (?, 1, ?, ?, ?, ?, ?)",
        parts,
    )
    # Each SIM's parts per day, as the sends' own commits count them (store.pacing.count_sent)
    # and as migration 024 counted those of a database from before.
    conn.execute(
        "INSERT INTO sim_days (iccid, device_id, day, parts) "
        "SELECT iccid, CASE WHEN iccid = '' THEN device_id ELSE '' END, "
        "date(sent_at, 'unixepoch', 'localtime'), COUNT(*) FROM job_parts "
        "GROUP BY 1, 2, 3"
    )
    fill_inbound(conn, rows[::10], rng, jobs)
    conn.execute("COMMIT")
    conn.close()


def fill_inbound(conn: Any, jobs: list[tuple], rng: random.Random, count: int) -> None:
    """One received SMS per job given (a third answer it), each with its sms.received IPN."""
    messages, events = [], []
    for n, (seq, job_id, created, device, *_rest) in enumerate(jobs, start=1):
        reply = job_id if n % 3 == 0 else None
        sender = number(seq, count) if reply else f"+3934{rng.randrange(10**8):08d}"
        messages.append((n, f"k{n}", device, sender, f"text {n}", created + 60, reply))
        body = json.dumps({"type": "sms.received", "data": {"id": n}})
        events.append((f"evt_in{n}", reply or f"inbound:{n}", body, created + 60))
    conn.executemany(
        "INSERT INTO inbound (inbound_id, natural_key, pin, device_id, sender, text, encoding, "
        "parts, received_at, reply_to_job_id) VALUES (?, ?, '1', ?, ?, ?, 'gsm7', 1, ?, ?)",
        messages,
    )
    conn.executemany(
        "INSERT INTO events (event_id, job_id, key_id, type, payload, state, next_attempt_at, "
        "created_at) VALUES (?, ?, 1, 'sms.received', ?, 'delivered', 0, ?)",
        events,
    )


async def timed(store: Store, fn, *args) -> tuple[float, float]:
    spent = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await store.read(fn, *args)
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(spent), max(spent)


# The reply match before migration 029 (``jobs_pin_to``): the window's jobs of every key
def _match_before(db: Any, pin: str, sender: str, now: float) -> Any:
    window, values = created_within(now - inbound.REPLY_WINDOW_S, None)
    return db.execute(
        f"SELECT job_id, key_id FROM jobs WHERE pin = ? AND to_number = ? AND {window} "
        "AND state NOT IN ('queued', 'failed') ORDER BY seq DESC LIMIT 1",
        [pin, sender, *values],
    ).fetchone()


async def measure(path: Path, jobs: int) -> None:
    store = Store(path)
    await store.start()
    try:
        now = time.time()
        match = getattr(inbound, "reply_to", _match_before)
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
            "inbound_page (newest 50)": (inbound_views.inbound_page,),
            "inbound_page (sender digits)": (
                lambda db: inbound_views.inbound_page(db, sender="1234"),
            ),
            "reply match (a job to the sender)": (match, "1", number(jobs - 7, jobs), now),
            "reply match (no job to the sender)": (match, "1", "+393400000000", now),
        }
        for name, (fn, *args) in reads.items():
            median, worst = await timed(store, fn, *args)
            print(f"{name:40s} median {median:8.1f} ms   worst {worst:8.1f} ms")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--phones", type=int, default=0, help="devices without an ICCID")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "modemd.db"
        started = time.perf_counter()
        fill(path, args.jobs, args.devices, args.phones, args.keys)
        print(
            f"{args.jobs} jobs of {args.keys} keys on {args.devices} devices written in "
            f"{time.perf_counter() - started:.1f} s; load {os.getloadavg()[0]:.1f}"
        )
        asyncio.run(measure(path, args.jobs))


if __name__ == "__main__":
    main()
