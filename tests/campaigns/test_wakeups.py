"""The time-driven loops have no tick: each says when it has work next (an injected clock), and
the running loop wakes then or when work is made; idle, it waits for nothing (the safety wake
is a minute away, so a test that sees the work done in seconds saw the event or the deadline)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from modemd.api.schedules import parse_schedule
from modemd.model import Lane
from modemd.runtime.bank import Bank
from modemd.runtime.campaigns import DONE_CHECK_S, CampaignRunner
from modemd.runtime.feeder import FED_GRACE_S, LAPSE_RECHECK_S, Feeder
from modemd.runtime.scheduler import Scheduler
from modemd.runtime.slots import next_slots
from modemd.store import campaigns, jobs, keys
from modemd.store import schedules as schedule_rows
from modemd.store.db import Store

PIN = "7"
T0 = 1_800_000_000.0
WITHIN_S = 20.0  # generous under load, far below the minute a missed wake-up would take


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _key(store: Store) -> int:
    key, _ = await store.write(keys.create_key, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None)
    return key.key_id


async def _job(store: Store, key_id: int, n: int, **timing: object) -> str:
    job = await store.write(
        jobs.insert_job,
        key_id=key_id,
        pin=PIN,
        to=f"+3933300000{n:02d}",
        message="m",
        parts=1,
        encoding="gsm7",
        lane=Lane.HIGH,
        **timing,
    )
    return job.job_id


async def _until(found: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(WITHIN_S):
        while not await found():
            await asyncio.sleep(0.02)


async def test_the_feeder_comes_back_at_the_first_send_at_or_valid_until(store: Store) -> None:
    key_id = await _key(store)
    clock = Clock(T0)
    feeder = Feeder(store, Bank(store), clock=clock)
    assert await feeder.feed_once() is None  # nothing queued: only a wake-up brings it back
    await _job(store, key_id, 1, send_at=T0 + 90, valid_until=T0 + 500)
    second = await _job(store, key_id, 2, send_at=T0 + 40, valid_until=T0 + 300)
    # Jobs came since the first valid_until was looked up: looked up again shortly.
    assert await feeder.feed_once() == T0 + LAPSE_RECHECK_S
    clock.now = T0 + LAPSE_RECHECK_S
    assert await feeder.feed_once() == T0 + 40
    clock.now = T0 + 40
    # The second is fed: its grace (fed again if no device claimed it) comes before T0 + 90.
    assert await feeder.feed_once() == T0 + 40 + FED_GRACE_S
    clock.now = T0 + 40 + FED_GRACE_S
    assert await feeder.feed_once() == T0 + 90
    clock.now = T0 + 90
    assert await feeder.feed_once() == T0 + 90 + FED_GRACE_S
    clock.now = T0 + 90 + FED_GRACE_S
    assert await feeder.feed_once() == T0 + 300  # the first valid_until: the job lapses then
    clock.now = T0 + 300
    assert await feeder.feed_once() == T0 + 500
    lapsed = await store.read(jobs.get_job, second)
    assert lapsed is not None and lapsed.state.value == "lapsed"


async def test_a_running_feeder_hands_a_deferred_job_over_at_its_time(store: Store) -> None:
    key_id = await _key(store)
    bank = Bank(store)
    feeder = Feeder(store, bank)
    task = asyncio.create_task(feeder.run(), name="feeder")
    try:
        await asyncio.sleep(0.1)  # asleep with nothing to do
        job_id = await _job(store, key_id, 3, send_at=time.time() + 0.5)
        feeder.wake()  # what the API does after committing a deferred job

        async def handed() -> bool:
            return job_id in bank.pool(PIN).job_ids()

        await _until(handed)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_campaign_loop_sleeps_until_a_campaign_runs(store: Store) -> None:
    key_id = await _key(store)
    assert await store.read(campaigns.next_check_at, T0, DONE_CHECK_S) is None
    campaign_id = await store.write(
        campaigns.create, key_id=key_id, pin=PIN, template="m", progress_every_s=10.0
    )
    await store.write(
        campaigns.add_recipients,
        campaign_id,
        [campaigns.Recipient(2, "+393330000099", "IT", "m", 1, "gsm7")],
    )
    await store.write(campaigns.finish_validation, campaign_id, {"valid": 1})
    assert await store.read(campaigns.next_check_at, T0, DONE_CHECK_S) is None  # a draft
    await store.write(campaigns.start, campaign_id, PIN)
    now = time.time()  # started now: its first progress is 10 s away, a done check 1 s
    assert await store.read(campaigns.next_check_at, now, DONE_CHECK_S) == now + DONE_CHECK_S
    later = now + 3600  # ... and when the progress is overdue, at once
    assert await store.read(campaigns.next_check_at, later, DONE_CHECK_S) < later
    await store.write(campaigns.pause, campaign_id, PIN, "by the test")
    assert await store.read(campaigns.next_check_at, T0, DONE_CHECK_S) is None


async def test_a_new_schedule_wakes_the_sleeping_scheduler(store: Store) -> None:
    key_id = await _key(store)
    runner = CampaignRunner(store, Feeder(store, Bank(store)))
    scheduler = Scheduler(store, runner)
    task = asyncio.create_task(scheduler.run(), name="scheduler")
    try:
        await asyncio.sleep(0.1)  # no schedule: asleep until one is added
        now = time.time()
        wanted = parse_schedule(
            {"template": "Hi", "rrule": "FREQ=SECONDLY", "recipients": ["+393330000077"]},
            None,
            now,
        )
        first = next_slots(wanted.pop("rule"), now, 1)[0]
        schedule_id = await store.write(
            schedule_rows.create, key_id=key_id, pin=PIN, start=now, next_slot=first, **wanted
        )
        runner.schedules_changed()  # what the API does after the commit

        async def ran_twice() -> bool:
            shown = await store.read(schedule_rows.detail, schedule_id, PIN)
            return len(shown["runs"]) >= 2

        await _until(ran_twice)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.close()
