"""Fault suite: kill -9 the daemon at random moments while jobs flow through 4 emulated modems
(a separate ``modemd emulate`` process, so the "network" outlives every daemon), restart,
repeat; then judge by the emulated network's own record and the IPN receiver.

Checked: no SMS went out twice; no accepted job was lost; every job ends final or ``unknown``;
every job's IPNs arrived, in order, one id per event. Counts are printed (pytest -s shows them).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from e2e.test_serve import MODEMD, create_key, drain, wait_for_api

from modemd.api.listener import start_listener
from modemd.model import FINAL_JOB_STATES, JobState
from modemd.store import jobs as job_rows
from modemd.store.db import connect

# CI runs the bounded defaults; bench/soak raises them through the environment.
JOBS = int(os.environ.get("MODEMD_FAULT_JOBS", "200"))
MODEMS = 4
KILLS = int(os.environ.get("MODEMD_FAULT_KILLS", "4"))
SEED = int(os.environ.get("MODEMD_FAULT_SEED", "20261125"))
SUBMIT_GAP_S = 0.02  # client pace: ~50 jobs/s offered, more than 4 emulated modems can send
SETTLE_TIMEOUT_S = 60.0 + JOBS / 10


class Daemon:
    """``modemd serve`` on fixed modem ports and database, restartable, killable. Each start
    takes a port the OS picks (``port``: the current one): a port kept across a kill could be
    taken meanwhile by a test running beside this one."""

    def __init__(self, db: Path, ptys: list[str]) -> None:
        self.db, self.ptys = db, ptys
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        devices = [arg for pty in self.ptys for arg in ("--device", f"{pty}:4711")]
        self.proc = await asyncio.create_subprocess_exec(
            *MODEMD,
            "serve",
            "--db",
            str(self.db),
            "--port",
            "0",
            *devices,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.port = await wait_for_api(self.proc, self.log)
        assert self.proc.stderr is not None
        self._drain = asyncio.create_task(drain(self.proc.stderr, self.log), name="drain")

    def url(self, path: str) -> str:
        """``path`` on the current run's API (a restart takes a new port)."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()
        if self._drain is not None:
            await self._drain

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        code = await asyncio.wait_for(self.proc.wait(), 60)
        if self._drain is not None:
            await self._drain
        return code


async def start_emulators(record: Path) -> tuple[asyncio.subprocess.Process, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        *MODEMD,
        "emulate",
        "--count",
        str(MODEMS),
        "--record",
        str(record),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    ptys = []
    async with asyncio.timeout(30):
        while len(ptys) < MODEMS:
            fields = (await proc.stdout.readline()).decode().split()
            assert fields, "emulator exited"
            ptys.append(fields[1])
    return proc, ptys


async def test_kill_minus_nine_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    ipns: dict[str, list[tuple[str, str]]] = defaultdict(list)  # job -> [(type, webhook-id)]
    bodies: dict[str, str] = {}

    def on_ipn(body: dict[str, Any], headers: dict[str, str]) -> None:
        event_id = headers["webhook-id"]
        text = json.dumps(body, sort_keys=True)
        if event_id in bodies:  # a redelivery after a kill: same id must mean same body
            assert bodies[event_id] == text
            return
        bodies[event_id] = text
        ipns[body["data"]["job_id"]].append((body["type"], event_id))

    listener, ipn_port = await start_listener(on_ipn)
    db, record = tmp_path / "modemd.db", tmp_path / "network.jsonl"
    key = await asyncio.to_thread(create_key, db, f"http://127.0.0.1:{ipn_port}/ipn")
    emulators, ptys = await start_emulators(record)
    daemon = Daemon(db, ptys)
    accepted: dict[str, str] = {}  # job_id -> token
    unanswered = 0
    kills = last_kill_at = 0
    try:
        await daemon.start()
        async with aiohttp.ClientSession() as session:
            next_kill = time.monotonic() + rng.uniform(0.3, 1.2)
            for n in range(JOBS):
                if kills < KILLS and time.monotonic() >= next_kill:
                    await daemon.kill9()
                    kills, last_kill_at = kills + 1, n
                    await daemon.start()
                    next_kill = time.monotonic() + rng.uniform(0.3, 1.2)
                token = f"T{n:04d}"
                try:
                    async with session.post(
                        daemon.url("/api/v1/send"),
                        json={"apikey": key, "to": f"+3933300{n:05d}", "msg": f"job {token}"},
                    ) as r:
                        answer = await r.json()
                    assert answer["response"] == "200", answer
                    accepted[answer["job_id"]] = token
                except (aiohttp.ClientError, TimeoutError):
                    unanswered += 1  # in flight at a kill: may or may not be accepted
                await asyncio.sleep(SUBMIT_GAP_S)
        # Let the last daemon finish what it can, then stop it cleanly.
        await settle(db, accepted)
        assert await daemon.stop() == 0, "".join(daemon.log[-30:])
        # "72 hours later": reports lost with a killed daemon's port will never come.
        expired = await asyncio.to_thread(expire_all, db)
        await daemon.start()  # deliver the last IPNs
        await ipns_complete(db, ipns)
        assert await daemon.stop() == 0
    finally:
        if daemon.proc is not None and daemon.proc.returncode is None:
            await daemon.kill9()
        emulators.terminate()
        await emulators.wait()
        await listener.cleanup()

    rows = await asyncio.to_thread(all_jobs, db)
    sent_tokens = Counter(
        m["text"].split()[-1] for m in map(json.loads, record.read_text().splitlines())
    )
    duplicates = [t for t, c in sent_tokens.items() if c > 1]
    lost = [j for j in accepted if j not in rows]
    states = Counter(r["state"] for r in rows.values())
    # Judged unknown although the network never saw them: each is a needless decision for a
    # person (issue 21 counts them; only a job that may have reached the port is unknown).
    unknown_unsent = [
        j
        for j, r in rows.items()
        if r["state"] == "unknown" and not sent_tokens[r["message"].split()[-1]]
    ]
    print(
        f"\nfault suite: kills {kills} (the last before job {last_kill_at}), jobs offered {JOBS}, "
        f"accepted {len(accepted)}, "
        f"unanswered {unanswered}, in database {len(rows)}, sent by the network "
        f"{sum(sent_tokens.values())}, duplicates {len(duplicates)}, lost {len(lost)}, "
        f"expired after the window {expired}, unknown but never sent {len(unknown_unsent)}, "
        f"states {dict(states)}"
    )
    assert kills == KILLS
    # Kills fall between two requests, so every job should be answered: many unanswered ones
    # mean the client lost the daemon (once it kept posting to the first run's port) and the
    # counts above judge almost nothing.
    assert unanswered <= kills, "".join(daemon.log[-30:])
    assert duplicates == []
    assert lost == []
    assert len(rows) <= len(accepted) + unanswered
    for job_id, row in rows.items():
        assert JobState(row["state"]) in FINAL_JOB_STATES, row
        received = [t for t, _ in ipns[job_id]]
        assert received[-1] == f"sms.{row['state']}", (job_id, received)
        assert received.index(received[-1]) == len(received) - 1
        assert len(set(received)) == len(received)  # one id per event
        if row["state"] == "delivered":  # unknown first when a kill hid its +CMGS
            assert received in (["sms.sent", "sms.delivered"], ["sms.unknown", "sms.delivered"])
        token = row["message"].split()[-1]
        if row["state"] in ("delivered", "expired") or "sms.sent" in received:  # went out
            assert sent_tokens[token] == 1, (job_id, token)


def all_jobs(db: Path) -> dict[str, dict[str, Any]]:
    database = connect(db)
    return {r["job_id"]: r for r in database.query("SELECT job_id, state, message FROM jobs")}


def expire_all(db: Path) -> int:
    return len(job_rows.expire_unreported(connect(db), time.time() + job_rows.REPORT_WINDOW_S))


async def settle(db: Path, accepted: dict[str, str]) -> None:
    """Wait until no job is queued or sending (everything handed to the network or judged)."""
    async with asyncio.timeout(SETTLE_TIMEOUT_S):
        while True:
            rows = await asyncio.to_thread(all_jobs, db)
            busy = [r for r in rows.values() if r["state"] in ("queued", "sending")]
            if not busy and set(accepted) <= set(rows):
                await asyncio.sleep(1.0)  # reports of the last sends
                return
            await asyncio.sleep(0.2)


async def ipns_complete(db: Path, ipns: dict[str, list[tuple[str, str]]]) -> None:
    async with asyncio.timeout(SETTLE_TIMEOUT_S):
        while True:
            rows = await asyncio.to_thread(all_jobs, db)
            if all(ipns[j] and ipns[j][-1][0] == f"sms.{r['state']}" for j, r in rows.items()):
                return
            await asyncio.sleep(0.2)
