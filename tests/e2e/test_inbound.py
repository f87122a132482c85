"""End to end: ``modemd serve --simulate 2`` receives texts from the simulated network
(POST /simulator/v1/mo), answers to its jobs arrive once each as sms.received IPNs, and the
inbox API lists every message once with its exact text."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import aiohttp

from modemd.emulators.handsets import Handsets

from .daemon import create_key, ipn_listener, running_daemon, send_batch

TEXTS = [
    "plain yes",
    "accentué: già, mañana, ÆØÅ",
    "emoji 😀👍 in UCS-2",
    ("A long GSM-7 text in three parts, joined whatever their order. " * 7)[:400],
]
WAIT_S = 60.0


async def test_texts_to_the_simulated_bank_arrive_once_each(tmp_path: Path) -> None:
    db = tmp_path / "modemd.db"
    numbers = [f"+3933355{n:05d}" for n in range(len(TEXTS))]
    async with ipn_listener() as (ipns, ipn_url):
        events = "sms.sent,sms.delivered,sms.received"
        key = await asyncio.to_thread(create_key, db, ipn_url, events=events)
        args = ["--simulate", "2", "--pin", "4711", "--db", str(db)]
        async with running_daemon(*args) as port, aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            auth = {"Authorization": f"Bearer {key}"}
            await send_batch(port, key, numbers)  # the texts below answer these jobs
            await ipns.wait(2 * len(numbers), WAIT_S)  # sent and delivered
            for number, text in zip(numbers, TEXTS, strict=True):
                body = {"from": number, "text": text}
                async with http.post(f"{base}/simulator/v1/mo", json=body, headers=auth) as r:
                    assert r.status == 202, await r.text()
            await ipns.wait(3 * len(numbers), WAIT_S)
            await asyncio.sleep(0.5)  # a duplicate would come now
            received = [e for e in ipns.received if e["type"] == "sms.received"]
            assert sorted(e["data"]["text"] for e in received) == sorted(TEXTS)
            assert {e["data"]["from"] for e in received} == set(numbers)
            assert len({e["event_id"] for e in received}) == len(TEXTS)
            inbox = await _get(http, f"{base}/api/v1/inbox?limit=3", auth)
            assert len(inbox["messages"]) == 3 and inbox["next_cursor"] is not None
            rest = await _get(http, f"{base}/api/v1/inbox?cursor={inbox['next_cursor']}", auth)
            listed = inbox["messages"] + rest["messages"]
            assert rest["next_cursor"] is None
            assert sorted(m["text"] for m in listed) == sorted(TEXTS)
            longest = max(listed, key=lambda m: len(m["text"]))
            assert longest["parts"] == 3 and not longest["incomplete"]
            one = await _get(http, f"{base}/api/v1/inbox/{listed[0]['id']}", auth)
            assert one["message"] == listed[0]
            async with http.get(
                f"{base}/api/v1/inbox", headers={**auth, "Accept": "text/csv"}
            ) as r:
                assert r.status == 200 and (await r.text()).startswith("id,from,text")
            async with http.get(f"{base}/api/v1/inbox/999999", headers=auth) as r:
                assert r.status == 404 and (await r.json())["response"] == "404"


async def test_the_simulator_routes_exist_only_when_simulating(tmp_path: Path) -> None:
    db = tmp_path / "modemd.db"
    async with ipn_listener() as (_, ipn_url):
        key = await asyncio.to_thread(create_key, db, ipn_url)
        async with running_daemon("--db", str(db)) as port, aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/simulator/v1/mo"
            body = {"from": "+393330000001", "text": "hi"}
            async with http.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as r:
                assert r.status == 404


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with http.get(url, headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_simulated_handsets_answer_so_the_two_way_loop_shows(tmp_path: Path) -> None:
    db = tmp_path / "modemd.db"
    numbers = ["+393335550001", "+393335550002"]
    async with ipn_listener() as (ipns, ipn_url):
        key = await asyncio.to_thread(create_key, db, ipn_url, events="sms.sent,sms.received")
        args = ["--simulate", "2", "--pin", "4711", "--simulate-replies", "Sì, grazie!"]
        async with running_daemon(*args, "--db", str(db)) as port:
            jobs = await send_batch(port, key, numbers)
            await ipns.wait(2 * len(numbers), WAIT_S)  # sent, then each handset's answer
            await asyncio.sleep(0.5)
        received = [e["data"] for e in ipns.received if e["type"] == "sms.received"]
        assert sorted(r["from"] for r in received) == numbers
        assert {r["text"] for r in received} == {"Sì, grazie!"}
        assert {r["reply_to_job_id"] for r in received} == {j["job_id"] for j in jobs}


def test_handsets_answer_once_a_minute_at_most() -> None:
    handsets = Handsets("ok", random.Random(1), delay_s=(1.0, 2.0), cooldown_s=60.0)
    text, delay = handsets.reply("+393330000001", now=100.0) or ("", 0.0)
    assert text == "ok" and 1.0 <= delay <= 2.0
    assert handsets.reply("+393330000001", now=159.0) is None  # an auto-reply answered again
    assert handsets.reply("+393330000002", now=159.0) is not None  # another number
    assert handsets.reply("+393330000001", now=160.0) is not None
