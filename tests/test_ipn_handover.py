"""A new outbox event first in line for its job reaches the IPN sender with its commit's
answers (``Store.on_staged``), with no read of the outbox; a write rolled back hands nothing
on; an event behind an older pending one of its job is left to the sender's look (its read, or
the record of the post before it, which looks in its own write)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from builders import events_one_failing, in_one_batch

from modemd.api.listener import start_listener
from modemd.errors import StoreError
from modemd.model import EventType
from modemd.store import events, jobs, keys
from modemd.store.batches import replayable
from modemd.store.db import Store
from modemd.store.events import OutboxEvent
from modemd.webhooks.sender import IpnSender

pytestmark = pytest.mark.sqlite_only  # PostgreSQL: hosts lease what they post (a read)

DEADLINE_S = 20.0


def _new_job(db: Any, to: str = "+31612345678") -> Any:
    key, _ = keys.create_key(
        db, pin="4711", allow_ips=[], over_ip=True, ipn_url="http://127.0.0.1:9/ipn"
    )
    return jobs.insert_job(
        db, key_id=key.key_id, pin="4711", to=to, message="hi", parts=1, encoding="gsm7"
    )


class Taker:
    """What the store hands on, and how often the outbox's after-change read ran."""

    def __init__(self, store: Store) -> None:
        self.staged: list[list[OutboxEvent]] = []
        self.reads = 0
        self.handed: list[list[str]] = []
        store.on_staged.append(self.staged.append)
        store.after_change["events"].append((self._read, self.handed.append))

    def _read(self, db: Any) -> list[str]:
        self.reads += 1
        return [e.event_id for e in events.due_events(db, time.time() + 1)]

    def ids(self) -> list[str]:
        return [e.event_id for batch in self.staged for e in batch]


async def _settled(store: Store) -> None:
    """The hand-overs of every commit so far have run on the loop (FIFO behind this read)."""
    await store.read(lambda db: None)
    await asyncio.sleep(0)


async def test_a_new_event_comes_with_its_commit_as_the_outbox_would_read_it(
    store: Store,
) -> None:
    job = await store.write(_new_job)
    taker = Taker(store)
    event_id = await store.write(events.add_event, job, EventType.SMS_SENT, {"parts": 1})
    await _settled(store)
    assert taker.ids() == [event_id]
    assert taker.reads == 0  # nothing read after the commit: the event came with it
    read = await store.read(events.due_events, time.time() + 1)
    assert taker.staged[0] == read  # every field, the endpoint's secret included


async def test_an_event_behind_a_pending_one_of_its_job_is_left_to_the_read(
    store: Store,
) -> None:
    job = await store.write(_new_job)
    taker = Taker(store)
    first = await store.write(events.add_event, job, EventType.SMS_SENT, {})
    second = await store.write(events.add_event, job, EventType.SMS_DELIVERED, {})
    await _settled(store)
    assert taker.ids() == [first]
    assert taker.reads == 1  # the second's commit: read, and only the first is due
    assert taker.handed == [[first]]
    await store.write(
        events.record_attempt, first, http_status=200, error=None, delivered=True,
        next_attempt_at=None,
    )  # fmt: skip
    due = await store.read(events.due_events, time.time() + 1)
    assert [e.event_id for e in due] == [second]  # the sender's read after its post


async def test_a_write_rolled_back_in_its_batch_hands_nothing_on(store: Store) -> None:
    one = await store.write(_new_job)
    two = await store.write(_new_job, "+31612345679")
    taker = Taker(store)

    first, failed, last = await events_one_failing(store, one, two)
    assert isinstance(failed, ValueError)
    await _settled(store)
    assert taker.ids() == [first, last]  # in commit order, the rolled-back one left out
    assert taker.reads == 1  # its insert counted a change that was not handed on: read

    three = await store.write(_new_job, "+31612345670")

    def fails(db: Any) -> None:  # an event first in line for its job: it would be staged
        events.add_event(db, three, EventType.SMS_SENT, {})
        raise ValueError("refused after the insert")

    with pytest.raises(ValueError):
        await store.write(fails)  # alone: the transaction is rolled back
    await _settled(store)
    assert taker.ids() == [first, last]


async def test_a_replayed_batch_hands_each_event_on_once(store: Store) -> None:
    """Replayable writes share a commit without savepoints; one failing rolls them all back
    and the batch runs again, a savepoint each: what the first try staged goes with it."""
    one = await store.write(_new_job)
    two = await store.write(_new_job, "+31612345679")
    taker = Taker(store)

    @replayable
    def adds(db: Any, job: Any) -> str | None:
        return events.add_event(db, job, EventType.SMS_SENT, {})

    @replayable
    def fails(db: Any) -> None:
        raise ValueError("refused")

    first, failed, last = await in_one_batch(
        store, [store.write(adds, one), store.write(fails), store.write(adds, two)]
    )
    assert isinstance(failed, ValueError)
    await _settled(store)
    assert taker.ids() == [first, last]


class LookCountingStore(Store):
    """A store that counts the IPN sender's reads of the outbox (its look after a post)."""

    looks = 0

    async def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__name__", "") == "_due_and_next":
            self.looks += 1
        return await super().read(fn, *args, **kwargs)


async def test_the_look_after_a_post_comes_with_its_record_not_a_read(tmp_path: Any) -> None:
    """A post's record reads what is due in its own write: the job's next event, waiting
    behind the one posted, goes out with no read of the sender's own after either post."""
    store = LookCountingStore(tmp_path / "modemd.db")
    await store.start()
    seen: list[str] = []
    runner, port = await start_listener(lambda body, _headers: seen.append(body["type"]))
    sender = IpnSender(store, rng=random.Random(1))
    try:
        job = await store.write(_new_job)
        await store.write(_point_at, job.key_id, f"http://127.0.0.1:{port}/ipn")
        await store.write(events.add_event, job, EventType.SMS_SENT, {})
        await store.write(events.add_event, job, EventType.SMS_DELIVERED, {})
        sender.listen()
        task = asyncio.create_task(sender.run(), name="ipn sender")
        try:
            async with asyncio.timeout(DEADLINE_S):
                while len(await store.read(events.list_by_state, "delivered")) < 2:
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await runner.cleanup()
        await store.close()
    assert seen == ["sms.sent", "sms.delivered"]
    assert store.looks == 1  # the first turn's; none after each post


def _point_at(db: Any, key_id: int, url: str) -> None:
    db.conn.execute("UPDATE api_keys SET ipn_url = ? WHERE key_id = ?", [url, key_id])


async def test_an_attempt_is_recorded_in_two_statements(store: Store) -> None:
    job = await store.write(_new_job)
    event_id = await store.write(events.add_event, job, EventType.SMS_SENT, {})
    seen: list[str] = []
    await store.write(lambda db: db.conn.set_trace_callback(seen.append))
    await store.write(
        events.record_attempt, event_id, http_status=503, error="HTTP 503", delivered=False,
        next_attempt_at=time.time() + 5,
    )  # fmt: skip
    await store.write(lambda db: db.conn.set_trace_callback(None))
    # (a statement that fires triggers is traced again for each: counted once)
    own = [s for s in dict.fromkeys(seen) if not s.startswith(("BEGIN", "COMMIT", "PRAGMA"))]
    assert [s.split()[0] for s in own] == ["INSERT", "UPDATE"]  # no schema read, no savepoint
    row = await store.read(
        lambda db: db.conn.execute(
            "SELECT e.attempts, e.state, e.last_error, a.attempt, a.http_status FROM events e "
            "JOIN event_attempts a USING (event_id) WHERE event_id = ?",
            [event_id],
        ).fetchall()
    )
    assert row == [(1, "pending", "HTTP 503", 1, 503)]
    with pytest.raises(StoreError, match="no event"):
        await store.write(
            events.record_attempt, "evt_nothing", http_status=200, error=None, delivered=True,
            next_attempt_at=None,
        )  # fmt: skip
