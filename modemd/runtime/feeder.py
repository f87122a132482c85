"""The feeder: hands the pools the jobs that wait in the database rather than in memory.

A high-lane job with a later ``send_at`` is handed to its pool when that time comes. Bulk-lane
jobs (campaigns) are handed over a few at a time, keeping each pool's bulk lane just long
enough that no device idles: a 100,000-job campaign never sits in memory, and an API send put
in the high lane meanwhile is the next job a device takes. A pool in its quiet hours gets no
bulk jobs; a campaign with a rate limit gets at most that many per minute. Jobs still queued
past their ``valid_until`` lapse here (``sms.lapsed``).

No tick: the feeder wakes when work is made (``wake``: a deferred or bulk job accepted, a
campaign queued or resumed, a pool's bulk lane running low) and otherwise sleeps until the
first time it knows of: the next ``send_at`` or ``valid_until`` of a queued job, the end of a
pool's quiet hours, a rate-limited campaign's room, a fed job's grace."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from modemd.model import Job, Lane
from modemd.runtime.alarm import Alarm, earliest
from modemd.runtime.bank import Bank
from modemd.store import campaigns as campaign_rows
from modemd.store import queue as queue_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

LAPSE_RECHECK_S = 5.0  # the first valid_until is looked up at most this often (a scan)
FED_GRACE_S = 30.0  # a fed job taken by a device is claimed within this (one store write)
BULK_PER_DEVICE = 2  # bulk jobs waiting per device of the pool: > one tick of sends
BULK_MIN_WAITING = 8  # ... and at least this many (a pool whose devices are still opening)
HIGH_BATCH = 1000  # due high-lane jobs handed over per tick at most
FEED_SLACK = 64  # rows read past those fed: room to skip a rate-limited campaign's jobs

Clock = Callable[[], float]
QuietHours = Callable[[str, float], float | None]  # (pin, now) -> end of its quiet hours


@dataclass(slots=True)
class _RateWindow:
    """Jobs of one rate-limited campaign fed in the last minute."""

    fed: deque[float] = field(default_factory=deque)

    def room(self, limit: int, now: float) -> int:
        while self.fed and self.fed[0] <= now - 60.0:
            self.fed.popleft()
        return max(0, limit - len(self.fed))

    def next_room(self) -> float:
        """When the oldest job fed leaves the window (call when there is no room)."""
        return self.fed[0] + 60.0


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
        self.quiet = quiet or (lambda _pin, _now: None)
        self.clock = clock
        self.alarm = Alarm(clock)
        self._fed: dict[str, tuple[float, str | None]] = {}  # job_id -> (when, campaign)
        self._rates: dict[str, _RateWindow] = {}
        self._next_lapse: float | None = float("-inf")  # the first valid_until (None: no job)
        self._lapse_known_at = float("-inf")  # when _next_lapse was looked up
        self._later: float | None = None  # the first time this round found to come back at

    def wake(self) -> None:
        self.alarm.ring()

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
            self.alarm.take()
            await self.alarm.sleep(await self.feed_once())

    async def feed_once(self) -> float | None:
        """One round: lapse, due high-lane jobs, bulk top-ups. Returns when to come back
        (None: only when woken)."""
        now = self.clock()
        self._later = None
        if self._next_lapse is not None and self._next_lapse <= now:
            await self.lapse(now)
            self._lapse_known_at = float("-inf")  # look the next one up this round
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
            quiet_until = self.quiet(pin, now)
            if quiet_until is not None:
                self._come_back(quiet_until)
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
        # A job with an early valid_until may have come since the last look-up: a new one is
        # due LAPSE_RECHECK_S after it (claims refuse a lapsed job meanwhile).
        recheck = now - self._lapse_known_at >= LAPSE_RECHECK_S
        send_at, first_valid_until = await self.store.read(queue_rows.next_times, now, recheck)
        if recheck:
            self._next_lapse, self._lapse_known_at = first_valid_until, now
        oldest_fed = min((v[0] for v in self._fed.values()), default=None)
        return earliest(
            self._later,
            send_at,
            self._next_lapse,
            None if recheck else self._lapse_known_at + LAPSE_RECHECK_S,
            None if oldest_fed is None else oldest_fed + FED_GRACE_S,
        )

    def _come_back(self, at: float) -> None:
        self._later = earliest(self._later, at)

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
            self._come_back(window.next_room())
            return False
        window.fed.append(now)
        return True

    def _hand(self, job: Job, now: float) -> None:
        self._fed[job.job_id] = (now, job.campaign_id)
        self.bank.submit(job)


def _among(ids: set[str]) -> Callable[[Job], bool]:
    return lambda job: job.job_id in ids
