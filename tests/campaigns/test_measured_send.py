"""A pool's measured send time per device (a campaign's time estimate): the median gap between a
device's consecutive sends of the last hour, idle gaps left out, a job's parts one send; read
without an index the send path writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from modemd.model import SentPart
from modemd.store import campaign_views, dialect, jobs, keys
from modemd.store.db import Store, connect

T = 1_800_000_000.0  # "now" of the view; every send below is before it, in its order
PIN, OTHER = "4711", "9"
# (pool, device, seconds before T, parts), in the order they were sent
SENDS = [
    (PIN, "a", 3605, 1),  # an hour and more ago: its gap to the next (7 s) is not counted
    (PIN, "a", 3598, 1),
    (PIN, "a", 3596, 1),
    (PIN, "a", 3594, 1),
    (PIN, "a", 3588, 1),  # a: 2, 2, 6 -> 2
    (PIN, "b", 3000, 1),
    (PIN, "b", 2997, 1),
    (PIN, "b", 1000, 1),  # b: 3 (1,997 s: idle, left out)
    (PIN, "c", 500, 3),
    (PIN, "c", 496, 3),  # c: 4 (three parts each, one send)
    (PIN, "d", 100, 1),  # d: one send, no gap
    (OTHER, "e", 50, 1),
    (OTHER, "e", 45, 1),  # e: another pool's
]


def send(db: sqlite_utils.Database, key_id: int, pin: str, device: str, at: float, n: int) -> None:
    """A job of ``pin`` sent by ``device`` at ``at`` (the send's record, then its time set)."""
    job = jobs.insert_job(
        db, key_id=key_id, pin=pin, to="+31612340000", message="m", parts=n, encoding="gsm7"
    )
    claimed = jobs.claim_job(db, job.job_id, device)
    assert claimed is not None
    jobs.mark_sent(db, claimed, [SentPart(part, part) for part in range(1, n + 1)])
    for table in ("jobs", "job_parts"):  # as the record writes them: one time for both
        db.execute(f"UPDATE {table} SET sent_at = ? WHERE job_id = ?", [at, job.job_id])


def sends(db: sqlite_utils.Database, done: list[tuple[str, str, float, int]]) -> None:
    key_ids = {}
    for pin, device, before, parts in done:
        if pin not in key_ids:
            key, _ = keys.create_key(db, pin=pin, allow_ips=[], over_ip=True, ipn_url=None)
            key_ids[pin] = key.key_id
        send(db, key_ids[pin], pin, device, T - before, parts)


@pytest.mark.both_engines
async def test_each_device_s_median_gap_of_the_last_hour(store: Store) -> None:
    await store.write(sends, SENDS)
    assert await store.read(campaign_views.measured_send_s, PIN, T) == {"a": 2, "b": 3, "c": 4}
    assert await store.read(campaign_views.measured_send_s, OTHER, T) == {"e": 5}
    assert await store.read(campaign_views.measured_send_s, PIN, T + 3600) == {}  # all old


def steps(path: Path, old: int) -> int:
    """SQLite's steps (in tens of VM instructions) for the view over ``old`` sends of
    two hours ago and then ``SENDS``."""
    db = connect(path)
    sends(db, [(PIN, "z", 7200 + n, 1) for n in range(old, 0, -1)] + SENDS)
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0

    db.conn.set_progress_handler(count, 10)
    assert campaign_views.measured_send_s(db, PIN, T) == {"a": 2, "b": 3, "c": 4}
    db.conn.set_progress_handler(None, 0)
    db.conn.close()
    return counted[0]


def test_older_sends_are_not_read(tmp_path: Path) -> None:
    # The last hour is read from the newest part back: 2,000 older sends cost no more
    # than 20 (a read of every part, or of an index of them all, grows with them).
    few, many = steps(tmp_path / "few.db", 20), steps(tmp_path / "many.db", 2000)
    assert many <= few + 2, (few, many)  # (all read in sent_at order: x 50)


@pytest.mark.both_engines
async def test_a_send_writes_no_index_of_the_jobs_sent_at(store: Store) -> None:
    def indexes(db: sqlite_utils.Database) -> set[str]:
        if dialect.is_postgres(db):
            found = db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'jobs'")
        else:
            found = db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'jobs'")
        return {row[0] for row in found}

    assert "jobs_pin_sent" not in await store.read(indexes)
