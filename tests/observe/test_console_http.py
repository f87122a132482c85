"""The console over plain HTTP: who may sign in, cookies, CSRF on every form, the pages answer,
the partial refresh, and the console password (``modemd console passwd``)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from modemd.api.ratelimit import FAILED_AUTH_PER_MINUTE
from modemd.model import DeviceInfo, DeviceKind, DeviceState, Member
from modemd.store import campaigns, contacts, devices, optouts
from modemd.store import console as console_rows

from .gateway import ADMIN_TOKEN, DELIVERING, Gateway, running_gateway

PASSWORD = "correct horse battery"


async def sign_in(gw: Gateway, session: aiohttp.ClientSession, token: str) -> int:
    async with session.get(gw.url + "/console/login") as r:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert csrf
    form = {"csrf": csrf.group(1), "token": token}
    async with session.post(gw.url + "/console/login", data=form, allow_redirects=False) as r:
        if r.status == 303:
            cookie = r.headers["Set-Cookie"]
            assert (
                "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
            )
        return r.status


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return found.group(1)


async def test_sign_in_pages_and_csrf(tmp_path: Path) -> None:
    async with (
        running_gateway(tmp_path) as gw,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
    ):
        async with browser.get(gw.url + "/", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/console/"
        async with browser.get(gw.url + "/console/", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/console/login"
        assert await sign_in(gw, browser, "wrong") == 401
        assert await sign_in(gw, browser, gw.keys[DELIVERING]) == 401  # an API key is not admin
        # A form posted without the login page's cookie-bound token is refused.
        async with (
            aiohttp.ClientSession() as stranger,
            stranger.post(gw.url + "/console/login", data={"token": ADMIN_TOKEN, "csrf": "x"}) as r,
        ):
            assert r.status == 403
        assert await sign_in(gw, browser, ADMIN_TOKEN) == 303
        for path in ("/console/", "/console/jobs", "/console/keys", "/console/ipn"):
            async with browser.get(gw.url + path) as r:
                assert r.status == 200, path
                assert "default-src 'self'" in r.headers["Content-Security-Policy"]
                page = await r.text()
                assert 'id="live"' in page and "Sign out" in page
        # A device the recovery ladder gave up on says so (issue 19), not only by IPN.
        gone = DeviceInfo("350000990000990", DELIVERING, DeviceKind.MODEM, "/dev/ttyUSB9")
        await gw.store.write(devices.upsert_device, gone, DeviceState.FAILED)
        await gw.store.write(devices.note_error, gone.device_id, "health check: no answer")
        async with browser.get(gw.url + "/console/", headers={"X-Console-Partial": "1"}) as r:
            partial = await r.text()
            assert 'id="devices"' in partial and "<html" not in partial
        start = partial.index(f'data-device-id="{gone.device_id}"')
        row = partial[start : partial.index("</tr>", start)]
        assert 'class="state">failed<' in row
        assert (
            '<strong class="failed">recovery gave up (retried hourly): health check: no answer'
            in row
        )
        # Every form needs the session's CSRF token.
        async with browser.post(gw.url + "/console/keys", data={"pin": "1"}) as r:
            assert r.status == 403
        count = len(await gw.store.read(lambda db: list(db["api_keys"].rows)))
        async with browser.get(gw.url + "/console/keys") as r:
            csrf = csrf_of(await r.text())
        async with browser.post(
            gw.url + "/console/keys", data={"pin": "77", "csrf": csrf, "over_ip": "on"}
        ) as r:
            assert r.status == 200 and "shown only once" in await r.text()
        assert len(await gw.store.read(lambda db: list(db["api_keys"].rows))) == count + 1
        async with browser.post(
            gw.url + "/console/logout", data={"csrf": csrf}, allow_redirects=False
        ) as r:
            assert r.status == 303
        async with browser.get(gw.url + "/console/keys", allow_redirects=False) as r:
            assert r.status == 303  # the session is gone


def passwd(db: str, password: str) -> subprocess.CompletedProcess[str]:
    """``modemd console passwd`` with the password typed twice."""
    return subprocess.run(
        [sys.executable, "-m", "modemd", "console", "passwd", "--db", db],
        input=f"{password}\n{password}\n",
        capture_output=True,
        text=True,
    )


async def test_console_password_from_the_cli(tmp_path: Path) -> None:
    async with (
        running_gateway(tmp_path) as gw,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
    ):
        db = str(gw.store.path)
        short = await asyncio.to_thread(passwd, db, "short")
        assert short.returncode == 1 and "at least" in short.stderr
        done = await asyncio.to_thread(passwd, db, PASSWORD)
        assert done.returncode == 0, done.stderr
        stored = await gw.store.read(lambda db: db.execute("SELECT * FROM console_auth").fetchall())
        assert PASSWORD not in repr(stored)
        assert await gw.store.read(console_rows.check_password, PASSWORD)
        assert await sign_in(gw, browser, PASSWORD + "x") == 401
        assert await sign_in(gw, browser, PASSWORD) == 303


async def test_lists_and_campaigns_pages(tmp_path: Path) -> None:
    async with (
        running_gateway(tmp_path) as gw,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
    ):
        await gw.store.write(contacts.create_list, DELIVERING, "Customers")
        members = [Member("+393331110001"), Member("+393331110002")]
        await gw.store.write(contacts.add_members, DELIVERING, "Customers", members, "api")
        await gw.store.write(optouts.set_opt_out, DELIVERING, "+393331110002", True, source="api")

        def draft(db: Any) -> str:
            found = campaigns.create(
                db, key_id=gw.key_ids[DELIVERING], pin=DELIVERING, template="Hi", name="Spring"
            )
            rows = [campaigns.Recipient(n + 2, f"+39333222{n:04d}", None, "Hi", 1, "gsm7")
                    for n in range(4)]  # fmt: skip
            campaigns.add_recipients(db, found, rows)
            campaigns.finish_validation(db, found, {"opted_out": 2, "blocked": 3})
            return found

        campaign_id = await gw.store.write(draft)
        assert await sign_in(gw, browser, ADMIN_TOKEN) == 303
        async with browser.get(gw.url + "/console/lists") as r:
            page = await r.text()
        assert r.status == 200 and "Customers" in page and "+393331110002" in page
        assert '<td class="members">2</td>' in page
        async with browser.get(gw.url + "/console/campaigns") as r:
            page = await r.text()
        assert r.status == 200 and f'data-campaign-id="{campaign_id}"' in page
        assert "Spring" in page and "draft" in page
        assert '<td class="opted-out">2</td><td class="blocked">3</td>' in page
        assert 'href="/console/campaigns"' in page and 'href="/console/lists"' in page  # menu


async def test_sign_ins_are_audited_and_wrong_tokens_throttled(tmp_path: Path) -> None:
    async with (
        running_gateway(tmp_path) as gw,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
    ):
        await gw.store.write(console_rows.set_password, PASSWORD)
        assert await sign_in(gw, browser, ADMIN_TOKEN) == 303
        assert await sign_in(gw, browser, PASSWORD) == 303
        logins = await gw.store.read(
            lambda db: db.execute(
                "SELECT actor, action, detail FROM audit_log WHERE action = 'console.login' "
                "ORDER BY at"
            ).fetchall()
        )
        assert [tuple(row) for row in logins] == [
            ("admin token", "console.login", "from 127.0.0.1"),
            ("console password", "console.login", "from 127.0.0.1"),
        ]
        # Guessing: the API's budget of wrong keys per address (10 a minute) holds here too.
        for _ in range(FAILED_AUTH_PER_MINUTE):
            assert await sign_in(gw, browser, "guess") == 401
        async with browser.get(gw.url + "/console/login") as r:
            csrf = csrf_of(await r.text())
        form = {"csrf": csrf, "token": ADMIN_TOKEN}  # right, but not even tried now
        async with browser.post(gw.url + "/console/login", data=form, allow_redirects=False) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
            assert "too many wrong tokens" in await r.text()
        async with gw.session.post(  # one budget per address: the API's keys wait as well
            gw.url + "/api/v1/send", json={"apikey": gw.keys[DELIVERING], "to": "+393331110001"}
        ) as r:
            assert r.status == 429
        count = await gw.store.read(
            lambda db: db.execute(
                "SELECT count(*) FROM audit_log WHERE action = 'console.login'"
            ).fetchone()[0]
        )
        assert count == 2  # refused and throttled sign-ins are logged, not audited
