"""End to end on ``modemd serve --simulate 2``: a list imported as CSV, a number opted out
over the API, a survey started for the list with ``modemd surveys start``; the emulated
network's record shows the first question went to each member once, never to the number that
opted out."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from .daemon import MODEMD, create_key, ipn_listener, running_daemon

DONE_TIMEOUT_S = 120.0
SURVEY = {
    "name": "Taste",
    "questions": [
        {"type": "choice", "text": "Colour?", "choices": {"A": "Red", "B": "Blue"}},
        {"type": "number", "text": "Age?", "min": 1, "max": 120},
        {"type": "text", "text": "Anything else?"},
    ],
}


async def api(
    session: aiohttp.ClientSession, method: str, url: str, key: str, **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}", **kw.pop("headers", {})}
    async with session.request(method, url, headers=headers, **kw) as r:
        return r.status, (
            await r.json() if r.content_type == "application/json" else await r.text()
        )


def read_record(record: Path) -> list[dict[str, Any]]:
    lines = record.read_text().splitlines() if record.exists() else []
    return [json.loads(line) for line in lines]


async def sent_to(record: Path, count: int) -> list[dict[str, Any]]:
    """The network's record once it holds ``count`` parts."""
    async with asyncio.timeout(DONE_TIMEOUT_S):
        while len(accepted := await asyncio.to_thread(read_record, record)) < count:
            await asyncio.sleep(0.2)
        return accepted


async def test_list_import_opt_out_and_survey_start(tmp_path: Path) -> None:
    db, record = tmp_path / "modemd.db", tmp_path / "network.jsonl"
    people = "\ufeffphone;name\n+393331000001;Anna\n+393331000002;Bo\n+393331000003;Cy\n"
    async with ipn_listener() as (ipns, ipn_url):
        key = await asyncio.to_thread(create_key, db, ipn_url)
        args = ["--simulate", "2", "--pin", "4711", "--db", str(db), "--record", str(record)]
        async with running_daemon(*args) as port, aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{port}/api/v1"
            assert (await api(session, "POST", f"{base}/lists", key, json={"name": "NEWS"}))[
                0
            ] == 201
            status, counts = await api(
                session, "POST", f"{base}/lists/news/import", key, data=people.encode()
            )
            assert status == 200 and counts["added"] == 3
            status, _ = await api(
                session, "POST", f"{base}/optouts", key, json={"number": "+393331000002"}
            )
            assert status == 200
            send = {"to": "+393331000002", "msg": "Sale!", "pin": "4711"}
            status, refused = await api(session, "POST", f"{base}/send", key, json=send)
            assert (status, refused["status_code"], refused["status"]) == (409, "10", "opted_out")
            await ipns.wait(1, DONE_TIMEOUT_S)  # contact.opted_out, signed, at the key's URL
            assert ipns.received[0]["type"] == "contact.opted_out"
            assert ipns.received[0]["data"]["number"] == "+393331000002"
            assert (await api(session, "POST", f"{base}/surveys", key, json=SURVEY))[0] == 201
            cli = [*MODEMD, "surveys", "start", "taste", "--list", "NEWS", "--key", key]
            out = await asyncio.to_thread(
                subprocess.run,
                [*cli, "--url", f"http://127.0.0.1:{port}"],
                capture_output=True,
                text=True,
                check=True,
            )
            assert json.loads(out.stdout)["skipped_opted_out"] == ["+393331000002"]
            accepted = await sent_to(record, 2)
            await asyncio.sleep(1)  # anything more would show up now
            accepted = await sent_to(record, 2)
    assert sorted(m["to"] for m in accepted) == ["+393331000001", "+393331000003"]
    assert {m["text"] for m in accepted} == {"Colour?\nA) Red\nB) Blue"}
