"""End to end: ``modemd serve --simulate 3`` as a real subprocess, jobs over real HTTP, IPNs to a
real local receiver, and the emulated network's own record as the judge of what went out."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from .daemon import (  # noqa: F401  (tests/faults imports them here)
    MODEMD,
    create_key,
    drain,
    ipn_listener,
    running_daemon,
    send_batch,
    sent_then_delivered,
    wait_for_api,
)

JOBS = 30
DONE_TIMEOUT_S = 120.0


@pytest.mark.both_engines
async def test_thirty_jobs_through_three_emulated_modems(tmp_path: Path, db_location: str) -> None:
    db, record = db_location, tmp_path / "network.jsonl"
    numbers = [f"+3933300{n:05d}" for n in range(JOBS)]
    async with ipn_listener() as (ipns, ipn_url):
        key = await asyncio.to_thread(create_key, db, ipn_url)
        args = ["--simulate", "3", "--pin", "4711", "--db", str(db), "--record", str(record)]
        async with running_daemon(*args) as port:
            answers = await send_batch(port, key, numbers)
            for answer in answers:
                assert answer["status_code"] == "1" and answer["status"] == "ok_ip"
                assert len(answer["records"]) == 3  # offered to every modem of the pool
                assert answer["devices_available"] == 3
            job_ids = {a["job_id"] for a in answers}
            assert len(job_ids) == JOBS
            await ipns.wait(2 * JOBS, DONE_TIMEOUT_S)
    by_job = sent_then_delivered(ipns.received, job_ids)

    # What the emulated network accepted: each job exactly once, all three modems used.
    accepted = [json.loads(line) for line in record.read_text().splitlines()]
    assert Counter(m["to"] for m in accepted) == Counter(numbers)
    sender_of = {m["to"]: m["imei"] for m in accepted}
    for events in by_job.values():
        assert sender_of[events[0]["data"]["to"]] == events[0]["data"]["device_id"]
    assert len(set(sender_of.values())) == 3


async def test_an_answer_counts_the_pools_devices_whatever_it_was_offered_to(
    tmp_path: Path,
) -> None:
    """``devices_available`` is the pool's devices: offered to all, to the one asked for, or
    (an Idempotency-Key's replay) to none again."""
    db = tmp_path / "m.db"
    key = await asyncio.to_thread(create_key, db, "http://127.0.0.1:9/ipn")
    async with (
        running_daemon("--simulate", "2", "--pin", "4711", "--db", str(db)) as port,
        aiohttp.ClientSession() as session,
    ):
        url = f"http://127.0.0.1:{port}/api/v1/send"

        async def send(headers: dict[str, str] | None = None, **fields: str) -> dict:
            body = {"apikey": key, "to": "+393331234567", "msg": "hi", **fields}
            async with session.post(url, json=body, headers=headers) as answer:
                assert answer.status == 200
                return dict(await answer.json())

        plain = await send()
        assert (plain["devices_available"], len(plain["records"])) == (2, 2)
        one = plain["records"][1]["device_id"]
        asked = await send(id_device=one)
        assert asked["devices_available"] == 2
        assert [r["device_id"] for r in asked["records"]] == [one]
        first = await send(headers={"Idempotency-Key": "once"})
        again = await send(headers={"Idempotency-Key": "once"})
        assert again["job_id"] == first["job_id"] and again["idempotent_replay"] is True
        assert (again["devices_available"], again["records"]) == (2, [])


async def test_start_up_objects_are_frozen_out_of_collections(tmp_path: Path) -> None:
    """Once listening, what start-up made leaves the garbage collector's work (the log says
    how much), and the youngest generation is collected every 50,000 new objects. The full
    collection before the freeze runs before any device opens: a queued backlog starts
    sending as they open, and the pass holds every thread for tens of milliseconds."""
    proc = await asyncio.create_subprocess_exec(
        *MODEMD, "serve", "--db", str(tmp_path / "m.db"), "--port", "0",
        "--simulate", "1", "--pin", "freeze",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    log: list[str] = []
    try:
        await wait_for_api(proc, log)
    finally:
        proc.terminate()
        await proc.wait()
    (line,) = [entry for entry in log if "garbage collector:" in entry]
    match = re.search(r"start-up's (\d+) objects frozen; .* every 50000 new ones", line)
    assert match is not None and int(match.group(1)) > 10_000, line
    (opened,) = [n for n, entry in enumerate(log) if "1 of 1 devices ready" in entry]
    assert log.index(line) < opened, "".join(log)
