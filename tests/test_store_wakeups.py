"""Who the store wakes after a commit: ``on_commit`` after every one, ``on_change[table]`` only
after one that changed that table (the IPN sender on the outbox: an accept, which writes no
event, wakes nobody), and, on SQLite, after another process's commit too; ``after_change``
reads run on the store's thread right after such a commit and hand their result over."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from builders import events_one_failing

from modemd.model import EventType
from modemd.store import events, jobs, keys
from modemd.store.db import Store, connect

DEADLINE_S = 20.0  # another process's commit shows within DATA_VERSION_POLL_S; generous


def _new_job(db, ipn_url: str | None = "http://127.0.0.1:9/ipn"):
    key, _ = keys.create_key(db, pin="4711", allow_ips=[], over_ip=True, ipn_url=ipn_url)
    return jobs.insert_job(
        db, key_id=key.key_id, pin="4711", to="+31612345678", message="hi", parts=1, encoding="gsm7"
    )


class Wakes:
    def __init__(self, store: Store) -> None:
        self.commits = 0
        self.outbox = asyncio.Event()
        store.on_commit.append(self._commit)
        store.on_change["events"].append(self.outbox.set)

    def _commit(self) -> None:
        self.commits += 1


@pytest.mark.both_engines
async def test_only_a_commit_that_touches_the_outbox_wakes_its_readers(store: Store) -> None:
    job = await store.write(_new_job)
    wakes = Wakes(store)
    await store.write(
        lambda db: jobs.insert_job(
            db, key_id=job.key_id, pin="4711", to="+31612345679", message="x", parts=1,
            encoding="gsm7",
        )
    )  # fmt: skip
    await asyncio.sleep(0)  # the hooks run on the loop right after the futures resolve
    assert wakes.commits == 1
    assert store.watched  # SQLite by its triggers, PostgreSQL by the statements it runs
    assert not wakes.outbox.is_set()
    wakes.outbox.clear()
    await store.read(lambda db: db.execute("SELECT count(*) FROM jobs").fetchone())
    await asyncio.sleep(0)
    assert wakes.commits == 1 and not wakes.outbox.is_set()  # a read commits nothing
    event_id = await store.write(events.add_event, job, EventType.SMS_SENT, {})
    assert event_id is not None
    async with asyncio.timeout(DEADLINE_S):
        await wakes.outbox.wait()
    assert wakes.commits == 2


@pytest.mark.sqlite_only  # PostgreSQL's connection counts every write to the outbox
async def test_only_an_event_to_post_wakes_the_outbox_readers(store: Store) -> None:
    """An event without an endpoint, or one the sender recorded delivered, is nothing to post:
    its commit wakes no reader of the outbox (every send writes two such events)."""
    job = await store.write(_new_job, None)  # a key without an IPN URL
    wakes = Wakes(store)
    await store.write(events.add_event, job, EventType.SMS_SENT, {})
    await asyncio.sleep(0)
    assert wakes.commits == 1 and not wakes.outbox.is_set()
    posted = await store.write(_new_job)
    event_id = await store.write(events.add_event, posted, EventType.SMS_SENT, {})
    async with asyncio.timeout(DEADLINE_S):
        await wakes.outbox.wait()  # pending: the sender posts it
    wakes.outbox.clear()
    await store.write(
        events.record_attempt, event_id, http_status=200, error=None, delivered=True,
        next_attempt_at=None,
    )  # fmt: skip
    await asyncio.sleep(0)
    assert wakes.commits == 4 and not wakes.outbox.is_set()
    states = await store.read(
        lambda db: db.execute("SELECT state FROM events ORDER BY seq").fetchall()
    )
    assert [s for (s,) in states] == ["no_endpoint", "delivered"]


@pytest.mark.both_engines
async def test_a_rolled_back_event_leaves_the_outbox_empty(store: Store) -> None:
    job = await store.write(_new_job)
    wakes = Wakes(store)

    def fails(db) -> None:
        events.add_event(db, job, EventType.SMS_SENT, {})
        raise ValueError("refused after the insert")

    with pytest.raises(ValueError):
        await store.write(fails)
    # The rollback dropped the event; a spurious wake-up is harmless (the reader finds
    # nothing due), a missed one is not: the flag may be set, the outbox must be empty.
    assert await store.read(lambda db: db.execute("SELECT count(*) FROM events").fetchone()[0]) == 0
    assert wakes.commits == 0  # a lone write that failed commits nothing


@pytest.mark.both_engines
async def test_a_failed_write_in_a_batch_is_undone_alone(store: Store) -> None:
    job = await store.write(_new_job)
    wakes = Wakes(store)

    first, failed, last = await events_one_failing(store, job, job)
    assert isinstance(failed, ValueError) and first is not None and last is not None
    kept = await store.read(lambda db: db.execute("SELECT event_id FROM events").fetchall())
    assert sorted(row[0] for row in kept) == sorted([first, last])
    assert wakes.commits == 2  # the held write's, then the batch's


@pytest.mark.sqlite_only  # PostgreSQL: another host's events are seen by the sender's clock
async def test_another_process_commit_wakes_the_outbox_readers(
    store: Store, db_location: str
) -> None:
    job = await store.write(_new_job)
    wakes = Wakes(store)
    other = connect(db_location)  # the CLI's connection, e.g. ``modemd ipn replay``
    try:
        with other.conn:
            events.add_event(other, job, EventType.SMS_SENT, {})
    finally:
        other.conn.close()
    async with asyncio.timeout(DEADLINE_S):
        await wakes.outbox.wait()
    assert wakes.commits == 0  # nothing was committed by this store


@pytest.mark.both_engines
async def test_a_read_after_an_outbox_change_hands_over_what_is_due(store: Store) -> None:
    job = await store.write(_new_job)
    handed: list[list[str]] = []
    threads: list[str] = []

    def due(db) -> list[str]:
        threads.append(threading.current_thread().name)
        return [e.event_id for e in events.due_events(db, time.time() + 1)]

    store.after_change["events"].append((due, handed.append))
    await store.write(
        lambda db: jobs.insert_job(
            db, key_id=job.key_id, pin="4711", to="+31612345679", message="x", parts=1,
            encoding="gsm7",
        )
    )  # fmt: skip
    event_id = await store.write(events.add_event, job, EventType.SMS_SENT, {})
    async with asyncio.timeout(DEADLINE_S):  # right after the write's answer
        while not handed:
            await asyncio.sleep(0.01)
    # Hand-overs keep the commits' order: the job's insert (no event) handed nothing before.
    assert handed == [[event_id]]
    assert len(threads) == 1 and threads[0].startswith("store ")  # the store's own thread


async def test_a_failing_read_after_a_change_leaves_the_store_working(store: Store) -> None:
    job = await store.write(_new_job)

    def broken(db) -> None:
        raise RuntimeError("a bug in a reader")

    store.after_change["events"].append((broken, lambda _: None))
    assert await store.write(events.add_event, job, EventType.SMS_SENT, {}) is not None
    count = await store.read(lambda db: db.execute("SELECT count(*) FROM events").fetchone()[0])
    assert count == 1  # the store's thread lives on
