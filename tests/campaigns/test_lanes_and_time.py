"""Lanes in a pool, send_at / valid_until / ttl, lapsed and cancelled jobs (store level)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlite_utils

from modemd.api.timing import NO_TIMING, TIMING_FIELDS, parse_instant, parse_timing
from modemd.api.validation import RequestError
from modemd.errors import InvalidTransitionError
from modemd.model import Job, JobState, Lane
from modemd.runtime.pool import PoolQueue
from modemd.store import events, jobs, keys, queue, wallet
from modemd.store.db import Store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()


def job(job_id: str, lane: Lane, campaign_id: str | None = None) -> Job:
    return Job(job_id, 1, "p", "+1555", "m", JobState.QUEUED, lane=lane, campaign_id=campaign_id)


async def test_a_device_takes_the_oldest_job_of_the_highest_non_empty_lane() -> None:
    pool = PoolQueue("p")
    for n in range(3):
        pool.put(job(f"b{n}", Lane.BULK))
    pool.put(job("h0", Lane.HIGH))
    pool.put(job("h1", Lane.HIGH))
    taken = [(await pool.take("d")).job_id for _ in range(5)]
    assert taken == ["h0", "h1", "b0", "b1", "b2"]


async def test_withdraw_takes_back_only_the_selected_jobs() -> None:
    pool = PoolQueue("p")
    pool.put(job("a", Lane.BULK, "cmp_1"))
    pool.put(job("b", Lane.BULK, "cmp_2"))
    pool.put(job("c", Lane.HIGH))
    taken = pool.withdraw(lambda j: j.campaign_id == "cmp_1")
    assert [j.job_id for j in taken] == ["a"]
    assert pool.job_ids() == {"b", "c"} and pool.waiting(Lane.BULK) == 1


def test_send_at_forms() -> None:
    assert parse_instant("2026-03-01T13:00:00+01:00", "send_at") == NOW
    assert parse_instant("2026-03-01T13:00:00 Europe/Rome", "send_at") == NOW
    assert parse_instant("2026-03-01T13:00:00[Europe/Rome]", "send_at") == NOW
    assert parse_instant("2026-03-01T12:00:00Z", "send_at") == NOW
    assert parse_timing({"send_at": "2026-03-01T08:00", "timezone": "America/New_York"}, NOW - 5)
    assert parse_timing({"ttl": "60"}, NOW).valid_until == NOW + 60
    assert parse_timing({"lane": "bulk"}, NOW).lane is Lane.BULK


class _Reads(dict):  # type: ignore[type-arg]
    """Fields that note every name looked up in them."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, name: str, default: object = None) -> object:
        self.asked.add(name)
        return super().get(name, default)

    def __getitem__(self, name: str) -> object:
        self.asked.add(name)
        return super().__getitem__(name)


def test_a_send_without_timing_fields_takes_the_keys_defaults_at_once() -> None:
    """parse_timing returns NO_TIMING without reading when none of TIMING_FIELDS is given, so
    every field it reads must be one of them (a new field left out would be ignored)."""
    fields = _Reads(dict.fromkeys(TIMING_FIELDS, ""))
    assert parse_timing(fields, NOW) == NO_TIMING == parse_timing({"to": "+1", "msg": "x"}, NOW)
    assert fields.asked and fields.asked <= TIMING_FIELDS
    given = _Reads({"send_at": NOW + 60, "ttl": 30, "lane": "bulk", "timezone": "UTC"})
    assert parse_timing(given, NOW) != NO_TIMING and given.asked <= TIMING_FIELDS


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"send_at": "2026-03-01T10:00:00Z"}, "in the past"),
        ({"send_at": "2046-03-01T10:00:00Z"}, "more than one year ahead"),
        ({"send_at": "2026-03-02T10:00:00"}, "needs an offset"),
        ({"send_at": "tomorrow"}, "not an ISO-8601 time"),
        ({"send_at": "2026-03-02T10:00:00 Mars/Olympus"}, "unknown time zone"),
        ({"ttl": "0"}, "'ttl' must be between"),
        ({"ttl": "nan"}, "'ttl' must be between"),
        ({"ttl": "60", "valid_until": "2026-03-02T10:00:00Z"}, "not both"),
        ({"valid_until": "2026-03-01T11:00:00Z"}, "'valid_until' must be after"),
        ({"lane": "urgent"}, "'lane' must be one of high, bulk"),
    ],
)
def test_bad_times_are_refused_precisely(fields: dict[str, str], says: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_timing(fields, NOW)
    assert says in caught.value.message


async def _job(store: Store, **extra: object) -> Job:
    key, _ = await store.write(keys.create_key, pin="1", allow_ips=[], over_ip=True, ipn_url=None)
    return await store.write(
        jobs.insert_job,
        key_id=key.key_id,
        pin="1",
        to="+15550001",
        message="m",
        parts=1,
        encoding="gsm7",
        **extra,
    )


async def test_a_job_queued_past_valid_until_lapses_and_is_never_claimed(store: Store) -> None:
    soon = await _job(store, valid_until=10**10)
    past = await _job(store, valid_until=1.0)
    assert await store.write(jobs.claim_job, past.job_id, "imei") is None  # claims check it too
    lapsed = await store.write(queue.lapse_overdue, 100.0)
    assert [j.job_id for j in lapsed] == [past.job_id]
    assert lapsed[0].state is JobState.LAPSED
    assert [e["type"] for e in await store.read(events.list_events, past.job_id)] == ["sms.lapsed"]
    still = await store.read(jobs.get_job, soon.job_id)
    assert still is not None and still.state is JobState.QUEUED


async def test_cancel_a_queued_job_refunds_it_and_refuses_the_rest(store: Store) -> None:
    key, _ = await store.write(keys.create_key, pin="1", allow_ips=[], over_ip=True, ipn_url=None)
    await store.write(wallet.topup, key.key_id, 10_000)
    await store.write(wallet.set_price, "*", 500)

    def accept(db: sqlite_utils.Database) -> Job:
        made = jobs.insert_job(
            db,
            key_id=key.key_id,
            pin="1",
            to="+15550001",
            message="m",
            parts=1,
            encoding="gsm7",
        )
        wallet.reserve(db, made, None)
        return made

    queued = await store.write(accept)
    assert (await store.read(wallet.balance, key.key_id)).available == 9_500
    with pytest.raises(LookupError):
        await store.write(queue.cancel_job, queued.job_id, "other pin")
    cancelled = await store.write(queue.cancel_job, queued.job_id, "1")
    assert cancelled.state is JobState.CANCELLED
    assert (await store.read(wallet.balance, key.key_id)).available == 10_000  # refunded
    with pytest.raises(InvalidTransitionError, match="only a queued job can be cancelled"):
        await store.write(queue.cancel_job, queued.job_id, "1")
    assert [e["type"] for e in await store.read(events.list_events, queued.job_id)] == [
        "sms.cancelled"
    ]
