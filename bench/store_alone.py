"""The store's work for one send alone, through the daemon's own Store (its thread, its group
commit, ``synchronous=FULL``) on a real file: the claim, the record of the send with the claim
of the next job, and the status report, each awaited (one write per commit, as on an idle
bank), or ``--concurrent`` devices at once (several writes per commit, as on a busy one).

Printed: the store thread's CPU per send (from /proc: user + system, the fsyncs' system time
included) and the process's, the wall time per send, and with ``--statements`` the thread CPU
of each statement the store ran (the larger ones first); with ``--pages`` (checkpoints off for
the run) the WAL frames per send and the table or index each frame's page belongs to. Compare
two snapshots by running each from its own directory, alternately: only ratios within one
sitting mean anything.

    .venv/bin/python -m bench.store_alone [--sends 1500] [--concurrent 1] [--statements] [--pages]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import percentile
from modemd.model import (
    DeliveryOutcome,
    DeliveryReport,
    DeviceInfo,
    DeviceKind,
    DeviceState,
    Job,
    SentPart,
)
from modemd.store import devices, dispatch, jobs, keys, reports
from modemd.store.db import Store

PIN = "bench"
SIGNAL = 20


class _Timed:
    """A connection whose ``execute`` adds each statement's thread CPU to ``stats``."""

    def __init__(self, conn: sqlite3.Connection, stats: dict[str, list[float]]) -> None:
        self._conn = conn
        self._stats = stats

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        started = time.thread_time()
        cursor = self._conn.execute(sql, params)
        entry = self._stats[" ".join(sql.split())[:70]]
        entry[0] += 1
        entry[1] += time.thread_time() - started
        return cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _thread_cpu_s(native_id: int) -> float:
    """User + system CPU of one of this process's threads (clock ticks from /proc)."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WAL_HEADER = 32  # bytes before the first frame (sqlite.org/fileformat.html, "WAL File Format")
FRAME_HEADER = 24  # a frame: page number (4 bytes, big-endian), commit size (4), salts, checksums


def _wal_pages(db: Any, wal: Path) -> tuple[int, int, dict[str, int]]:
    """Frames in ``wal`` (checkpoints off for the run), commits among them, and frames per
    table or index (dbstat maps a page to its b-tree)."""
    page_size = db.conn.execute("PRAGMA page_size").fetchone()[0]
    owner = dict(db.conn.execute("SELECT pageno, name FROM dbstat"))
    frames = commits = 0
    tally: collections.Counter[str] = collections.Counter()
    with wal.open("rb") as file:
        file.seek(WAL_HEADER)
        while header := file.read(FRAME_HEADER):
            if len(header) < FRAME_HEADER:
                break
            page, size = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
            frames += 1
            commits += size != 0
            tally[owner.get(page, "(free or other)")] += 1
            file.seek(page_size, os.SEEK_CUR)
    return frames, commits, dict(tally.most_common())


def _seed(db: Any, sends: int, devs: list[str]) -> list[Job]:
    key, _ = keys.create_key(db, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None)
    for n, device_id in enumerate(devs):  # a modem holds a SIM: its parts are counted by ICCID
        iccid = f"89390100{n:011d}"
        info = DeviceInfo(device_id, PIN, DeviceKind.MODEM, f"/dev/{device_id}", iccid=iccid)
        devices.upsert_device(db, info, DeviceState.READY)
    return [
        jobs.insert_job(
            db,
            key_id=key.key_id,
            pin=PIN,
            to=f"+39333{n:07d}",
            message="bench",
            parts=1,
            encoding="gsm7",
        )
        for n in range(sends + len(devs))
    ]


async def _device(store: Store, device_id: str, queue: list[Job], sends: int) -> None:
    """Claim, then ``sends`` times: record the send with the next claim, then its report."""
    first = queue.pop(0)
    current = await store.write(dispatch.claim_for, first.job_id, device_id, SIGNAL, first)
    assert current is not None
    for n in range(sends):
        mr = n % 256
        nxt = [queue.pop(0)] if n < sends - 1 else []
        sent, claimed = await store.write(
            dispatch.record_sent_and_claim, current, [SentPart(1, mr)], SIGNAL, nxt
        )
        report = DeliveryReport(mr, sent.to, DeliveryOutcome.DELIVERED, "ok", 0)
        await store.write(reports.apply_report, device_id, report)
        if claimed:
            current = claimed[0]


async def run(sends: int, concurrent: int, statements: bool, pages: bool) -> dict[str, Any]:
    """``sends`` sends spread over ``concurrent`` devices; the figures per send."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = Store(path)
        await store.start()
        stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        commits: list[float] = []  # each commit's BEGIN -> COMMIT done, in the measured window
        devs = [f"dev{n}" for n in range(concurrent)]
        queue = await store.write(_seed, sends, devs)
        if pages:  # every frame stays in the WAL; counted from its start
            await store.read(lambda db: db.conn.execute("PRAGMA wal_autocheckpoint=0"))
            await store.read(lambda db: db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
        if statements:
            await store.write(lambda db: setattr(db, "conn", _Timed(db.conn, stats)))
        thread = store._thread
        assert thread is not None and thread.native_id is not None
        per_device = sends // concurrent
        store_before = _thread_cpu_s(thread.native_id)
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        store.on_commit_seconds.append(commits.append)
        started = time.perf_counter()
        shares = [queue[n::concurrent] for n in range(concurrent)]
        await asyncio.gather(
            *(_device(store, d, q, per_device) for d, q in zip(devs, shares, strict=True))
        )
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        store_cpu = _thread_cpu_s(thread.native_id) - store_before
        done = await store.read(
            lambda db: db.conn.execute(
                "SELECT count(*) FROM jobs WHERE state = 'delivered'"
            ).fetchone()[0]
        )
        wal = await store.read(_wal_pages, Path(f"{path}-wal")) if pages else None
        wal_bytes = await store.read(lambda _: os.path.getsize(f"{path}-wal"))
        checkpoints = getattr(store, "checkpoints", None)  # (none before round 9)
        await store.close()
    total = per_device * concurrent
    assert done == total, f"{done} of {total} delivered"
    process = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    result: dict[str, Any] = {
        "sends": total,
        "concurrent": concurrent,
        "threads": threading.active_count(),
        "store_cpu_ms_per_send": round(1000 * store_cpu / total, 3),
        "process_cpu_ms_per_send": round(1000 * process / total, 3),
        "process_sys_ms_per_send": round(
            1000 * (usage.ru_stime - usage_before.ru_stime) / total, 3
        ),
        "wall_ms_per_send": round(1000 * wall / total, 3),
        "commits": len(commits),
        "commit_ms_p50_p99_max": [round(1000 * percentile(commits, p), 3) for p in (50, 99, 100)],
        "wal_mib_at_the_end": round(wal_bytes / 2**20, 1),
        "checkpoint_passes_restarts": [
            getattr(checkpoints, "passes", None),
            getattr(checkpoints, "restarts", None),
        ],
        "restarts_ms_total_max": [
            round(1000 * s, 2) for s in getattr(checkpoints, "restart_s", ())
        ],
        "loadavg": os.getloadavg(),
    }
    if wal is not None:
        frames, commits, tally = wal
        result["wal_pages_per_send"] = round(frames / total, 2)
        result["commits_per_send"] = round(commits / total, 2)
        result["wal_pages_per_send_by_btree"] = {k: round(v / total, 2) for k, v in tally.items()}
    if statements:
        ranked = sorted(stats.items(), key=lambda item: -item[1][1])
        result["statements_us_per_call"] = {
            sql: [int(n), round(1e6 * spent / n, 1)] for sql, (n, spent) in ranked[:20]
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=1500)
    parser.add_argument("--concurrent", type=int, default=1, help="devices sending at once")
    parser.add_argument("--statements", action="store_true", help="thread CPU per statement")
    parser.add_argument("--pages", action="store_true", help="WAL pages per send, by b-tree")
    args = parser.parse_args()
    result = asyncio.run(run(args.sends, args.concurrent, args.statements, args.pages))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
