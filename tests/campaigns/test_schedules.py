"""Schedules: DST-correct slots, one campaign per slot (never two, also when a tick repeats
or the process restarts), missed slots by policy; an injected clock, never minutes of waiting."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from modemd.api.schedules import parse_schedule
from modemd.api.validation import RequestError
from modemd.runtime.bank import Bank
from modemd.runtime.campaigns import CampaignRunner
from modemd.runtime.feeder import Feeder
from modemd.runtime.scheduler import Scheduler
from modemd.runtime.slots import check, next_slots
from modemd.store import keys
from modemd.store import schedules as schedule_rows
from modemd.store.db import Store

ROME = ZoneInfo("Europe/Rome")


def local(*args: int) -> float:
    return datetime(*args, tzinfo=ROME).timestamp()  # type: ignore[misc]


def walls(slots: list[float]) -> list[str]:
    return [datetime.fromtimestamp(s, ROME).isoformat() for s in slots]


def test_a_0230_daily_send_runs_once_on_both_dst_days() -> None:
    rule = check("cron", "30 2 * * *", "Europe/Rome", local(2026, 3, 28))
    spring = next_slots(rule, local(2026, 3, 28), 3)
    assert walls(spring) == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00",  # 02:30 does not exist: once, an hour later by the clock
        "2026-03-30T02:30:00+02:00",
    ]
    autumn = next_slots(rule, local(2026, 10, 24), 3)
    assert walls(autumn) == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",  # 02:30 happens twice: only the first
        "2026-10-26T02:30:00+01:00",
    ]
    rrule = check("rrule", "FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0", "Europe/Rome", spring[0])
    assert next_slots(rrule, local(2026, 3, 28, 12), 1) == [spring[1]]
    assert next_slots(rrule, local(2026, 10, 24, 12), 1) == [autumn[1]]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"cron": "0 0 30 2 *"}, "never fires"),
        ({"cron": "61 * * * *"}, "not a cron expression"),
        ({"rrule": "FREQ=DAILY;COUNT=0"}, "never fires"),
        ({"rrule": "FREQ=SOMETIMES"}, "not an RRULE"),
        ({"cron": "* * * * *", "rrule": "FREQ=DAILY"}, "one of 'cron' or 'rrule'"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"cron": "* * * * *", "missed": "sometimes"}, "skip or run_once"),
        ({"cron": "* * * * *", "recipients": ["+39abc"]}, "no valid recipients"),
    ],
)
def test_bad_schedules_are_refused_precisely(fields: dict[str, object], says: str) -> None:
    wanted = {"template": "Hi", "recipients": ["+393331234567"], **fields}
    with pytest.raises(RequestError) as caught:
        parse_schedule(wanted, None, local(2026, 1, 1))
    assert says in caught.value.message


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _scheduled(store: Store, rule: str, start: float, missed: str = "run_once") -> str:
    key, _ = await store.write(keys.create_key, pin="1", allow_ips=[], over_ip=True, ipn_url=None)
    wanted = parse_schedule(
        {
            "template": "Hi {name}",
            "rrule": rule,
            "missed": missed,
            "recipients": [
                {"to": "+393331234567", "name": "A"},
                {"to": "+393337654321", "name": "B"},
            ],
        },
        None,
        start,
    )
    first = next_slots(wanted.pop("rule"), start, 1)[0]
    return await store.write(
        schedule_rows.create, key_id=key.key_id, pin="1", start=start, next_slot=first, **wanted
    )


def _scheduler(
    store: Store, clock: Clock, grace_s: float = 60.0
) -> tuple[Scheduler, CampaignRunner]:
    runner = CampaignRunner(store, Feeder(store, Bank(store)))
    return Scheduler(store, runner, clock=clock, grace_s=grace_s), runner


async def _runs(store: Store, schedule_id: str) -> list[float]:
    shown = await store.read(schedule_rows.detail, schedule_id, "1")
    return sorted(r["slot"] for r in shown["runs"])


async def test_each_slot_makes_one_campaign_even_when_ticks_repeat_or_restart(store: Store) -> None:
    start = 1_800_000_000.0
    clock = Clock(start)
    schedule_id = await _scheduled(store, "FREQ=SECONDLY", start)
    scheduler, runner = _scheduler(store, clock)
    for step in (1.0, 1.0, 1.5, 0.0, 0.5):  # a repeated tick at the same time makes nothing
        clock.now += step
        await scheduler.tick()
    # A second scheduler (a restarted daemon) on the same database: no slot twice.
    again, runner2 = _scheduler(store, clock)
    await again.tick()
    clock.now += 1
    await again.tick()
    assert await _runs(store, schedule_id) == [start + n for n in range(1, 6)]
    await runner.queued()
    await runner2.queued()
    shown = await store.read(schedule_rows.detail, schedule_id, "1")
    assert all(r["state"] == "running" for r in shown["runs"])


async def test_the_same_slot_advanced_twice_runs_once(store: Store) -> None:
    start = 1_800_000_000.0
    schedule_id = await _scheduled(store, "FREQ=SECONDLY", start)

    def run_first_slot() -> Awaitable[list[str]]:
        return store.write(
            schedule_rows.advance,
            schedule_id,
            expected=start + 1,
            runs=[start + 1],
            last_slot=start + 1,
            next_slot=start + 2,
            anchor=None,
        )

    made = await run_first_slot()
    assert len(made) == 1
    # As if a crash lost the schedule's advance but kept the run: the slot is refused.
    await store.write(
        lambda db: db.execute(
            "UPDATE schedules SET next_slot = ? WHERE schedule_id = ?", [start + 1, schedule_id]
        )
    )
    again = await run_first_slot()
    assert again == [] and await _runs(store, schedule_id) == [start + 1]


@pytest.mark.parametrize(("missed", "expected"), [("skip", []), ("run_once", [1_800_000_599.0])])
async def test_slots_missed_while_down_follow_the_policy(
    store: Store, missed: str, expected: list[float]
) -> None:
    start = 1_800_000_000.0
    schedule_id = await _scheduled(store, "FREQ=MINUTELY;BYSECOND=59", start, missed)
    clock = Clock(start + 10 * 60 + 30)  # ten slots came and went while the daemon was down
    scheduler, runner = _scheduler(store, clock, grace_s=5.0)
    await scheduler.tick()
    await runner.queued()
    assert await _runs(store, schedule_id) == expected
    shown = await store.read(schedule_rows.detail, schedule_id, "1")
    assert shown["next_slot"] == start + 10 * 60 + 59
    assert datetime.fromtimestamp(shown["next_slot"], UTC).second == 59
