"""Jobs' indexes after migration 027, which made an accept write two fewer. Jobs read by the time
they were created, with no index of jobs by time alone (``jobs_created`` went): the console's
charts and search and a reply's match find the same jobs as a plain ``created_at`` filter, on
SQLite and PostgreSQL, and on SQLite none of them reads the whole table (``EXPLAIN QUERY
PLAN``). Jobs read by a state: ``jobs_state`` holds every state but queued (``jobs_feed`` holds
those), and each such read, retention's too, still finds its state there. A received SMS's
reply match reads the sender's jobs in the pool through their own indexes (migrations 029, 030)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from modemd.model import DeviceInfo, DeviceKind, DeviceState, InboundSms, JobState
from modemd.store import console, devices, inbound, jobs, keys, retention, stats
from modemd.store.db import connect

T0 = 1_764_000_000.0
DAY = 86_400.0
DEVICES = ("imei-1", "imei-2")
NUMBERS = ("+31612345670", "+31612345671", "+31612345672")
# The statements before migration 027, read through jobs_created (their sums of booleans as
# CASEs: PostgreSQL has no sum() of a boolean).
OLD_FUNNEL = (
    "COUNT(*), SUM(CASE WHEN sent_at IS NOT NULL OR state IN ('sent', 'delivered') THEN 1 END), "
    "SUM(CASE WHEN state = 'delivered' THEN 1 END), SUM(CASE WHEN state = 'failed' THEN 1 END)"
)
OLD_BY_DAY = f"SELECT {OLD_FUNNEL} FROM jobs WHERE created_at >= ?"
OLD_BY_DEVICE = (
    f"SELECT device_id, {OLD_FUNNEL} FROM jobs WHERE created_at >= ? "
    "AND device_id IS NOT NULL GROUP BY device_id ORDER BY device_id"
)
OLD_ERRORS = (
    "SELECT device_id, error FROM jobs WHERE created_at >= ? AND error IS NOT NULL "
    "AND device_id IS NOT NULL ORDER BY updated_at"
)
OLD_SEARCH = (
    "SELECT job_id FROM jobs WHERE created_at >= ? AND created_at < ? ORDER BY seq DESC LIMIT ?"
)


def _fill(db: sqlite_utils.Database) -> list[int]:
    """Three keys' jobs over ten days, inserted out of time order now and then (a clock set
    back, a job's time given): the bounds must not rely on ``seq`` following time."""
    key_ids = [
        keys.create_key(db, pin="4711", allow_ips=[], over_ip=True, ipn_url=None)[0].key_id
        for _ in range(3)
    ]
    for device_id in DEVICES:
        info = DeviceInfo(device_id, "4711", DeviceKind.MODEM, f"/dev/{device_id}")
        devices.upsert_device(db, info, DeviceState.READY)
    rng = random.Random(27)
    for n in range(240):
        created = T0 + n * DAY / 24 + (rng.choice((0, 0, 0, -3 * DAY, 2 * DAY)))
        job = jobs.insert_job(
            db, key_id=key_ids[n % 3], pin="4711", to=NUMBERS[n % 3], message=f"m{n}",
            parts=1, encoding="gsm7", now=created,
        )  # fmt: skip
        state = rng.choice(("queued", "sent", "delivered", "failed"))
        if state != "queued":
            db.execute(
                "UPDATE jobs SET state = ?, device_id = ?, sent_at = ?, error = ?, "
                "updated_at = ? WHERE job_id = ?",
                [
                    state, DEVICES[n % 2], None if state == "failed" else created + 5,
                    f"error {n}" if state == "failed" else None, created + 6 + n, job.job_id,
                ],
            )  # fmt: skip
    return key_ids


def _old(db: sqlite_utils.Database, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in db.execute(sql, params).fetchall()]


@pytest.fixture
def filled(db_location: str) -> Iterator[tuple[sqlite_utils.Database, list[int]]]:
    """A database of either engine with ``_fill``'s jobs, and their keys."""
    db = connect(db_location)
    try:
        yield db, _fill(db)
    finally:
        db.conn.close()


@pytest.mark.both_engines
def test_the_charts_count_what_a_plain_created_at_filter_counts(
    filled: tuple[sqlite_utils.Database, list[int]],
) -> None:
    db, _ = filled
    following = [(T0 + k * DAY, T0 + (k + 1) * DAY) for k in range(-4, 13)]
    apart = [(T0 - DAY, T0 + 0.5 * DAY), (T0 + 2 * DAY, T0 + 3 * DAY), (T0 + 3 * DAY, T0 + 5 * DAY)]
    for days in (following, apart, following[-3:-2]):
        for (start, end), counts in zip(days, stats.daily_counts(db, days), strict=True):
            old = _old(db, f"{OLD_BY_DAY} AND created_at < ?", [start, end])[0]
            assert astuple(counts)[1:] == tuple(int(v or 0) for v in old), (start, counts)
    assert sum(c.accepted for c in stats.daily_counts(db, following)) == 240  # every job counted
    for since in (T0 - 5 * DAY, T0 + 4.5 * DAY, T0 + 20 * DAY):
        found = [astuple(c) for c in stats.device_counts(db, since)]
        old = _old(db, OLD_BY_DEVICE, [since])
        assert found == [(str(d), *(int(v or 0) for v in rest)) for d, *rest in old]


@pytest.mark.both_engines
def test_last_errors_and_searches_find_what_a_plain_created_at_filter_finds(
    filled: tuple[sqlite_utils.Database, list[int]],
) -> None:
    db, _ = filled
    for since in (T0 - 5 * DAY, T0 + 4.5 * DAY, T0 + 20 * DAY):
        errors = {
            d.device_id: d.last_error
            for d in stats.snapshot(db, since + 3 * DAY, since, with_errors=True).devices
        }
        latest = dict(_old(db, OLD_ERRORS, [since]))
        assert errors == {d: latest.get(d) for d in DEVICES}
    for since, until in ((None, T0 + 3 * DAY), (T0 + 2 * DAY, T0 + 3 * DAY), (T0, None)):
        listed = [j["job_id"] for j in console.search_jobs(db, since=since, until=until)]
        old = _old(db, OLD_SEARCH, [since or 0.0, until or 1e12, console.SEARCH_LIMIT])
        assert listed == [row[0] for row in old] and listed, (since, until)


@pytest.mark.both_engines
def test_a_reply_is_matched_within_its_window_whatever_the_insert_order(
    filled: tuple[sqlite_utils.Database, list[int]],
) -> None:
    db, key_ids = filled
    now = time.time()  # (the match's window ends at the clock)
    late = jobs.insert_job(
        db, key_id=key_ids[0], pin="4711", to="+31699999999", message="late", parts=1,
        encoding="gsm7", now=now - inbound.REPLY_WINDOW_S + 60,
    )  # fmt: skip
    jobs.insert_job(  # newer, but older than the window: not the one answered
        db, key_id=key_ids[1], pin="4711", to="+31699999999", message="old", parts=1,
        encoding="gsm7", now=now - inbound.REPLY_WINDOW_S - 60,
    )  # fmt: skip
    db.execute("UPDATE jobs SET state = 'sent' WHERE to_number = '+31699999999'")
    sms = InboundSms("k1", "+31699999999", "yes", None, "gsm7", 1)
    stored = inbound.store_inbound(db, "imei-1", "4711", "", "+31699999999", sms)
    assert stored.reply_to_job_id == late.job_id


def _plans(db: sqlite_utils.Database, run: Any, marks: tuple[str, ...]) -> dict[str, list[str]]:
    """The plan of each statement ``run`` runs that has one of ``marks`` in it."""
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    run()
    db.conn.set_trace_callback(None)
    return {
        sql: [row[3] for row in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        for sql in statements
        if any(mark in sql for mark in marks)
    }


def test_reads_by_time_read_no_whole_table_and_no_index_by_time_alone(tmp_path: Path) -> None:
    db = connect(tmp_path / "a.db")
    _fill(db)
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "jobs_created" not in indexes and "jobs_key_created" in indexes
    plans = _plans(
        db,
        lambda: (
            stats.daily_counts(db, [(T0, T0 + DAY), (T0 + DAY, T0 + 2 * DAY)]),
            stats.device_counts(db, T0 + 5 * DAY),
            stats.snapshot(db, T0 + 5 * DAY, T0, with_errors=True),
            console.search_jobs(db, since=T0, until=T0 + DAY),
            console.search_jobs(db, until=T0 + DAY),
        ),
        ("created_at >=", "created_at <"),
    )
    assert len(plans) == 6, list(plans)  # (a statement a day)
    for sql, plan in plans.items():
        lines = "\n".join(plan)
        assert not any(p.startswith("SCAN jobs") for p in plan), f"{lines}\n{sql}"
        assert "SEARCH jobs USING INTEGER PRIMARY KEY (rowid" in lines, f"{lines}\n{sql}"
        assert "USING COVERING INDEX jobs_key_created (key_id=? AND created_at" in lines, sql
    db.conn.close()


def test_jobs_state_holds_every_state_but_queued_and_reads_by_state_use_it(
    tmp_path: Path,
) -> None:
    db = connect(tmp_path / "a.db")
    _fill(db)
    for state in JobState:
        plan = " | ".join(
            row[3]
            for row in db.conn.execute(
                "EXPLAIN QUERY PLAN SELECT job_id FROM jobs WHERE state = ? ORDER BY seq",
                [state.value],
            )
        )
        if state is JobState.QUEUED:  # not in it: the feed's index has them
            assert "jobs_state" not in plan and "jobs_feed" in plan, plan
        else:  # a state added later belongs in the index's condition (a new migration)
            assert plan == "SEARCH jobs USING INDEX jobs_state (state=?)", (state, plan)
    held = db.execute("SELECT count(*) FROM jobs INDEXED BY jobs_state WHERE state = 'sent'")
    assert held.fetchone()[0] > 0
    plans = _plans(
        db,
        lambda: (retention.count_prunable(db, T0), retention.prune_jobs(db, T0 - 10 * DAY)),
        ("coalesce(final_at, updated_at) <",),
    )
    assert len(plans) == 2, list(plans)
    for sql, plan in plans.items():
        assert not any(p.startswith("SCAN jobs") for p in plan), f"{plan}\n{sql}"
        assert "SEARCH jobs USING INDEX jobs_state (state=?)" in plan, f"{plan}\n{sql}"
    db.conn.close()


def test_the_reply_match_reads_the_senders_jobs_in_the_pool_newest_first(tmp_path: Path) -> None:
    db = connect(tmp_path / "a.db")
    _fill(db)
    sms = InboundSms("k1", NUMBERS[0], "yes", None, "gsm7", 1)
    plans = _plans(
        db,
        lambda: inbound.store_inbound(db, "imei-1", "4711", "", NUMBERS[0], sms),
        ("FROM jobs WHERE pin = '4711' AND to_number = ",),  # (the SQL with its values)
    )
    assert len(plans) == 2, list(plans)
    # (migration 030's two indexes, 029's one before; the order is theirs: no sort, the first
    # in the window answers)
    assert sorted(plans.values()) == [
        [f"SEARCH jobs USING INDEX jobs_pin_to_{part} (pin=? AND to_number=?)"]
        for part in ("claimed", "unclaimed")
    ]
    db.conn.close()
