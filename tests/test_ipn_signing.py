"""Signed IPNs checked by the reference Standard Webhooks library; retry decisions; dead letters,
410, replay, rotation and the form format."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
import standardwebhooks
from aiohttp import web
from builders import sent_job as build_sent_job
from builders import tp_report

from modemd.api.app import start_site
from modemd.store import endpoints, events, reports
from modemd.store.db import Store
from modemd.webhooks.sender import (
    POSTS_BEFORE_DEAD_LETTER,
    IpnSender,
    parse_retry_after,
    plan_next,
)
from modemd.webhooks.signing import sign, verify

QUICK = (0.02, 0.02, 0.02)


@dataclass
class Receiver:
    """A real HTTP endpoint that answers from a script and keeps the raw requests."""

    answers: list[int] = field(default_factory=list)
    requests: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((await request.read(), dict(request.headers)))
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/ipn", rec.handle)
    runner, port = await start_site(app, "127.0.0.1", 0)
    rec.url = f"http://127.0.0.1:{port}/ipn"
    yield rec
    await runner.cleanup()


async def sent_job(store: Store, url: str) -> tuple[int, str]:
    key, job = await build_sent_job(store, url)
    return key.key_id, job.job_id


async def deliver(store: Store, until: Any) -> None:
    sender = IpnSender(store, rng=random.Random(1), schedule=QUICK)
    store.on_commit.append(sender.wake)
    task = asyncio.create_task(sender.run(), name="ipn sender")
    try:
        async with asyncio.timeout(10):
            while not await until():
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.on_commit.remove(sender.wake)


def event_states(store: Store, job_id: str) -> Any:
    return store.read(lambda db: [(r["type"], r["state"]) for r in events.list_events(db, job_id)])


async def test_reference_library_verifies_our_signature(store: Store, receiver: Receiver) -> None:
    key_id, job_id = await sent_job(store, receiver.url)
    await deliver(store, lambda: asyncio.sleep(0, bool(receiver.requests)))
    body, headers = receiver.requests[0]
    secret = (await store.read(endpoints.get_endpoint, key_id)).secret
    assert secret.startswith("whsec_")
    verified = standardwebhooks.Webhook(secret).verify(body, headers)
    assert verified["type"] == "sms.sent" and verified["data"]["job_id"] == job_id
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(endpoints.new_secret()).verify(body, headers)


async def test_rotation_sends_both_signatures(store: Store, receiver: Receiver) -> None:
    key_id, _ = await sent_job(store, receiver.url)
    old = (await store.read(endpoints.get_endpoint, key_id)).secret
    new = (await store.write(endpoints.rotate_secret, key_id)).secret
    await deliver(store, lambda: asyncio.sleep(0, bool(receiver.requests)))
    body, headers = receiver.requests[0]
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        assert standardwebhooks.Webhook(secret).verify(body, headers)["type"] == "sms.sent"


async def test_form_format_is_signed_too(store: Store, receiver: Receiver) -> None:
    key_id, job_id = await sent_job(store, receiver.url)
    await store.write(endpoints.set_format, key_id, "form")
    await deliver(store, lambda: asyncio.sleep(0, bool(receiver.requests)))
    body, headers = receiver.requests[0]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    fields = parse_qs(body.decode())
    assert fields["type"] == ["sms.sent"] and fields["job_id"] == [job_id]
    secret = (await store.read(endpoints.get_endpoint, key_id)).secret
    assert verify(
        secret,
        headers["webhook-id"],
        int(headers["webhook-timestamp"]),
        body,
        headers["webhook-signature"],
    )


async def test_410_disables_the_endpoint_and_replay_brings_it_back(
    store: Store, receiver: Receiver
) -> None:
    key_id, job_id = await sent_job(store, receiver.url)
    await store.write(reports.apply_report, "imei", tp_report(9, "+15550001", 0))
    receiver.answers = [410]

    async def both_failed() -> bool:
        return await event_states(store, job_id) == [
            ("sms.sent", "failed"),
            ("sms.delivered", "failed"),
        ]

    await deliver(store, both_failed)
    assert (await store.read(endpoints.get_endpoint, key_id)).disabled_at is not None
    assert len(receiver.requests) == 1  # the second event was never posted to a gone endpoint
    dead = await store.read(events.list_by_state, "failed", key_id)
    assert [d["type"] for d in dead] == ["sms.sent", "sms.delivered"]

    await store.write(endpoints.enable, key_id)
    replayed = await store.write(events.replay, key_id=key_id)
    assert len(replayed) == 2

    async def both_delivered() -> bool:
        return await event_states(store, job_id) == [
            ("sms.sent", "delivered"),
            ("sms.delivered", "delivered"),
        ]

    await deliver(store, both_delivered)
    ids = [h["webhook-id"] for _, h in receiver.requests]
    assert ids[0] == ids[1]  # the replay kept the event's id


async def test_exhausted_retries_make_a_dead_letter(store: Store, receiver: Receiver) -> None:
    _, job_id = await sent_job(store, receiver.url)
    receiver.answers = [500] * POSTS_BEFORE_DEAD_LETTER

    async def dead() -> bool:
        return await event_states(store, job_id) == [("sms.sent", "failed")]

    await deliver(store, dead)
    assert len(receiver.requests) == POSTS_BEFORE_DEAD_LETTER
    before = datetime.now(UTC).timestamp() - 60
    replayed = await store.write(events.replay, since=before, until=before + 3600)
    assert len(replayed) == 1


def test_plan_next_table() -> None:
    rng = random.Random(0)
    now = 1000.0
    assert plan_next(204, None, 1, now, rng).delivered
    assert plan_next(410, None, 1, now, rng).gone
    assert plan_next(302, None, 1, now, rng).next_at is not None  # redirects are failures
    assert plan_next(500, None, POSTS_BEFORE_DEAD_LETTER, now, rng).next_at is None
    assert plan_next(429, "120", 1, now, rng).next_at == now + 120
    assert plan_next(503, "0", 1, now, rng).next_at == now + 1  # bounded below
    assert 4.5 <= plan_next(500, "120", 1, now, rng).next_at - now <= 5.5  # only 429/503 ask
    date = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(30, abs=1)
    assert parse_retry_after("soon", now) is None


def test_sign_is_standard_webhooks() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks spec's example
    body = b'{"test": 2432232314}'
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    reference = standardwebhooks.Webhook(secret).sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(1614265330, UTC), body.decode()
    )
    assert signature == reference
