"""A pool's parts are counted per local day in each send's own commit (``pool_days``): a claim
in a pool with caps reads those counts, which agree with the jobs sent, survive the jobs'
retention, and were counted from the jobs already sent when the table came (migration 025)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from builders import key_and_job

from modemd import caps
from modemd.caps import Caps
from modemd.model import DeviceInfo, DeviceKind, DeviceState, JobState, SentPart
from modemd.store import devices, dispatch, jobs, pacing, retention
from modemd.store.db import Store, connect

DATABASES = Path(__file__).parent / "databases"
MODEM = DeviceInfo("350000000000012", "1", DeviceKind.MODEM, "/dev/ttyUSB0", iccid="8939001")


async def _send(store: Store, pin: str, parts: int) -> None:
    await store.write(devices.upsert_device, MODEM, DeviceState.READY)
    _, _, job = await key_and_job(store, None, pin=pin)
    await store.write(lambda db: db.execute("UPDATE jobs SET parts = ?", [parts]))
    claimed = await store.write(jobs.claim_job, job.job_id, MODEM.device_id)
    await store.write(jobs.mark_sent, claimed, [SentPart(n + 1, n) for n in range(parts)])


def _summed_from_the_jobs(db, pin: str, since: float) -> int:
    """The parts as the caps counted them before migration 025: the month's jobs summed."""
    sql = "SELECT COALESCE(SUM(parts), 0) FROM jobs WHERE pin = ? AND sent_at >= ?"
    return int(db.execute(sql, [pin, since]).fetchone()[0])


@pytest.mark.both_engines
async def test_each_send_counts_its_pools_parts_in_its_commit(store: Store) -> None:
    await _send(store, "1", 3)
    await _send(store, "1", 1)
    await _send(store, "2", 2)
    window = caps.window()
    since = [window.day_start.timestamp(), window.month_start.timestamp()]
    for pin, parts in (("1", 4), ("2", 2), ("3", 0)):
        used = await store.read(pacing.pool_usage, pin, window)
        counted = [await store.read(_summed_from_the_jobs, pin, t) for t in since]
        assert [used.today, used.month] == counted == [parts, parts]
    rows = await store.read(
        lambda db: db.execute("SELECT pin, day, parts FROM pool_days ORDER BY pin").fetchall()
    )
    today = pacing.local_day(time.time())
    assert [tuple(r) for r in rows] == [("1", today, 4), ("2", today, 2)]


@pytest.mark.both_engines
async def test_a_pool_cap_is_read_from_the_days_counted(store: Store) -> None:
    await _send(store, "1", 2)
    await store.write(lambda db: db.execute("UPDATE pool_days SET parts = 9"))  # the count rules
    _, _, job = await key_and_job(store, None, pin="1")
    limit = Caps(daily=9)  # the 2 parts of the jobs and 1 more would not pass it
    got = await store.write(
        dispatch.claim_within_cap, job.job_id, "dev-2", None, "1", limit, caps.window()
    )
    assert isinstance(got, caps.Reached) and got.period == "daily"  # 9 counted + 1 > 9
    found = await store.read(jobs.get_job, job.job_id)
    assert found is not None and found.state is JobState.QUEUED


async def test_the_pool_counts_outlive_the_jobs_retention_but_not_two_months(
    store: Store,
) -> None:
    await _send(store, "1", 2)
    await store.write(
        lambda db: db.execute("UPDATE jobs SET state = ?, final_at = ?", [JobState.DELIVERED, 1])
    )
    old = time.time() - retention.SIM_DAYS_KEPT_S - 86400
    await store.write(pacing.count_pool_sent, "1", old, 5)
    assert await store.write(retention.prune_jobs, time.time()) == 1
    used = await store.read(pacing.pool_usage, "1", caps.window())
    assert used.today == 2  # the job is gone, what its pool sent today stays counted
    days = await store.read(lambda db: db.execute("SELECT day FROM pool_days").fetchall())
    assert [r[0] for r in days] == [pacing.local_day(time.time())]


def test_the_upgrade_counts_the_jobs_already_sent(tmp_path: Path) -> None:
    copy = tmp_path / "modemd.db"
    shutil.copy(DATABASES / "schema_v24.db", copy)
    db = connect(copy)  # migrates
    try:
        sent = db.execute("SELECT pin, parts, sent_at FROM jobs WHERE sent_at IS NOT NULL")
        expected: dict[tuple[str, str], int] = {}
        for pin, parts, sent_at in sent.fetchall():
            key = (pin, pacing.local_day(sent_at))
            expected[key] = expected.get(key, 0) + parts
        assert expected, "the old database has jobs sent"
        rows = db.execute("SELECT pin, day, parts FROM pool_days").fetchall()
        assert {(r[0], r[1]): r[2] for r in rows} == expected
    finally:
        db.conn.close()
