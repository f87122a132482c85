"""The reply match's indexes hold only jobs out of the queue (migration 030): an accept writes
no entry of either; a job's claim writes one in ``jobs_pin_to_claimed`` (a requeue takes it out;
the moves after the claim leave it alone: its condition is the device, not the state), a
cancel or a lapse in the queue one in ``jobs_pin_to_unclaimed``. Through every state a job can
reach by the store's own moves, the match answers what the jobs' rows say, on both engines,
and both read it through the two indexes (SQLite's ``EXPLAIN QUERY PLAN``; PostgreSQL's
``EXPLAIN``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import sqlite_utils

from modemd.model import ApiKey, DeviceInfo, DeviceKind, DeviceState, Job, JobState, SentPart
from modemd.store import devices, dispatch, inbound, jobs, keys
from modemd.store.db import connect
from modemd.store.transitions import move_job

DEVICE = "imei-1"
Asked = tuple[str, str]  # a pool, a sender
ANSWERABLE = frozenset(JobState) - {JobState.QUEUED, JobState.FAILED}


def _sent(db: sqlite_utils.Database, job: Job) -> Job:
    return jobs.mark_sent(db, job, [SentPart(1, int(job.job_id[-2:], 16))])


STEPS: dict[str, Callable[[sqlite_utils.Database, Job], Job | None]] = {
    "claim": lambda db, job: dispatch.claim_for(db, job.job_id, DEVICE, 20, job),
    "sent": _sent,
    "delivered": lambda db, job: move_job(db, job, JobState.DELIVERED),
    "expired": lambda db, job: move_job(db, job, JobState.EXPIRED),
    "failed": lambda db, job: jobs.mark_failed(db, job, "+CMS ERROR: 500"),
    "unknown": lambda db, job: jobs.mark_unknown(db, job, "no answer after Ctrl-Z"),
    "requeue": lambda db, job: jobs.requeue(db, job, "no carrier", untried=True),
    "retry": lambda db, job: jobs.retry_by_operator(db, job.job_id),
    "lapsed": lambda db, job: move_job(db, job, JobState.LAPSED),
    "cancelled": lambda db, job: move_job(db, job, JobState.CANCELLED),
}
# Each a job's life by the store's moves, to the state it ends in.
PATHS: tuple[tuple[str, ...], ...] = (
    (),
    ("claim",),
    ("claim", "sent"),
    ("claim", "sent", "delivered"),
    ("claim", "sent", "expired"),
    ("claim", "sent", "failed"),
    ("claim", "failed"),
    ("failed",),
    ("claim", "unknown"),
    ("claim", "unknown", "delivered"),
    ("lapsed",),
    ("cancelled",),
    ("claim", "requeue"),
    ("claim", "requeue", "claim", "sent"),
    ("claim", "requeue", "cancelled"),
    ("claim", "failed", "retry"),
    ("claim", "unknown", "retry", "claim", "sent", "delivered"),
)


def _walk(db: sqlite_utils.Database, job: Job, path: tuple[str, ...]) -> Job:
    for step in path:
        moved = STEPS[step](db, job)
        assert moved is not None, (path, step)
        job = moved
    return job


def _accept(db: sqlite_utils.Database, key: ApiKey, to: str, at: float | None = None) -> Job:
    return jobs.insert_job(
        db, key_id=key.key_id, pin=key.pin, to=to, message="m", parts=1, encoding="gsm7", now=at
    )


def _fill(db: sqlite_utils.Database, now: float) -> list[Asked]:
    """Jobs of two keys in two pools, each number's history ending in one of ``PATHS`` (an
    answerable job before it, or a job older than the window, or none): the pools and numbers
    to match."""
    (pool_a, _), (pool_b, _) = (
        keys.create_key(db, pin=pin, allow_ips=[], over_ip=True, ipn_url=None)
        for pin in ("4711", "4712")
    )
    info = DeviceInfo(DEVICE, "4711", DeviceKind.MODEM, "/dev/ttyUSB0")
    devices.upsert_device(db, info, DeviceState.READY)  # (it claims both pools' jobs here)
    asked = []
    for n, path in enumerate(PATHS):
        for before, key in enumerate((pool_a, pool_a, pool_b)):
            to = f"+3161{n:03d}{before:04d}"
            asked.append((key.pin, to))
            created = (now - 3600, now - inbound.REPLY_WINDOW_S - 60, None)[before]
            history = [created] if created is not None else []
            for at in [*history, now - 60]:
                job = _accept(db, key, to, at)
                _walk(db, job, ("claim", "sent", "delivered") if at != now - 60 else path)
            asked.append(("4712" if key.pin == "4711" else "4711", to))  # the other pool's
    asked.append(("4711", "+31699999999"))  # nobody's number
    return asked


def _expected(db: sqlite_utils.Database, pin: str, to: str, now: float) -> tuple[str, int] | None:
    """The match by its definition, from the rows themselves (no index, no SQL condition)."""
    rows = db.execute(
        "SELECT seq, job_id, key_id, pin, to_number, state, created_at FROM jobs"
    ).fetchall()
    found = [
        (seq, job_id, key_id)
        for seq, job_id, key_id, p, t, state, created in rows
        if p == pin and t == to and created >= now - inbound.REPLY_WINDOW_S
        and JobState(state) in ANSWERABLE
    ]  # fmt: skip
    return None if not found else (str(max(found)[1]), int(max(found)[2]))


@pytest.fixture
def filled(db_location: str) -> Iterator[tuple[sqlite_utils.Database, float, list[Asked]]]:
    """A database of either engine with ``_fill``'s jobs, the time they were filled at, and the
    pools and numbers to match."""
    db = connect(db_location)
    now = time.time()
    try:
        yield db, now, _fill(db, now)
    finally:
        db.conn.close()


@pytest.mark.both_engines
def test_the_match_answers_what_the_rows_say_through_every_state(
    filled: tuple[sqlite_utils.Database, float, list[Asked]],
) -> None:
    db, now, asked = filled
    states = {row[0] for row in db.execute("SELECT DISTINCT state FROM jobs").fetchall()}
    assert states == {s.value for s in JobState}  # every state, requeued and retried jobs too
    answers = {(pin, to): inbound.reply_to(db, pin, to, now) for pin, to in asked}
    assert answers == {(pin, to): _expected(db, pin, to, now) for pin, to in asked}
    # Not a vacuous match: the newest job answers for some numbers, an older one (the newest
    # was not answerable) for others, and none for the rest.
    newest = {
        str(r[0])
        for r in db.execute(
            "SELECT job_id FROM jobs WHERE seq IN (SELECT max(seq) FROM jobs GROUP BY to_number)"
        )
    }
    kinds = {None if a is None else a[0] in newest for a in answers.values()}
    assert kinds == {None, True, False}


def _entries(db: sqlite_utils.Database, index: str) -> int:
    """An index's entries, counted in its own b-tree (each cell of an index is one entry)."""
    row = db.execute("SELECT sum(ncell) FROM dbstat WHERE name = ?", [index]).fetchone()
    return int(row[0] or 0)


def _rows(db: sqlite_utils.Database, where: str) -> int:
    return int(db.execute(f"SELECT count(*) FROM jobs NOT INDEXED WHERE {where}").fetchone()[0])


@pytest.mark.sqlite_only
def test_an_accept_writes_no_entry_the_claim_writes_one_the_moves_after_it_none(
    filled: tuple[sqlite_utils.Database, float, list[Asked]],
) -> None:
    db, _, _ = filled

    def held() -> tuple[int, int]:
        claimed = _entries(db, "jobs_pin_to_claimed")
        unclaimed = _entries(db, "jobs_pin_to_unclaimed")
        assert (claimed, unclaimed) == (
            _rows(db, inbound.CLAIMED),
            _rows(db, inbound.UNCLAIMED),
        )
        return claimed, unclaimed

    claimed, unclaimed = held()
    assert unclaimed and claimed + unclaimed < _rows(db, "1")  # (queued jobs are in neither)
    key = keys.create_key(db, pin="4711", allow_ips=[], over_ip=True, ipn_url=None)[0]
    accepted = [_accept(db, key, f"+3162{n:07d}") for n in range(40)]
    assert held() == (claimed, unclaimed)  # 40 accepts, no entry
    taken = [_walk(db, job, ("claim",)) for job in accepted[:25]]
    assert held() == (claimed + 25, unclaimed)
    roots = dict(db.execute("SELECT rootpage, name FROM sqlite_master WHERE type = 'index'"))
    written: dict[str, set[str]] = {}

    def opened(sql: str) -> None:  # the indexes each UPDATE of a job opens to write
        if sql.startswith("UPDATE jobs"):
            ops = db.conn.execute(f"EXPLAIN {sql}").fetchall()
            written[sql] = {roots[op[3]] for op in ops if op[1] == "OpenWrite" and op[3] in roots}

    db.conn.set_trace_callback(opened)
    for n, job in enumerate(taken[15:]):
        _walk(db, job, (("sent", "delivered"), ("unknown",), ("sent", "expired"))[n % 3])
    claims = [_walk(db, job, ("claim",)) for job in accepted[25:27]]
    db.conn.set_trace_callback(None)
    assert held() == (claimed + 27, unclaimed)
    claim = "UPDATE jobs SET state = 'sending', device_id = "
    moves = {sql: names for sql, names in written.items() if not sql.startswith(claim)}
    assert len(moves) >= 4 and not any("jobs_pin_to_claimed" in n for n in moves.values())
    assert all("jobs_pin_to_claimed" in n for s, n in written.items() if s not in moves)
    requeued = [_walk(db, job, ("requeue",)) for job in [*taken[:10], *claims]]
    assert held() == (claimed + 15, unclaimed)
    for job in requeued[:4]:  # cancelled in the queue
        _walk(db, job, ("cancelled",))
    assert held() == (claimed + 15, unclaimed + 4)


@pytest.mark.both_engines
def test_the_match_reads_the_two_partial_indexes(
    filled: tuple[sqlite_utils.Database, float, list[Asked]], engine: str
) -> None:
    db, now, _ = filled
    params = ["4711", "+31610030000", now - inbound.REPLY_WINDOW_S]
    indexes = ("jobs_pin_to_claimed", "jobs_pin_to_unclaimed")
    if engine == "postgresql":  # a table this small is read whole unless that is ruled out:
        db.execute("SET enable_seqscan = off")  # then only an index whose condition the
        # query's WHERE implies can serve it
    for sql, index in zip(inbound._REPLY_MATCH, indexes, strict=True):
        if engine == "sqlite":
            plan = [row[3] for row in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            assert plan == [f"SEARCH jobs USING INDEX {index} (pin=? AND to_number=?)"]
            made = "SELECT sql FROM sqlite_master WHERE name = ?"
        else:
            plan = [row[0] for row in db.execute(f"EXPLAIN {sql}", params).fetchall()]
            assert any(f"Index Scan using {index} on jobs" in line for line in plan), plan
            made = "SELECT pg_get_indexdef(?::regclass)"
        (text,) = db.execute(made, [index]).fetchone()
        assert " WHERE " in text and "device_id" in text, text
