"""The console's page of received SMS over HTTP: texts from the emulated network through real
modems, newest first, a long message joined, filters, pages, the IPN that announced each and
the automatic reply one caused; a text is attacker-controlled and shown as text."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from typing import Any

import aiohttp

from modemd.model import JobState

from .gateway import ADMIN_TOKEN, DELIVERING, FAILING, Gateway, running_gateway
from .test_console_http import sign_in

CUSTOMER, STRANGER, HELPLESS = "+393331230001", "+447700900123", "+393331230002"
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
LONG = ("A long GSM-7 text in three parts, joined whatever their order. " * 7)[:400]
WAIT_S = 60.0


async def until(check: Any) -> Any:
    """Poll the async ``check`` until it answers something true (generous deadline)."""
    async with asyncio.timeout(WAIT_S):
        while not (found := await check()):
            await asyncio.sleep(0.05)
    return found


def modem_of(gw: Gateway, pin: str) -> Any:
    return gw.modems[0] if pin == DELIVERING else gw.modems[-1]


async def received(gw: Gateway, count: int) -> list[dict[str, Any]]:
    """Wait until ``count`` messages are stored and none of their IPNs is pending."""

    def rows(db: Any) -> list[dict[str, Any]]:
        pending = db.execute(
            "SELECT COUNT(*) FROM events WHERE type = 'sms.received' AND state = 'pending'"
        ).fetchone()[0]
        found = list(db.query("SELECT * FROM inbound ORDER BY inbound_id"))
        return found if len(found) >= count and not pending else []

    return await until(lambda: gw.store.read(rows))


def help_reply(db: Any) -> Any:
    """The automatic reply's job (the engine answers HELP after the message is committed)."""
    return db.execute("SELECT job_id FROM auto_replies WHERE job_id IS NOT NULL").fetchone()


def table_rows(page: str) -> dict[int, str]:
    """Each message row of the page by its id."""
    return {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r'<tr data-inbound-id="(\d+)">(.*?)</tr>', page, re.S)
    }


async def page_of(browser: aiohttp.ClientSession, gw: Gateway, query: str = "") -> str:
    async with browser.get(f"{gw.url}/console/inbound{query}") as r:
        assert r.status == 200, await r.text()
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        return await r.text()


async def test_received_sms_page(tmp_path: Path) -> None:
    async with (
        running_gateway(tmp_path) as gw,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
    ):
        job_id = await gw.send(DELIVERING, CUSTOMER)
        await gw.settled([job_id], {JobState.DELIVERED})
        modem_of(gw, DELIVERING).network.send(CUSTOMER, EVIL)  # answers the job
        await received(gw, 1)
        modem_of(gw, FAILING).network.send(STRANGER, LONG, out_of_order=True, repeat_part=True)
        await received(gw, 2)
        modem_of(gw, DELIVERING).network.send(HELPLESS, "HELP")  # the engine answers it
        stored = await received(gw, 3)
        evil_id, long_id, help_id = (row["inbound_id"] for row in stored)
        await until(lambda: gw.store.read(help_reply))  # the engine runs after the commit

        async with browser.get(gw.url + "/console/inbound", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/console/login"
        assert await sign_in(gw, browser, ADMIN_TOKEN) == 303
        page = await page_of(browser, gw)
        assert 'href="/console/inbound" aria-current="page"' in page  # in the menu
        rows = table_rows(page)
        assert list(rows) == [help_id, long_id, evil_id]  # newest first
        # The attacker's text is shown as text: escaped, never markup.
        assert "<script>alert" not in page and "<img src=x" not in page
        shown = re.search(r'<span class="sms">(.*?)</span>', rows[evil_id], re.S)
        assert shown and html.unescape(shown.group(1)) == EVIL
        # It answers the job, whose key's IPN endpoint acknowledged it.
        assert f'<a href="/console/jobs/{job_id}">{job_id}</a>' in rows[evil_id]
        assert f"key {gw.key_ids[DELIVERING]}: delivered (1 attempt)" in rows[evil_id]
        # The long message arrived in 3 parts, out of order with one repeated: one row, joined.
        assert (
            f'<span class="sms">{LONG}</span> <small class="parts">(3 parts)</small>'
            in (rows[long_id])
        )
        assert "incomplete" not in rows[long_id]
        assert f"key {gw.key_ids[FAILING]}: delivered" in rows[long_id]
        # HELP got the pool's help text as an automatic reply, sent as a job.
        reply_job = (await until(lambda: gw.store.read(help_reply)))[0]
        assert 'data-reply-id="1">help: ' in rows[help_id]
        assert f'<a href="/console/jobs/{reply_job}">queued</a>' in rows[help_id]
        assert "data-reply-id" not in rows[evil_id] + rows[long_id]

        # Filters: sender by any part of its digits, pool, device.
        assert list(table_rows(await page_of(browser, gw, "?sender=44+7700"))) == [long_id]
        assert list(table_rows(await page_of(browser, gw, f"?pin={FAILING}"))) == [long_id]
        device = modem_of(gw, DELIVERING).profile.imei
        assert list(table_rows(await page_of(browser, gw, f"?device_id={device}"))) == [
            help_id,
            evil_id,
        ]
        assert "no messages match" in await page_of(browser, gw, "?sender=%25_")  # literal
        # Pages: newest first, an Older link carrying the filters, then the end.
        first = await page_of(browser, gw, f"?pin={DELIVERING}&limit=1")
        assert list(table_rows(first)) == [help_id]
        older = re.search(r'href="/console/inbound\?([^"]+)" class="older"', first)
        assert older and "Newest" not in first
        second = await page_of(browser, gw, "?" + html.unescape(older.group(1)))
        assert list(table_rows(second)) == [evil_id]
        assert 'class="older"' not in second and 'class="newest"' in second
        # A hand-edited query is read as no filter, not an error.
        assert len(table_rows(await page_of(browser, gw, "?before=x&limit=-3"))) == 3
        # One message by its id; the job it answers lists it among its answers.
        assert list(table_rows(await page_of(browser, gw, f"?id={evil_id}"))) == [evil_id]
        async with browser.get(f"{gw.url}/console/jobs/{job_id}") as r:
            job_page = await r.text()
        answers = job_page[job_page.index('<ul id="answers">') :]
        assert f'<a href="/console/inbound?id={evil_id}">{CUSTOMER}</a>' in answers
        assert "<script>alert" not in job_page
        # An announcement that failed for good links to the dead letters, which link back.
        gw.receiver.status = 500
        modem_of(gw, FAILING).network.send(STRANGER, "are you there?")

        def dead(db: Any) -> Any:
            return db.execute(
                "SELECT job_id FROM events WHERE type = 'sms.received' AND state = 'failed'"
            ).fetchone()

        subject = (await until(lambda: gw.store.read(dead)))[0]
        lost_id = int(subject.removeprefix("inbound:"))
        lost = table_rows(await page_of(browser, gw))[lost_id]
        assert '<a href="/console/ipn">dead letter</a> (8 attempts)' in lost
        async with browser.get(gw.url + "/console/ipn") as r:
            assert f'<a href="/console/inbound?id={lost_id}">{subject}</a>' in await r.text()
        # The overview counts each pool's SMS received today, linked to them.
        async with browser.get(gw.url + "/console/") as r:
            overview = await r.text()
        for pin in (DELIVERING, FAILING):
            row = overview[overview.index(f'<tr data-pin="{pin}"') :]
            row = row[: row.index("</tr>")]
            link = f'<td class="received"><a href="/console/inbound?pin={pin}">2</a></td>'
            assert link in row, row
        # The live part refreshes alone.
        async with browser.get(
            gw.url + "/console/inbound", headers={"X-Console-Partial": "1"}
        ) as r:
            partial = await r.text()
        assert 'id="inbound"' in partial and "<html" not in partial
