"""Test data built through the store's own functions (no SQL of its own)."""

from __future__ import annotations

from typing import Any

from modemd.model import ApiKey, DeliveryReport, Job, SentPart
from modemd.sms.pdu import StatusReport
from modemd.sms.status import delivery_report
from modemd.store import jobs, keys
from modemd.store.db import Store

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
