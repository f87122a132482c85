"""The feeder on its own: deferred high-lane jobs when their time comes, bulk jobs a few at a
time and not during the pool's quiet hours, lapsing; an injected clock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from modemd.model import Job, JobState, Lane
from modemd.quiet import quiet_hours
from modemd.runtime.bank import Bank
from modemd.runtime.feeder import BULK_MIN_WAITING, Feeder
from modemd.store import campaigns, jobs, keys
from modemd.store.db import Store

ROME = ZoneInfo("Europe/Rome")
NIGHT = datetime(2026, 6, 1, 23, 0, tzinfo=ROME).timestamp()
MORNING = datetime(2026, 6, 2, 9, 0, tzinfo=ROME).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _queue(store: Store, count: int, lane: Lane, **extra: object) -> list[Job]:
    key, _ = await store.write(keys.create_key, pin="7", allow_ips=[], over_ip=True, ipn_url=None)
    return [
        await store.write(
            jobs.insert_job,
            key_id=key.key_id,
            pin="7",
            to=f"+3933300000{n:02d}",
            message="m",
            parts=1,
            encoding="gsm7",
            lane=lane,
            **extra,
        )
        for n in range(count)
    ]


async def test_bulk_jobs_wait_out_quiet_hours_and_high_jobs_their_send_at(store: Store) -> None:
    bank = Bank(store)
    clock = Clock(NIGHT)
    quiet = quiet_hours({"7": {"quiet_hours": "21:00-08:00", "timezone": "Europe/Rome"}})
    feeder = Feeder(store, bank, quiet=quiet, clock=clock)
    await _queue(store, 20, Lane.BULK)
    (later,) = await _queue(store, 1, Lane.HIGH, send_at=NIGHT + 60)
    await feeder.feed_once()
    pool = bank.pool("7")
    assert len(pool) == 0  # night: nothing bulk, and the high job's time has not come
    clock.now = NIGHT + 61
    await feeder.feed_once()
    assert pool.job_ids() == {later.job_id}  # quiet hours hold only the bulk lane
    clock.now = MORNING
    await feeder.feed_once()
    # A few bulk jobs at a time (no devices yet: the minimum), oldest first, never twice.
    assert pool.waiting(Lane.BULK) == BULK_MIN_WAITING
    await feeder.feed_once()
    assert pool.waiting(Lane.BULK) == BULK_MIN_WAITING
    assert len(pool.job_ids()) == BULK_MIN_WAITING + 1


async def test_a_job_past_valid_until_lapses_and_leaves_the_pool(store: Store) -> None:
    bank = Bank(store)
    clock = Clock(MORNING)
    feeder = Feeder(store, bank, clock=clock)
    (job,) = await _queue(store, 1, Lane.HIGH, send_at=MORNING - 1, valid_until=MORNING + 30)
    await feeder.feed_once()
    assert bank.pool("7").job_ids() == {job.job_id}
    clock.now = MORNING + 31
    await feeder.lapse(clock.now)
    assert bank.pool("7").job_ids() == set()
    lapsed = await store.read(jobs.get_job, job.job_id)
    assert lapsed is not None and lapsed.state is JobState.LAPSED


async def test_a_campaign_rate_limit_feeds_at_most_that_many_a_minute(store: Store) -> None:
    bank = Bank(store)
    clock = Clock(MORNING)
    feeder = Feeder(store, bank, clock=clock)
    key, _ = await store.write(keys.create_key, pin="7", allow_ips=[], over_ip=True, ipn_url=None)
    campaign_id = await store.write(
        campaigns.create, key_id=key.key_id, pin="7", template="m", rate_per_min=5
    )
    recipients = [
        campaigns.Recipient(n + 2, f"+3933300001{n:02d}", "IT", "m", 1, "gsm7") for n in range(12)
    ]
    await store.write(campaigns.add_recipients, campaign_id, recipients)
    await store.write(campaigns.finish_validation, campaign_id, {"valid": 12})
    await store.write(campaigns.start, campaign_id, "7")
    assert await store.write(campaigns.queue_batch, campaign_id, 100) == 12
    await feeder.feed_once()
    await feeder.feed_once()
    assert bank.pool("7").waiting(Lane.BULK) == 5
    clock.now += 61  # a minute later five more may go; the lane holds BULK_MIN_WAITING
    await feeder.feed_once()
    assert bank.pool("7").waiting(Lane.BULK) == min(10, BULK_MIN_WAITING)
