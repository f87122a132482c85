"""The scheduler: each slot of a schedule becomes one campaign, run when it comes (the loop
sleeps until the earliest next slot, or until a schedule is added). Slots that came while the
daemon was down (older than ``MISSED_GRACE_S``) follow the schedule's policy: ``skip`` drops
them, ``run_once`` runs the latest of them once. The clock is injectable (tests)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from modemd.runtime.alarm import Alarm
from modemd.runtime.campaigns import CampaignRunner
from modemd.runtime.feeder import Clock
from modemd.runtime.slots import Rule, anchorable, slots_with_walls
from modemd.store import schedules as schedule_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

MISSED_GRACE_S = 60.0  # a slot older than this when found was missed (the daemon was down)
MAX_SLOTS_PER_TICK = 10_000  # a long outage of a per-second schedule: the rest are dropped


def rule_of(row: dict[str, Any]) -> Rule:
    anchor = datetime.fromisoformat(row["anchor"]) if row["anchor"] else None
    return Rule(row["kind"], row["expression"], row["timezone"], row["start"], anchor)


class Scheduler:
    """Owns one task (``run``); ``tick`` does one round (tests call it with their clock)."""

    def __init__(
        self,
        store: Store,
        runner: CampaignRunner,
        *,
        clock: Clock = time.time,
        grace_s: float = MISSED_GRACE_S,
    ) -> None:
        self.store = store
        self.runner = runner
        self.clock = clock
        self.grace_s = grace_s
        self.alarm = Alarm(clock)
        runner.on_schedules_changed.append(self.alarm.ring)

    async def run(self) -> None:
        """Run each slot when it comes (a new schedule wakes it), until cancelled."""
        while True:
            self.alarm.take()
            await self.tick()
            await self.alarm.sleep(await self.store.read(schedule_rows.next_due_at))

    async def tick(self) -> list[str]:
        """Run what is due; returns the campaigns made."""
        now = self.clock()
        made: list[str] = []
        for row in await self.store.read(schedule_rows.due, now):
            made += await self._fire(row, now)
        return made

    async def _fire(self, row: dict[str, Any], now: float) -> list[str]:
        rule = rule_of(row)
        due = [float(row["next_slot"])]
        while True:
            later = await asyncio.to_thread(slots_with_walls, rule, due[-1], 1)
            if not later or later[0][0] > now or len(due) >= MAX_SLOTS_PER_TICK:
                break
            due.append(later[0][0])
        missed = [slot for slot in due if now - slot > self.grace_s]
        runs = [slot for slot in due if now - slot <= self.grace_s]
        if missed and row["missed"] == "run_once":
            runs.insert(0, missed[-1])
        if missed:
            log.warning(
                "schedule %s: %d slots missed while modemd was down (%s): %s",
                row["schedule_id"],
                len(missed),
                row["missed"],
                "the latest runs once" if row["missed"] == "run_once" else "skipped",
            )
        # The next slot's wall time anchors an RRULE from now on (it is one of its occurrences)
        anchor = later[0][1].isoformat() if later and anchorable(rule) else None
        made = await self.store.write(
            schedule_rows.advance,
            row["schedule_id"],
            expected=row["next_slot"],
            runs=runs,
            last_slot=due[-1],
            next_slot=later[0][0] if later else None,
            anchor=anchor,
        )
        for campaign_id in made:
            log.info("schedule %s: campaign %s started", row["schedule_id"], campaign_id)
            self.runner.queue(campaign_id)
        if not later:
            log.info("schedule %s: its rule has no more slots", row["schedule_id"])
        return made
