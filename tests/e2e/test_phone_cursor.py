"""A phone's inbox cursor is stored (the app's time of the newest SMS kept from it): after a real
daemon restart the first read of the app's inbox starts there, not the look-back of a phone
never read, and every message is stored once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from modemd.emulators.phone import EmulatedPhoneBank

from .daemon import create_key, running_daemon

WAIT_S = 60.0


async def _listed(http: aiohttp.ClientSession, port: int, key: str, count: int) -> list[Any]:
    """The inbox as the API lists it, once it holds ``count`` messages."""
    url, auth = f"http://127.0.0.1:{port}/api/v1/inbox", {"Authorization": f"Bearer {key}"}
    async with asyncio.timeout(WAIT_S):
        while True:
            async with http.get(url, headers=auth) as r:
                assert r.status == 200, await r.text()
                messages: list[Any] = (await r.json())["messages"]
            if len(messages) >= count:
                return messages
            await asyncio.sleep(0.2)


async def test_the_inbox_cursor_survives_a_daemon_restart(tmp_path: Path) -> None:
    db = tmp_path / "modemd.db"
    key = await asyncio.to_thread(create_key, db, "http://127.0.0.1:9/ipn")
    async with EmulatedPhoneBank.create(1) as bank:
        phone = bank.phones[0]
        config = tmp_path / "modemd.toml"
        config.write_text(
            f'[[phones]]\nurl = "{phone.url}"\npin = "4711"\n'
            f'password = "{phone.profile.password}"\n'
        )
        args = ("--config", str(config), "--db", str(db))
        first = phone.receive("+393330000001", "before the restart")
        async with running_daemon(*args) as port, aiohttp.ClientSession() as http:
            await _listed(http, port, key, 1)
        never_read = datetime.fromisoformat(phone.inbox_reads[0])
        assert never_read < datetime.fromisoformat(first["createdAt"]) - timedelta(hours=71)
        before = len(phone.inbox_reads)
        async with running_daemon(*args) as port, aiohttp.ClientSession() as http:
            phone.receive("+393330000002", "after the restart")
            listed = await _listed(http, port, key, 2)
        restarted = datetime.fromisoformat(phone.inbox_reads[before])
        stored = datetime.fromisoformat(first["createdAt"])
        assert abs(restarted - stored) < timedelta(milliseconds=2)  # the stored cursor
        assert sorted(m["text"] for m in listed) == ["after the restart", "before the restart"]
