"""The console's charts and ``/metrics`` count jobs and IPN attempts by condition on either
engine: PostgreSQL has no sum() of a boolean, which both once summed (the overview answered
500 and a scrape failed there)."""

from __future__ import annotations

import re
import time
from typing import Any

import aiohttp
import pytest
from api_harness import ADMIN, ADMIN_TOKEN, PIN, Api

from modemd.model import DeviceInfo, DeviceKind, DeviceState
from modemd.store import devices, jobs

pytestmark = pytest.mark.both_engines

DEVICES = ("imei-a", "imei-b")
# (state, device, sent) of today's jobs: 7 accepted, 5 reached the network, 3 delivered, 1 failed
TODAY = (
    ("queued", None, False),
    ("sent", "imei-a", True),
    ("sending", "imei-b", True),  # +CMGS seen, its state not yet written: counted as sent
    ("delivered", "imei-a", True),
    ("delivered", "imei-a", True),
    ("delivered", "imei-b", True),
    ("failed", "imei-b", False),
)
# (event, attempt, HTTP status) of IPN posts: 4 attempts, 3 not answered 2xx
ATTEMPTS = (("e1", 1, 500), ("e1", 2, 204), ("e2", 1, None), ("e3", 1, 302))


def _fill(db: Any, key_id: int) -> None:
    now = time.time()
    for device_id in DEVICES:
        info = DeviceInfo(device_id, PIN, DeviceKind.MODEM, f"/dev/{device_id}")
        devices.upsert_device(db, info, DeviceState.READY)
    for n, (state, device_id, sent) in enumerate(TODAY):
        job = jobs.insert_job(
            db, key_id=key_id, pin=PIN, to=f"+3933312345{n:02d}", message="m", parts=1,
            encoding="gsm7", now=now - n / 1000,
        )  # fmt: skip
        db.execute(
            "UPDATE jobs SET state = ?, device_id = ?, sent_at = ? WHERE job_id = ?",
            [state, device_id, now if sent else None, job.job_id],
        )
    for event_id, attempt, status in ATTEMPTS:
        db.execute(
            "INSERT INTO event_attempts (event_id, attempt, at, http_status, error) "
            "VALUES (?, ?, ?, ?, ?)",
            [event_id, attempt, now, status, None if status else "timed out"],
        )


def _bars(page: str, chart: str) -> dict[tuple[str, str], int]:
    """(label, series) -> value of each bar of the chart ``chart`` on ``page``."""
    svg = page[page.index(f'<svg id="{chart}"') :]
    svg = svg[: svg.index("</svg>")]
    return {
        (label, series): int(value)
        for series, label, value in re.findall(
            r'data-series="(\w+)" data-label="([^"]+)" data-value="(\d+)"', svg
        )
    }


async def test_the_overview_charts_and_a_scrape_count_by_condition(api: Api) -> None:
    async with api.session.get(api.url + "/metrics", headers=ADMIN) as r:
        assert r.status == 200, await r.text()  # what follows this scrape is counted in the next
    await api.store.write(_fill, api.key_ids["any"])
    async with api.session.get(api.url + "/metrics", headers=ADMIN) as r:
        assert r.status == 200, await r.text()
        scraped = await r.text()
    assert f'modemd_jobs_accepted_total{{pin="{PIN}"}} 7.0' in scraped
    assert "modemd_ipn_attempts_total 4.0" in scraped
    assert "modemd_ipn_failures_total 3.0" in scraped
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(api.url + "/console/login") as r:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
        assert csrf
        form = {"csrf": csrf.group(1), "token": ADMIN_TOKEN}
        async with browser.post(api.url + "/console/login", data=form) as r:
            assert r.status == 200
        async with browser.get(api.url + "/console/") as r:
            assert r.status == 200, await r.text()
            page = await r.text()
    assert re.search(r'<strong id="ratio">60\.0 %</strong>\s*· sent 5 · failed 1<', page), page
    today = time.strftime("%Y-%m-%d")
    days = _bars(page, "chart-days")
    assert (days[(today, "sent")], days[(today, "delivered")], days[(today, "failed")]) == (5, 3, 1)
    assert sum(days.values()) == 9  # nothing on the 13 days before
    assert _bars(page, "chart-devices") == {
        ("imei-a", "sent"): 3,
        ("imei-a", "delivered"): 2,
        ("imei-a", "failed"): 0,
        ("imei-b", "sent"): 2,
        ("imei-b", "delivered"): 1,
        ("imei-b", "failed"): 1,
    }
