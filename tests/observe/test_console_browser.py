"""The console in a real browser (Debian's chromium, headless): sign in, the device table, a
bar chart with the right counts after known sends, a received SMS carrying markup shown as text,
a dead letter replayed and delivered, a key created (shown once) and revoked. Screenshots of the
main views go to tests/artifacts/screens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from modemd.model import JobState
from modemd.store import events as outbox

from .browser import PHONE, Browser
from .gateway import ADMIN_TOKEN, DELIVERING, FAILING, Gateway, running_gateway

DELIVERED_JOBS, FAILED_JOBS = 5, 2
EVIL = '<script>alert("sms")</script><img src=x onerror="alert(1)"> hi & bye'
WAIT_S = 60.0


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    started = await asyncio.to_thread(Browser)
    yield started
    await asyncio.to_thread(started.close)


async def dead_letters(gw: Gateway) -> list[dict]:
    return await gw.store.read(outbox.list_by_state, "failed")


def announced(db: Any) -> bool:
    """An SMS was received and its sms.received IPN acknowledged."""
    sql = "SELECT COUNT(*) FROM events WHERE type = 'sms.received' AND state = 'delivered'"
    return bool(db.execute(sql).fetchone()[0])


async def test_console_in_a_browser(tmp_path: Path, browser: Browser) -> None:
    async with running_gateway(tmp_path) as gw:
        delivered = [await gw.send(DELIVERING, f"+3933310{n:05d}") for n in range(DELIVERED_JOBS)]
        failed = [await gw.send(FAILING, f"+3933320{n:05d}") for n in range(FAILED_JOBS)]
        await gw.settled(delivered + failed, {JobState.DELIVERED, JobState.FAILED})

        run = asyncio.to_thread
        await run(browser.sign_in, gw.url, ADMIN_TOKEN)
        assert "Overview" in await run(browser.title)
        shown = await run(browser.attrs, "#devices tbody tr", "data-device-id")
        assert sorted(shown) == sorted(m.profile.imei for m in gw.modems)
        assert await run(browser.attrs, "#devices tbody tr", "class") == ["up"] * 3
        assert "ready" in await run(browser.text_of, "#devices tbody tr td.state")
        today = time.strftime("%Y-%m-%d")
        bars = await run(browser.bars, "chart-days")
        assert len(bars) == 14 * 3
        assert bars[(today, "sent")] == DELIVERED_JOBS + FAILED_JOBS
        assert bars[(today, "delivered")] == DELIVERED_JOBS
        assert bars[(today, "failed")] == FAILED_JOBS
        assert sum(v for (day, _), v in bars.items() if day != today) == 0
        per_device = await run(browser.bars, "chart-devices")
        assert sum(v for (_, s), v in per_device.items() if s == "sent") == 7
        failing_imei = gw.modems[-1].profile.imei
        assert per_device[(failing_imei, "failed")] == FAILED_JOBS
        await run(browser.screenshot, "overview")
        await run(browser.screenshot, "overview-phone", PHONE)

        # A job's timeline: accepted, sent, its part's report, IPN attempts.
        await run(browser.open, f"{gw.url}/console/jobs?number=3933310")
        assert len(await run(browser.attrs, "#jobs tbody tr", "data-job-id")) == DELIVERED_JOBS
        await run(browser.screenshot, "jobs")
        await run(browser.click, f'tr[data-job-id="{delivered[0]}"] a')
        steps = await run(browser.attrs, "#timeline li", "data-step")
        assert steps == ["accepted", "sent", "part", "final"]
        attempts = await run(browser.attrs, "#events ol.attempts li", "class")
        assert len(attempts) == 2  # sent, delivered: one attempt each
        await run(browser.screenshot, "job-timeline")

        # A received SMS whose text is markup: the page shows the characters, runs nothing.
        gw.modems[0].network.send("+393331000000", EVIL)  # answers delivered[0]
        async with asyncio.timeout(WAIT_S):  # stored, and its IPN acknowledged
            while not await gw.store.read(announced):
                await asyncio.sleep(0.05)
        await run(browser.click, 'nav a[href="/console/inbound"]')
        assert await run(browser.text_of, "#inbound td.text .sms") == EVIL
        assert await run(browser.alert) is None
        assert await run(browser.attrs, "#inbound img", "src") == []
        assert delivered[0] in await run(browser.text_of, "#inbound tbody tr")
        await run(browser.screenshot, "inbound")

        # A dead letter, replayed from the IPN page, is delivered.
        gw.receiver.status = 500
        extra = await gw.send(DELIVERING, "+393331099999")
        async with asyncio.timeout(WAIT_S):
            while not await dead_letters(gw):
                await asyncio.sleep(0.05)
        await gw.settled([extra], {JobState.DELIVERED})
        gw.receiver.status = 200
        await run(browser.open, f"{gw.url}/console/ipn")
        event_id = (await dead_letters(gw))[0]["event_id"]
        await run(browser.wait_for, f'#dead-letters tr[data-event-id="{event_id}"]')
        await run(browser.screenshot, "ipn-dead-letter")
        await run(browser.click, f'#dead-letters tr[data-event-id="{event_id}"] button.replay')
        await run(browser.wait_until_text, "p.done", "replayed")
        async with asyncio.timeout(WAIT_S):
            while not any(
                b["event_id"] == event_id for b in gw.receiver.got if gw.receiver.status == 200
            ) or await dead_letters(gw):
                await asyncio.sleep(0.05)
        states = await gw.store.read(outbox.list_events, extra)
        assert {e["event_id"]: e["state"] for e in states}[event_id] == "delivered"
        await run(browser.wait_until_text, "#dead-letters", "no dead letters")  # self-refresh

        # A key: created (its secret shown once), then revoked.
        await run(browser.open, f"{gw.url}/console/keys")
        await run(browser.click, "details summary")
        await run(browser.type, '#create-key input[name="pin"]', "5555")
        await run(browser.type, '#create-key input[name="label"]', "from the browser")
        await run(browser.click, "#create-key button")
        secret = await run(browser.text_of, "#new-secret code")
        assert secret.startswith("mdk_")
        await run(browser.screenshot, "keys-created")
        assert "from the browser" in await run(browser.text_of, 'tr.live[data-key-id="3"]')
        await run(browser.click, 'tr[data-key-id="3"] button.revoke')
        await run(browser.wait_until_text, 'tr[data-key-id="3"] .key-state', "revoked")
        assert secret not in await run(lambda: browser.driver.page_source)  # shown once only
        await run(browser.screenshot, "keys-revoked")


async def test_docs_page_shows_bodies_and_tries_a_send(tmp_path: Path, browser: Browser) -> None:
    async with running_gateway(tmp_path) as gw:
        run = asyncio.to_thread
        await run(browser.open, f"{gw.url}/docs")
        toc = await run(browser.attrs, "#toc a", "data-operation")
        assert {"sendSms", "getJob", "getMetrics", "adminCreateKey"} <= set(toc)
        await run(browser.click, "#operations-sms-sendSms button.opblock-summary-control")
        body = await run(browser.text_of, "#operations-sms-sendSms .opblock-section-request-body")
        assert "Hello from modemd" in body  # the example
        await run(browser.click, "#operations-sms-sendSms button.try-out__btn")
        payload = (
            f'{{"apikey": "{gw.keys[DELIVERING]}", "pin": "{DELIVERING}", '
            '"to": "+393331234567", "msg": "tried from /docs"}'
        )
        await run(
            browser.replace_text, "#operations-sms-sendSms textarea.body-param__text", payload
        )
        await run(browser.screenshot, "docs-try-it")
        await run(browser.click, "#operations-sms-sendSms button.execute")
        await run(browser.wait_until_text, "#operations-sms-sendSms .live-responses-table", "200")
        answer = await run(
            browser.text_of, "#operations-sms-sendSms .live-responses-table .microlight"
        )
        assert '"status": "ok_over_ip"' in answer or '"status":"ok_over_ip"' in answer
        await run(browser.screenshot, "docs-answer")
        sent = await gw.store.read(lambda db: db.execute("SELECT message FROM jobs").fetchall())
        assert [tuple(r) for r in sent] == [("tried from /docs",)]
