"""Campaigns at run time: their recipients become jobs in batches (the store's writer is never
held long, so API sends keep their latency), the feeder is told, and once a second running
campaigns are checked for progress and completion (``campaign.progress``, ``campaign.done``);
with no campaign running, nothing is looked at until one starts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from modemd.caps import NO_CAPS, Caps
from modemd.runtime.alarm import Alarm
from modemd.runtime.feeder import Clock, Feeder
from modemd.store import campaigns as campaign_rows
from modemd.store.accept import DestinationLimits
from modemd.store.db import Store

log = logging.getLogger(__name__)

QUEUE_BATCH = 2000  # recipients made jobs per write: ~50 ms of the writer at a time
DONE_CHECK_S = 1.0  # while a campaign runs, whether its last job left the queue is seen this late


class CampaignRunner:
    """Owns the queueing tasks and the tick task; the API's campaign actions go through it."""

    def __init__(
        self,
        store: Store,
        feeder: Feeder,
        *,
        clock: Clock = time.time,
        limits: DestinationLimits | None = None,
        key_caps: Callable[[str], Caps] = lambda _pin: NO_CAPS,
    ) -> None:
        self.store = store
        self.feeder = feeder
        self.clock = clock
        self.limits = limits  # the key's hourly [limits], as /send applies them
        self.key_caps = key_caps  # pin -> each key's daily and monthly caps of that pool
        self._queueing: dict[str, asyncio.Task[None]] = {}
        self.alarm = Alarm(clock)  # rung when a campaign starts running
        self.on_schedules_changed: list[Callable[[], None]] = []  # the scheduler's wake-up

    def schedules_changed(self) -> None:
        """A schedule was added or removed (the API calls it after the commit)."""
        for callback in self.on_schedules_changed:
            callback()

    async def recover(self) -> None:
        """At start-up: drop half-validated campaigns, finish queueing the running ones."""
        dropped = await self.store.write(campaign_rows.discard_unfinished)
        if dropped:
            log.warning("%d campaigns were being validated when modemd stopped: removed", dropped)
        for campaign_id in await self.store.read(campaign_rows.unqueued_running):
            self.queue(campaign_id)

    async def start(self, campaign_id: str, pin: str) -> dict[str, Any]:
        shown = await self.store.write(campaign_rows.start, campaign_id, pin)
        log.info("campaign %s started: %d recipients", campaign_id, shown["total"])
        self.queue(campaign_id)
        return shown

    async def pause(self, campaign_id: str, pin: str) -> dict[str, Any]:
        shown = await self.store.write(
            campaign_rows.pause, campaign_id, pin, "paused by the client"
        )
        taken = self.feeder.withdraw_campaign(campaign_id)
        log.info("campaign %s paused (%d jobs taken back from the pool)", campaign_id, taken)
        return shown

    async def resume(self, campaign_id: str, pin: str) -> dict[str, Any]:
        shown = await self.store.write(campaign_rows.resume, campaign_id, pin)
        self.feeder.forget_campaign(campaign_id)
        log.info("campaign %s resumed", campaign_id)
        self.queue(campaign_id)
        return shown

    async def cancel(self, campaign_id: str, pin: str) -> dict[str, Any]:
        shown = await self.store.write(campaign_rows.cancel, campaign_id, pin)
        self.feeder.withdraw_campaign(campaign_id)
        log.info("campaign %s cancelled", campaign_id)
        return shown

    def queue(self, campaign_id: str) -> None:
        """Make the campaign's remaining recipients jobs (one task per campaign)."""
        running = self._queueing.get(campaign_id)
        if running is not None and not running.done():
            return
        self._queueing[campaign_id] = asyncio.create_task(
            self._queue(campaign_id), name=f"queue campaign {campaign_id}"
        )
        self.alarm.ring()

    async def _queue(self, campaign_id: str) -> None:
        total = 0
        pin = await self.store.read(campaign_rows.get_pin, campaign_id)
        key_caps = self.key_caps(pin) if pin is not None else NO_CAPS
        while made := await self.store.write(
            campaign_rows.queue_batch,
            campaign_id,
            QUEUE_BATCH,
            limits=self.limits,
            key_caps=key_caps,
        ):
            total += made
            self.feeder.wake()
        if total:
            log.info("campaign %s: %d jobs queued", campaign_id, total)
        self._queueing.pop(campaign_id, None)

    async def queued(self) -> None:
        """Wait until every queueing task has finished (tests, benchmarks)."""
        while self._queueing:
            await asyncio.gather(*self._queueing.values(), return_exceptions=True)

    async def run(self) -> None:
        """Progress and completion while campaigns run; asleep when none does (a start or a
        resume wakes it). Until cancelled."""
        while True:
            self.alarm.take()
            now = self.clock()
            for campaign_id in await self.store.write(campaign_rows.tick, now):
                log.info("campaign %s done: every job left the queue", campaign_id)
            await self.alarm.sleep(
                await self.store.read(campaign_rows.next_check_at, now, DONE_CHECK_S)
            )

    async def close(self) -> None:
        tasks = list(self._queueing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._queueing.clear()
