"""The feeder: hands the pools the jobs that wait in the database rather than in memory.

A high-lane job with a later ``send_at`` is handed to its pool when that time comes. Bulk-lane
jobs (campaigns) are handed over a few at a time, keeping each pool's bulk lane just long
enough that no device idles: a 100,000-job campaign never sits in memory, and an API send put
in the high lane meanwhile is the next job a device takes. A pool in its quiet hours gets no
bulk jobs; a campaign with a rate limit gets at most that many per minute. Jobs still queued
past their ``valid_until`` lapse here (``sms.lapsed``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from modemd.model import Job, Lane
from modemd.runtime.bank import Bank
from modemd.store import campaigns as campaign_rows
from modemd.store import queue as queue_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

FEED_TICK_S = 0.25  # while bulk jobs wait (a pool whose bulk lane runs low wakes it sooner)
IDLE_TICK_S = 1.0  # nothing bulk waiting: look again this often (wake() cuts it short)
LAPSE_SWEEP_S = 5.0  # claims refuse a job past valid_until at once; the sweep only records it
FED_GRACE_S = 30.0  # a fed job taken by a device is claimed within this (one store write)
BULK_PER_DEVICE = 2  # bulk jobs waiting per device of the pool: > one tick of sends
BULK_MIN_WAITING = 8  # ... and at least this many (a pool whose devices are still opening)
HIGH_BATCH = 1000  # due high-lane jobs handed over per tick at most
FEED_SLACK = 64  # rows read past those fed: room to skip a rate-limited campaign's jobs

Clock = Callable[[], float]
QuietHours = Callable[[str, float], bool]  # (pin, now) -> no bulk sends now


@dataclass(slots=True)
class _RateWindow:
    """Jobs of one rate-limited campaign fed in the last minute."""

    fed: deque[float] = field(default_factory=deque)

    def room(self, limit: int, now: float) -> int:
        while self.fed and self.fed[0] <= now - 60.0:
            self.fed.popleft()
        return max(0, limit - len(self.fed))


class Feeder:
    """Owns one task (``run``); ``wake`` after queueing deferred or bulk jobs."""

    def __init__(
        self,
        store: Store,
        bank: Bank,
        *,
        quiet: QuietHours | None = None,
        clock: Clock = time.time,
        shared: bool = False,
    ) -> None:
        self.store = store
        # Hosts share the database: every queued high-lane job is fed, not only deferred ones.
        self.due_high = queue_rows.claimable_high if shared else queue_rows.due_high
        self.bank = bank
        self.quiet = quiet or (lambda _pin, _now: False)
        self.clock = clock
        self._wake = asyncio.Event()
        self._fed: dict[str, tuple[float, str | None]] = {}  # job_id -> (when, campaign)
        self._rates: dict[str, _RateWindow] = {}
        self._last_sweep = float("-inf")

    def wake(self) -> None:
        self._wake.set()

    def withdraw_campaign(self, campaign_id: str) -> int:
        """Take a paused or cancelled campaign's jobs back from the pools (not yet claimed)."""
        taken = self.bank.withdraw(lambda job: job.campaign_id == campaign_id)
        self.forget_campaign(campaign_id)
        return len(taken)

    def forget_campaign(self, campaign_id: str) -> None:
        """Its jobs may be fed again (resumed)."""
        for job_id in [j for j, (_, c) in self._fed.items() if c == campaign_id]:
            del self._fed[job_id]
        self.wake()

    async def run(self) -> None:
        """Feed until cancelled."""
        while True:
            busy = await self.feed_once()
            self._wake.clear()
            try:
                async with asyncio.timeout(FEED_TICK_S if busy else IDLE_TICK_S):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def feed_once(self) -> bool:
        """One round: lapse, due high-lane jobs, bulk top-ups. True when bulk jobs wait."""
        now = self.clock()
        if now - self._last_sweep >= LAPSE_SWEEP_S:
            self._last_sweep = now
            await self.lapse(now)
        self._fed = {j: v for j, v in self._fed.items() if v[0] > now - FED_GRACE_S}
        waiting: dict[str, set[str]] = {}  # per pin, read once per round
        for job in await self.store.read(self.due_high, now, HIGH_BATCH):
            if job.pin not in waiting:
                waiting[job.pin] = self.bank.pool(job.pin).job_ids()
            if job.job_id not in waiting[job.pin] and job.job_id not in self._fed:
                self._hand(job, now)
        pins = await self.store.read(queue_rows.bulk_pins, set(self.bank.pools))
        rates = await self.store.read(campaign_rows.rate_limits) if pins else {}
        for pin in pins:
            if self.quiet(pin, now):
                continue
            pool = self.bank.pool(pin)
            target = max(BULK_MIN_WAITING, BULK_PER_DEVICE * len(self.bank.offers(pin)))
            pool.on_bulk_low, pool.bulk_low_water = self.wake, target // 2
            room = target - pool.waiting(Lane.BULK)
            if room <= 0:
                continue
            # The oldest due jobs are those already fed (waiting in the lane, or in a device's
            # hands before its claim), then new ones: read just enough of both (not every job
            # fed in the last FED_GRACE_S).
            limit = room + target + len(self.bank.offers(pin)) + FEED_SLACK
            candidates = await self.store.read(queue_rows.due_bulk, pin, now, limit)
            for job in candidates:
                if room <= 0:
                    break
                if self._handed(job) or not self._within_rate(job, rates, now):
                    continue
                self._hand(job, now)
                room -= 1
        return bool(pins)

    async def lapse(self, now: float) -> None:
        """Record as ``lapsed`` every queued job past its ``valid_until`` (in batches)."""
        while True:
            lapsed = await self.store.write(queue_rows.lapse_overdue, now)
            if lapsed:
                self.bank.withdraw(_among({job.job_id for job in lapsed}))
                log.info("%d queued jobs lapsed (past valid_until, never sent)", len(lapsed))
            if len(lapsed) < queue_rows.LAPSE_BATCH:
                return

    def _handed(self, job: Job) -> bool:
        return job.job_id in self._fed or job.job_id in self.bank.pool(job.pin).job_ids()

    def _within_rate(self, job: Job, rates: dict[str, int], now: float) -> bool:
        limit = rates.get(job.campaign_id or "")
        if limit is None:
            return True
        window = self._rates.setdefault(job.campaign_id or "", _RateWindow())
        if window.room(limit, now) <= 0:
            return False
        window.fed.append(now)
        return True

    def _hand(self, job: Job, now: float) -> None:
        self._fed[job.job_id] = (now, job.campaign_id)
        self.bank.submit(job)


def _among(ids: set[str]) -> Callable[[Job], bool]:
    return lambda job: job.job_id in ids
