"""IPN sender: committed outbox events to a real local HTTP receiver, retried until 2xx."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from builders import DEVICE, TO, sent_job, tp_report

from modemd.api.app import start_site
from modemd.api.listener import start_listener
from modemd.store import reports
from modemd.store.db import Store
from modemd.webhooks.sender import RETRY_SCHEDULE_S, IpnSender, retry_delay

pytestmark = pytest.mark.both_engines  # store promises hold on SQLite and PostgreSQL


QUICK = (0.05, 0.05, 0.05)


async def _in_turn(store: Store, url: str, jobs: int, seen: list[Any]) -> None:
    """Record ``jobs`` sends whose IPN goes to ``url``, one at a time: the next only once this
    one's IPN arrived (the receiver appends one item to ``seen`` a post)."""
    for n in range(jobs):
        await sent_job(store, url, mr=n + 1)
        while len(seen) < n + 1:
            await asyncio.sleep(0.01)


async def run_sender(
    store: Store, until: Callable[[], Awaitable[object]], schedule: tuple[float, ...] = QUICK
) -> None:
    sender = IpnSender(store, rng=random.Random(1), schedule=schedule)
    sender.listen()  # as the daemon wires it: SQLite hands due events over after each commit
    task = asyncio.create_task(sender.run(), name="ipn sender")
    try:
        await asyncio.wait_for(until(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def make_job(store: Store, url: str) -> Any:
    _, job = await sent_job(store, url, mr=9)
    await store.write(reports.apply_report, DEVICE, tp_report(9, TO, 0))
    return job


async def test_retried_until_2xx_in_order_with_a_stable_id(store: Store) -> None:
    seen: list[tuple[str, str]] = []
    answers = iter([500, 503, 200, 404, 200])

    def receive(body: dict[str, Any], headers: dict[str, str]) -> int:
        seen.append((body["type"], headers["webhook-id"]))
        return next(answers)

    async def all_recorded() -> None:
        while await store.read(lambda db: db.table("events").count_where("state = 'pending'")):
            await asyncio.sleep(0.02)

    runner, port = await start_listener(receive)
    try:
        job = await make_job(store, f"http://127.0.0.1:{port}/hook")
        await run_sender(store, all_recorded)
    finally:
        await runner.cleanup()
    assert [t for t, _ in seen] == ["sms.sent"] * 3 + ["sms.delivered"] * 2
    assert len({i for t, i in seen if t == "sms.sent"}) == 1  # same webhook-id on retries
    rows = await store.read(
        lambda db: list(
            db.query(
                "SELECT type, state, attempts FROM events WHERE job_id = ? ORDER BY seq",
                [job.job_id],
            )
        )
    )
    assert rows == [
        {"type": "sms.sent", "state": "delivered", "attempts": 3},
        {"type": "sms.delivered", "state": "delivered", "attempts": 2},
    ]
    attempts = await store.read(
        lambda db: [
            r["http_status"] for r in db.query("SELECT http_status FROM event_attempts ORDER BY at")
        ]
    )
    assert attempts == [500, 503, 200, 404, 200]


async def test_unreachable_endpoint_stays_pending(store: Store) -> None:
    job = await make_job(store, "http://127.0.0.1:9/nothing-listens")
    await run_sender(store, lambda: asyncio.sleep(0.5), schedule=(0.15,))  # < 8 attempts
    rows = await store.read(
        lambda db: list(
            db.query(
                "SELECT state, attempts, last_error FROM events WHERE job_id = ? ORDER BY seq",
                [job.job_id],
            )
        )
    )
    assert rows[0]["state"] == "pending" and rows[0]["attempts"] >= 2
    assert "Connect" in rows[0]["last_error"]
    assert rows[1]["attempts"] == 0  # the job's second event waits behind the first


async def test_posts_one_after_another_reuse_one_connection(store: Store) -> None:
    """Each event is posted as soon as its commit hands it over, on the kept-alive connection of
    the one before (no new TCP handshake per IPN)."""
    peers: list[tuple[str, int]] = []

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner, port = await start_site(app, "127.0.0.1", 0)

    try:
        await run_sender(store, lambda: _in_turn(store, f"http://127.0.0.1:{port}/hook", 3, peers))
    finally:
        await runner.cleanup()
    assert len(peers) == 3 and len(set(peers)) == 1


async def test_a_cookie_an_endpoint_sets_is_never_sent_back(store: Store) -> None:
    """The sender keeps no cookies: one session posts for every key, so a cookie set by one
    key's endpoint would go with the next post to any key's endpoint on that host."""
    cookies: list[str | None] = []

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        cookies.append(request.headers.get("Cookie"))
        response = web.Response(status=204)
        response.set_cookie("tracking", f"visit{len(cookies)}")
        return response

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner, port = await start_site(app, "127.0.0.1", 0)

    url = f"http://localhost:{port}/hook"  # a name: a cookie jar keeps none of a bare IP address
    try:
        await run_sender(store, lambda: _in_turn(store, url, 2, cookies))
    finally:
        await runner.cleanup()
    assert cookies == [None, None]


def test_schedule_matches_standard_webhooks_with_jitter() -> None:
    rng = random.Random(0)
    assert RETRY_SCHEDULE_S[:3] == (5.0, 300.0, 1800.0)
    for attempts, base in [(1, 5.0), (2, 300.0), (7, 36000.0), (50, 36000.0)]:
        delay = retry_delay(attempts, rng)
        assert base * 0.9 <= delay <= base * 1.1
