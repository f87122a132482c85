"""Writes sharing a commit: a batch of ``replayable`` writes runs without savepoints, and when
one of them fails the batch is rolled back and run again with a savepoint each, so only the
failing write is undone; a batch with any other write keeps a savepoint per write."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable
from typing import Any

import pytest
import sqlite_utils

from modemd.store import batches, events, inbound, jobs, keys, reports
from modemd.store.db import MAX_BATCH, Store, replayable

pytestmark = pytest.mark.both_engines

DEADLINE_S = 20.0  # generous: the machine may be loaded


@replayable
def _note(db: sqlite_utils.Database, job_id: str, text: str) -> str:
    db.conn.execute("UPDATE jobs SET error = ? WHERE job_id = ?", [text, job_id])
    return text


@replayable
def _note_then_fail(db: sqlite_utils.Database, job_id: str) -> None:
    _note(db, job_id, "half")
    raise RuntimeError("boom")


def _plain_note(db: sqlite_utils.Database, job_id: str, text: str) -> str:
    return _note(db, job_id, text)


async def _jobs(store: Store, count: int) -> list[str]:
    def insert(db: sqlite_utils.Database) -> list[str]:
        key, _ = keys.create_key(db, pin="4711", allow_ips=[], over_ip=True, ipn_url=None)
        return [
            jobs.insert_job(
                db, key_id=key.key_id, pin="4711", to="+31612345678", message="hi", parts=1,
                encoding="gsm7",
            ).job_id
            for _ in range(count)
        ]  # fmt: skip

    return await store.write(insert)


async def _one_batch(store: Store, *writes: Awaitable[Any]) -> list[Any]:
    """Run ``writes`` as one batch: the store's thread is held by a read until all are queued."""
    gate = threading.Event()
    held = asyncio.ensure_future(store.read(lambda db: gate.wait(10)))
    pending = [asyncio.ensure_future(write) for write in writes]
    await asyncio.sleep(0)  # each write is in the queue
    gate.set()
    await held
    return await asyncio.gather(*pending, return_exceptions=True)


async def _errors(store: Store, job_ids: list[str]) -> list[str | None]:
    return [(await store.read(jobs.get_job, job_id)).error for job_id in job_ids]


async def test_a_failing_replayable_write_is_undone_alone(store: Store) -> None:
    a, b, c = await _jobs(store, 3)
    results = await _one_batch(
        store,
        store.write(_note, a, "one"),
        store.write(_note_then_fail, b),
        store.write(_note, c, "three"),
    )
    assert results[0] == "one" and results[2] == "three"
    assert isinstance(results[1], RuntimeError)
    assert await _errors(store, [a, b, c]) == ["one", None, "three"]


async def test_a_batch_of_replayable_writes_commits_them_all(store: Store) -> None:
    job_ids = await _jobs(store, 4)
    results = await _one_batch(
        store, *(store.write(_note, j, f"n{n}") for n, j in enumerate(job_ids))
    )
    assert results == ["n0", "n1", "n2", "n3"]
    assert await _errors(store, job_ids) == results


@pytest.mark.sqlite_only  # the statements are seen through SQLite's trace
async def test_savepoints_only_where_a_write_is_not_replayable(store: Store) -> None:
    job_ids = await _jobs(store, 2)
    seen: list[str] = []
    await store.read(lambda db: db.conn.set_trace_callback(seen.append))
    await _one_batch(
        store, store.write(_note, job_ids[0], "a"), store.write(_note, job_ids[1], "b")
    )
    assert not [sql for sql in seen if sql.startswith("SAVEPOINT")]
    await _one_batch(
        store, store.write(_note, job_ids[0], "c"), store.write(_plain_note, job_ids[1], "d")
    )
    assert len([sql for sql in seen if sql.startswith("SAVEPOINT")]) == 2
    await store.read(lambda db: db.conn.set_trace_callback(None))
    assert await _errors(store, job_ids) == ["c", "d"]


@batches.lazy
@replayable
def _lazy_note(db: sqlite_utils.Database, job_id: str, text: str) -> str:
    return _note(db, job_id, text)


async def test_a_lazy_write_alone_waits_for_company_to_share_a_commit(store: Store) -> None:
    """A write marked ``lazy`` (the IPN sender's record of an attempt) queued alone waits for
    the next write and shares its commit (one fsync, not two), or commits after the wait."""
    (job_id,) = await _jobs(store, 1)
    commits: list[None] = []
    store.on_commit.append(lambda: commits.append(None))
    store.lazy_linger_s = 60.0  # longer than the test: only the next write ends the wait
    assert batches.kind_of(_lazy_note) == batches.REPLAYABLE | batches.LAZY
    waiting = asyncio.ensure_future(store.write(_lazy_note, job_id, "lazy"))
    async with asyncio.timeout(DEADLINE_S):
        while store._queue.qsize():  # taken by the store's thread, which now waits
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert not waiting.done() and commits == []
    assert await store.write(_note, job_id, "next") == "next"
    assert await waiting == "lazy"
    assert len(commits) == 1  # one commit for both, in their order
    assert await _errors(store, [job_id]) == ["next"]
    store.lazy_linger_s = 0.01
    async with asyncio.timeout(DEADLINE_S):  # alone, it commits once the wait is over
        assert await store.write(_lazy_note, job_id, "alone") == "alone"
    assert len(commits) == 2


@batches.urgent
@replayable
def _urgent_note(db: sqlite_utils.Database, job_id: str, text: str) -> str:
    return _note(db, job_id, text)


def _error_of(db: sqlite_utils.Database, job_id: str) -> str | None:
    return jobs.get_job(db, job_id).error


def test_an_urgent_write_leaves_the_many_writes_after_it_for_the_next_batch() -> None:
    """``next_batch``: with ``URGENT_ALONE_BEFORE`` writes or more after the last urgent one,
    the batch ends with it (the reads before it included); with fewer, or without an urgent
    write, everything."""
    read = (batches.READ, "read", None)
    write = (batches.WRITE, "write", None)
    report = (batches.REPLAYABLE | batches.URGENT, "report", None)
    many = [write] * batches.URGENT_ALONE_BEFORE
    few = [write, read] * (batches.URGENT_ALONE_BEFORE - 1)
    assert batches.next_batch([write, read, *many]) == ([write, read, *many], [])
    assert batches.next_batch([write, read, report, *few]) == ([write, read, report, *few], [])
    assert batches.next_batch([write, read, report, *many]) == ([write, read, report], many)
    assert batches.next_batch([report, *few, report, read, *many]) == (
        [report, *few, report],
        [read, *many],
    )


def test_the_split_is_looked_for_only_past_urgent_alone_before_calls() -> None:
    """``next_batch``'s short cut (a lone write's batch asks nothing more): an urgent write
    first with one write fewer than ``URGENT_ALONE_BEFORE`` after it is all one batch, with
    that many it is split; ``all_lazy`` says whether only lazy writes wait."""
    write = (batches.WRITE, "write", None)
    report = (batches.REPLAYABLE | batches.URGENT, "report", None)
    attempt = (batches.WRITE | batches.LAZY, "attempt", None)
    fewer = [write] * (batches.URGENT_ALONE_BEFORE - 1)
    many = [write] * batches.URGENT_ALONE_BEFORE
    assert batches.next_batch([report, *fewer]) == ([report, *fewer], [])
    assert batches.next_batch([report, *many]) == ([report], many)
    assert batches.all_lazy([attempt]) and batches.all_lazy([attempt, attempt])
    assert not batches.all_lazy([write]) and not batches.all_lazy([attempt, write])


def test_reports_and_received_sms_are_urgent() -> None:
    assert batches.kind_of(reports.apply_report) & batches.URGENT
    assert batches.kind_of(inbound.store_inbound) & batches.URGENT
    assert not batches.kind_of(events.record_attempt) & batches.URGENT


@pytest.mark.sqlite_only  # the statements are seen through SQLite's trace
async def test_an_urgent_write_commits_without_the_many_writes_queued_after_it(
    store: Store,
) -> None:
    """An urgent write (a status report) commits with the writes queued before it; the many
    queued after it share the next commit; every write is answered with its own value."""
    before, report, *after = await _jobs(store, 2 + batches.URGENT_ALONE_BEFORE)
    seen: list[str] = []
    await store.read(lambda db: db.conn.set_trace_callback(seen.append))
    results = await _one_batch(
        store,
        store.write(_note, before, "before"),
        store.write(_urgent_note, report, "urgent"),
        *(store.write(_note, job_id, "after") for job_id in after),
    )
    await store.read(lambda db: db.conn.set_trace_callback(None))
    assert results == ["before", "urgent", *["after"] * len(after)]
    commits = [n for n, sql in enumerate(seen) if sql == "COMMIT"]
    assert len(commits) == 2  # the urgent one's, then the rest's
    updates = [n for n, sql in enumerate(seen) if sql.startswith("UPDATE jobs")]
    assert len([n for n in updates if n < commits[0]]) == 2  # before, urgent
    assert len([n for n in updates if n > commits[0]]) == len(after)
    assert await _errors(store, [before, report, *after]) == results


async def test_a_batch_commits_at_most_max_batch_writes(store: Store) -> None:
    """Writes queued behind a busy store's thread commit ``MAX_BATCH`` at a time: a modem's
    record waits for one such batch, not for all that queued (README "Round 11: the store's
    writer": a convoy of 72-147 writes held every modem)."""
    count = 3 * MAX_BATCH + 5
    job_ids = await _jobs(store, 1)
    entered, gate = threading.Event(), threading.Event()

    def hold(db: sqlite_utils.Database) -> None:
        entered.set()
        gate.wait(DEADLINE_S)

    held = asyncio.ensure_future(store.read(hold))
    assert await asyncio.to_thread(entered.wait, DEADLINE_S)
    commits: list[float] = []
    store.on_commit_seconds.append(commits.append)
    writes = [store.queue_write(_note, job_ids[0], str(n)) for n in range(count)]
    gate.set()
    await held
    assert await asyncio.gather(*writes) == [str(n) for n in range(count)]
    assert len(commits) == 4  # 3 x MAX_BATCH, then the 5 left
    assert await _errors(store, job_ids) == [str(count - 1)]


async def test_a_read_between_writes_does_not_split_their_commit(store: Store) -> None:
    """Writes queued around a read share one commit; the read sees the writes queued before
    it (it runs after the commit)."""
    a, b = await _jobs(store, 2)
    commits: list[None] = []
    store.on_commit.append(lambda: commits.append(None))
    results = await _one_batch(
        store,
        store.write(_note, a, "one"),
        store.read(_error_of, a),
        store.write(_note, b, "two"),
    )
    assert results == ["one", "one", "two"]
    assert len(commits) == 1


async def test_a_write_is_answered_before_the_reads_of_its_batch_run(store: Store) -> None:
    """A batch's writes are answered once committed, not after its reads: a writer (a report's
    IPN, a send's next command) does not wait for a read queued beside it."""
    (job_id,) = await _jobs(store, 1)
    read_gate = threading.Event()

    def slow_read(db: sqlite_utils.Database) -> str | None:
        read_gate.wait(DEADLINE_S)
        return _error_of(db, job_id)

    gate = threading.Event()
    held = asyncio.ensure_future(store.read(lambda db: gate.wait(10)))
    async with asyncio.timeout(DEADLINE_S):
        await asyncio.sleep(0)
        while store._queue.qsize():  # taken alone by the store's thread, which now waits
            await asyncio.sleep(0.01)
    reading = asyncio.ensure_future(store.read(slow_read))
    writing = asyncio.ensure_future(store.write(_note, job_id, "written"))
    await asyncio.sleep(0)  # both queued: one batch
    gate.set()
    await held
    try:
        async with asyncio.timeout(DEADLINE_S):
            assert await writing == "written"
        assert not reading.done()
    finally:
        read_gate.set()
    assert await reading == "written"  # queued first, it still sees the write


@pytest.mark.sqlite_only
async def test_none_is_bound_as_null_through_the_adapter_the_store_registers(store: Store) -> None:
    """Registered at import (the store's statements bind many Nones; without it each went
    through two failed attribute lookups first); a None is still NULL."""
    assert (type(None), sqlite3.PrepareProtocol) in sqlite3.adapters
    row = await store.read(
        lambda db: db.conn.execute("SELECT ? IS NULL, typeof(?)", [None, None]).fetchone()
    )
    assert row == (1, "null")
