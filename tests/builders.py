"""Test data built through the store's own functions (no SQL of its own)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from modemd.model import ApiKey, DeliveryReport, EventType, Job, SentPart
from modemd.sms.pdu import StatusReport
from modemd.sms.status import delivery_report
from modemd.store import events, jobs, keys
from modemd.store.db import Store
from modemd.store.stats import DeviceRow

TO = "+15550001"
DEVICE = "imei"


async def key_and_job(
    store: Store,
    ipn_url: str | None,
    *,
    allow_ips: tuple[str, ...] = (),
    pin: str = "1",
    events: tuple[str, ...] | None = None,
    to: str = TO,
) -> tuple[ApiKey, str, Job]:
    """A key (any IP unless ``allow_ips``; the default IPN events unless ``events``) and one
    queued job of it to ``to``; (key, secret, job)."""
    key, secret = await store.write(
        keys.create_key,
        pin=pin,
        allow_ips=list(allow_ips),
        over_ip=not allow_ips,
        ipn_url=ipn_url,
        events=events,
    )
    job = await store.write(
        jobs.insert_job, key_id=key.key_id, pin=pin, to=to, message="m", parts=1, encoding="gsm7"
    )
    return key, secret, job


async def sent_job(
    store: Store,
    ipn_url: str | None,
    mr: int = 9,
    *,
    events: tuple[str, ...] | None = None,
    to: str = TO,
) -> tuple[ApiKey, Job]:
    """A job claimed by ``DEVICE`` and sent as TP-MR ``mr`` (its ``sms.sent`` is pending)."""
    key, _, job = await key_and_job(store, ipn_url, events=events, to=to)
    claimed = await store.write(jobs.claim_job, job.job_id, DEVICE)
    return key, await store.write(jobs.mark_sent, claimed, [SentPart(1, mr)])


def tp_report(mr: int, recipient: str, tp_status: int) -> DeliveryReport:
    """A modem's status report (TP-MR, recipient, TP-Status) as the driver hands it on."""
    return delivery_report(StatusReport(mr, recipient, tp_status, None, None))


def dump(db: Any) -> list[str]:
    """Every row of every table as text, on either engine: equal before and after means nothing
    was written."""
    if getattr(db, "dialect", "sqlite") != "postgresql":
        return list(db.conn.iterdump())
    tables = [
        row[0]
        for row in db.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        ).fetchall()
    ]
    return [
        f"{table}: {row}"
        for table in tables
        for row in sorted(map(repr, db.execute(f"SELECT * FROM {table}").fetchall()))
    ]


async def in_one_batch(store: Store, writes: list[Any], deadline_s: float = 20.0) -> list[Any]:
    """Run the ``store.write(...)`` coroutines ``writes`` as one batch of the store's (one
    commit): its thread is held in a write of its own until all of them are queued. Their
    results or exceptions, in order."""
    entered, hold = threading.Event(), threading.Event()

    def held(db: Any) -> bool:
        entered.set()
        return hold.wait(deadline_s)

    holding = asyncio.ensure_future(store.write(held))
    assert await asyncio.to_thread(entered.wait, deadline_s)
    tasks = [asyncio.ensure_future(write) for write in writes]
    while store._queue.qsize() < len(tasks):  # all of them behind the held write
        await asyncio.sleep(0.01)
    hold.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert await holding is True
    return results


async def events_one_failing(store: Store, one: Job, two: Job) -> list[Any]:
    """In one batch: ``one``'s sms.sent, a write that adds ``two``'s sms.sent and then fails,
    ``two``'s sms.delivered. The first's id, the ValueError, the last's id."""

    def fails(db: Any) -> None:
        events.add_event(db, two, EventType.SMS_SENT, {})
        raise ValueError("refused after the insert")

    return await in_one_batch(
        store,
        [
            store.write(events.add_event, one, EventType.SMS_SENT, {}),
            store.write(fails),
            store.write(events.add_event, two, EventType.SMS_DELIVERED, {}),
        ],
    )


def device_row(
    device_id: str, *, state: str = "ready", signal: int | None = 20, iccid: str = ""
) -> DeviceRow:
    """A device of pool 7 as a snapshot reads it (``stats.snapshot``)."""
    return DeviceRow(
        device_id, "7", "modem", state, None, signal, None, None, None, iccid, None, None
    )
