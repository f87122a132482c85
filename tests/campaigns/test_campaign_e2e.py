"""End to end: ``modemd serve --simulate 16`` as a subprocess, the CLI as a subprocess on a
pseudo-terminal (its progress bar), the emulated network's record as the judge; and a
per-second schedule across a restart and a kill -9 at a slot boundary."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import signal
import sqlite3
import time
from collections import Counter
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import aiohttp
from e2e.daemon import MODEMD, create_key, drain, ipn_listener, running_daemon, wait_for_api

from modemd.emulators.profile import SendRecorder

from .test_campaign_api import DUPLICATES, INVALID, ROWS, campaign_csv

RUN_TIMEOUT_S = 180.0


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the pty closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def _cli_on_a_terminal(*args: str) -> tuple[int, str]:
    """Run ``modemd ARGS`` with stdout on a pty (a terminal); (exit code, what it printed)."""
    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        *MODEMD, *args, stdin=asyncio.subprocess.DEVNULL, stdout=slave, stderr=slave
    )
    os.close(slave)
    output = asyncio.create_task(asyncio.to_thread(_read_all, master), name="cli output")
    code = await asyncio.wait_for(proc.wait(), RUN_TIMEOUT_S)
    text = (await output).decode()
    os.close(master)
    return code, text


def _db_rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


async def test_a_file_through_serve_simulate_16_with_the_cli(tmp_path: Path) -> None:
    db, record = tmp_path / "modemd.db", tmp_path / "network.jsonl"
    text, good, _ = campaign_csv(separator=";")
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(text, encoding="utf-8")
    async with ipn_listener() as (ipns, ipn_url):
        key = await asyncio.to_thread(create_key, db, ipn_url)
        args = ["--simulate", "16", "--pin", "4711", "--db", str(db), "--record", str(record)]
        async with running_daemon(*args) as port:
            url = f"http://127.0.0.1:{port}"
            cli = asyncio.create_task(
                _cli_on_a_terminal(
                    "campaigns",
                    "send",
                    str(csv_file),
                    "--template",
                    "Hello {name}",
                    "--key",
                    key,
                    "--url",
                    url,
                    "--yes",
                    "--wait",
                ),
                name="campaign cli",
            )
            # An API send in the middle of the campaign.
            async with asyncio.timeout(RUN_TIMEOUT_S):
                while len(SendRecorder.read(record)) < 100:
                    await asyncio.sleep(0.05)
            otp = "+447700900123"
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    url + "/api/v1/send", json={"apikey": key, "to": otp, "msg": "code 42"}
                ) as r,
            ):
                assert r.status == 200
            queued = {
                row[0]
                for row in await asyncio.to_thread(
                    _db_rows,
                    db,
                    "SELECT to_number FROM jobs WHERE lane = 'bulk' AND state = 'queued'",
                )
            }
            # The OTP is out before the pause: what the devices send while paused is only the
            # API sends made during it.
            await _until(lambda: otp in {m.to for m in SendRecorder.read(record)})
            during = await _pause_then_resume(db, record, url, key)
            code, printed = await cli
            # A 200 MB upload is refused from its Content-Length, before any byte is read.
            connection = HTTPConnection("127.0.0.1", port, timeout=10)
            connection.putrequest("POST", "/api/v1/campaigns")
            connection.putheader("Authorization", f"Bearer {key}")
            connection.putheader("Content-Type", "text/csv")
            connection.putheader("Content-Length", str(200 * 1024 * 1024))
            connection.endheaders()
            answer = await asyncio.to_thread(connection.getresponse)
            assert answer.status == 413 and b"over 50 MB" in answer.read()
            connection.close()
    assert code == 0, printed
    report = re.search(r"rows (\d+): (\d+) valid, (\d+) invalid, (\d+) duplicates", printed)
    assert report is not None and report.groups() == (
        str(ROWS),
        str(ROWS - INVALID - DUPLICATES),
        str(INVALID),
        str(DUPLICATES),
    )
    shares = [int(m) for m in re.findall(r"\] +(\d+)% sent", printed)]
    assert len(set(shares)) >= 3 and shares == sorted(shares) and shares[-1] == 100  # it moved
    valid = ROWS - INVALID - DUPLICATES
    assert f"done: {valid} of {valid} left the queue: " in printed, printed[-500:]
    sent = [m.to for m in SendRecorder.read(record)]
    assert Counter(sent) == Counter([*good, otp, *during])  # each valid number once, the OTPs
    ahead = [n for n in sent[: sent.index(otp)] if n in queued]
    assert len(ahead) < 16, ahead  # only jobs already in a modem's hands went before it
    assert any(e["type"] == "campaign.done" for e in ipns.received)


async def _until(found: Any) -> None:
    async with asyncio.timeout(RUN_TIMEOUT_S):
        while not await asyncio.to_thread(found):
            await asyncio.sleep(0.05)


async def _pause_then_resume(db: Path, record: Path, url: str, key: str) -> list[str]:
    """Pause the campaign; once its jobs in flight are sent, API sends go out (the pool is at
    work) and nothing of the campaign does; then resume. Returns the numbers sent meanwhile."""
    (campaign_id,) = (await asyncio.to_thread(_db_rows, db, "SELECT campaign_id FROM campaigns"))[0]
    auth = {"Authorization": f"Bearer {key}"}
    during = [f"+44770090020{n}" for n in range(3)]
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/v1/campaigns/{campaign_id}/pause", headers=auth) as r:
            assert r.status == 200, await r.text()
        in_flight = "SELECT count(*) FROM jobs WHERE campaign_id = ? AND state = 'sending'"
        await _until(lambda: _db_rows(db, in_flight, campaign_id)[0][0] == 0)
        settled = len(SendRecorder.read(record))
        for to in during:
            async with session.post(
                url + "/api/v1/send", json={"apikey": key, "to": to, "msg": "code 7"}
            ) as r:
                assert r.status == 200
        await _until(lambda: set(during) <= {m.to for m in SendRecorder.read(record)})
        between = [m.to for m in SendRecorder.read(record)[settled:]]
        async with session.post(f"{url}/api/v1/campaigns/{campaign_id}/resume", headers=auth) as r:
            assert r.status == 200, await r.text()
    assert sorted(between) == sorted(during)  # paused: the devices sent only the API's
    return during


class Restartable:
    """``modemd serve --simulate 1`` on one database: start, SIGTERM, kill -9."""

    def __init__(self, db: Path, record: Path) -> None:
        self.db, self.record = db, record
        self.proc: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> int:
        self.proc = await asyncio.create_subprocess_exec(
            *MODEMD,
            "serve",
            "--simulate",
            "1",
            "--pin",
            "4711",
            "--db",
            str(self.db),
            "--record",
            str(self.record),
            "--port",
            "0",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        port = await wait_for_api(self.proc, self.log)
        assert self.proc.stderr is not None
        self._drain = asyncio.create_task(drain(self.proc.stderr, self.log), name="drain")
        return port

    async def end(self, how: signal.Signals) -> None:
        assert self.proc is not None and self._drain is not None
        self.proc.send_signal(how)
        await asyncio.wait_for(self.proc.wait(), 60)
        await self._drain


def _slots(db: Path) -> list[float]:
    return [r[0] for r in _db_rows(db, "SELECT slot FROM campaigns ORDER BY slot")]


async def _until_slots(db: Path, count: int) -> None:
    async with asyncio.timeout(RUN_TIMEOUT_S):
        while len(await asyncio.to_thread(_slots, db)) < count:
            await asyncio.sleep(0.1)


async def test_a_per_second_schedule_runs_once_per_slot_across_restart_and_kill9(
    tmp_path: Path,
) -> None:
    db, record = tmp_path / "modemd.db", tmp_path / "network.jsonl"
    daemon = Restartable(db, record)
    async with ipn_listener() as (_, ipn_url):
        key = await asyncio.to_thread(create_key, db, ipn_url)
    port = await daemon.start()
    auth = {"Authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/api/v1/schedules",
            headers=auth,
            json={"template": "tick", "rrule": "FREQ=SECONDLY", "recipients": ["+393331234567"]},
        ) as r,
    ):
        assert r.status == 200, await r.text()
        schedule_id = (await r.json())["schedule"]["schedule_id"]
    await _until_slots(db, 3)
    await daemon.end(signal.SIGTERM)
    port = await daemon.start()
    await _until_slots(db, len(await asyncio.to_thread(_slots, db)) + 3)
    # kill -9 right at a slot boundary (a whole second)
    await asyncio.sleep(1 - time.time() % 1)
    await daemon.end(signal.SIGKILL)
    port = await daemon.start()
    await _until_slots(db, len(await asyncio.to_thread(_slots, db)) + 3)
    # No more slots; a SIGTERM may come between a slot's campaign and its job (queued at the
    # next start, as after the kill): wait until every run has its job, then stop.
    async with (
        aiohttp.ClientSession() as session,
        session.delete(
            f"http://127.0.0.1:{port}/api/v1/schedules/{schedule_id}", headers=auth
        ) as r,
    ):
        assert r.status == 200, await r.text()
    runs_with_jobs = (
        "SELECT count(*) FROM campaigns WHERE campaign_id IN (SELECT campaign_id FROM jobs)"
    )
    async with asyncio.timeout(RUN_TIMEOUT_S):
        while await asyncio.to_thread(_db_rows, db, runs_with_jobs) != [
            (len(await asyncio.to_thread(_slots, db)),)
        ]:
            await asyncio.sleep(0.1)
    await daemon.end(signal.SIGTERM)
    slots = await asyncio.to_thread(_slots, db)
    assert len(slots) == len(set(slots))  # no slot twice
    assert slots == [slots[0] + n for n in range(len(slots))]  # none lost: every second ran
    per_run = "SELECT campaign_id, count(*) FROM jobs GROUP BY campaign_id"
    assert {n for _, n in await asyncio.to_thread(_db_rows, db, per_run)} == {1}  # one job a run
    states = Counter(r[0] for r in await asyncio.to_thread(_db_rows, db, "SELECT state FROM jobs"))
    sent = len(SendRecorder.read(record))
    said = f"{len(slots)} slots, {sent} sent, jobs {dict(states)}"
    # A SIGTERM drains (nothing left sending); the kill may leave one send unknown (never resent).
    assert states["sending"] == 0 and states["unknown"] <= 1, said
    assert sent <= len(slots) and sent >= len(slots) - states["unknown"] - states["queued"], said
