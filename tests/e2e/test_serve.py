"""End to end: ``modemd serve --simulate 3`` as a real subprocess, jobs over real HTTP, IPNs to a
real local receiver, and the emulated network's own record as the judge of what went out."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp

from modemd.api.listener import start_listener

JOBS = 30
MODEMD = [sys.executable, "-m", "modemd"]
READY_TIMEOUT_S = 60.0
DONE_TIMEOUT_S = 120.0


def create_key(db: Path, ipn_url: str) -> str:
    out = subprocess.run(
        [
            *MODEMD,
            "keys",
            "create",
            "--pin",
            "4711",
            "--allow-ip",
            "127.0.0.1",
            "--ipn-url",
            ipn_url,
            "--db",
            str(db),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


async def wait_for_api(proc: asyncio.subprocess.Process, log: list[str]) -> int:
    assert proc.stderr is not None
    async with asyncio.timeout(READY_TIMEOUT_S):
        while True:
            raw = await proc.stderr.readline()
            if not raw:
                raise AssertionError("daemon exited:\n" + "".join(log))
            line = raw.decode()
            log.append(line)
            if match := re.search(r"API listening on http://[\d.]+:(\d+)", line):
                return int(match.group(1))


async def drain(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode())


async def test_thirty_jobs_through_three_emulated_modems(tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    def on_ipn(body: dict[str, Any], headers: dict[str, str]) -> None:  # answers 200
        assert headers["webhook-id"] == body["event_id"]
        received.append(body)
        if len(received) >= 2 * JOBS:
            arrived.set()

    listener, ipn_port = await start_listener(on_ipn)
    db, record = tmp_path / "modemd.db", tmp_path / "network.jsonl"
    key = await asyncio.to_thread(create_key, db, f"http://127.0.0.1:{ipn_port}/ipn")
    proc = await asyncio.create_subprocess_exec(
        *MODEMD,
        "serve",
        "--simulate",
        "3",
        "--pin",
        "4711",
        "--db",
        str(db),
        "--port",
        "0",
        "--record",
        str(record),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log: list[str] = []
    drainer: asyncio.Task[None] | None = None
    try:
        port = await wait_for_api(proc, log)
        assert proc.stderr is not None
        drainer = asyncio.create_task(drain(proc.stderr, log), name="drain daemon log")
        numbers = [f"+3933300{n:05d}" for n in range(JOBS)]
        async with aiohttp.ClientSession() as session:

            async def send(to: str) -> dict[str, Any]:
                payload = {"apikey": key, "pin": "4711", "to": to, "msg": f"hello {to}"}
                async with session.post(f"http://127.0.0.1:{port}/api/v1/send", json=payload) as r:
                    assert r.status == 200
                    return await r.json()

            answers = await asyncio.gather(*(send(n) for n in numbers))
        for answer in answers:
            assert answer["status_code"] == "1" and answer["status"] == "ok_ip"
            assert len(answer["records"]) == 3  # offered to every modem of the pool
        job_ids = {a["job_id"] for a in answers}
        assert len(job_ids) == JOBS

        async with asyncio.timeout(DONE_TIMEOUT_S):
            await arrived.wait()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            code = await proc.wait()
            log.append("-- killed: no exit within 60 s of SIGTERM --\n")
        if drainer is not None:
            await drainer
        await listener.cleanup()
    assert code == 0, "".join(log)

    by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in received:
        by_job[event["data"]["job_id"]].append(event)
    assert set(by_job) == job_ids
    for events in by_job.values():
        assert [e["type"] for e in events] == ["sms.sent", "sms.delivered"]  # in order, once
        assert events[0]["data"]["device_id"] == events[1]["data"]["device_id"]

    # What the emulated network accepted: each job exactly once, all three modems used.
    accepted = [json.loads(line) for line in record.read_text().splitlines()]
    assert Counter(m["to"] for m in accepted) == Counter(numbers)
    sender_of = {m["to"]: m["imei"] for m in accepted}
    for events in by_job.values():
        assert sender_of[events[0]["data"]["to"]] == events[0]["data"]["device_id"]
    assert len(set(sender_of.values())) == 3
