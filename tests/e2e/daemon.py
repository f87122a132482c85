"""Helpers for end-to-end tests: ``modemd`` as a real subprocess, its key, its log, its IPNs."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from modemd.api.listener import start_listener

MODEMD = [sys.executable, "-m", "modemd"]
READY_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 60.0
LOG_LINES_ON_FAILURE = 2000  # the daemon log lines a failed test shows (the last ones)


def create_key(db: Path | str, ipn_url: str, pin: str = "4711", events: str | None = None) -> str:
    """A new key of ``pin`` posting to ``ipn_url`` (``events``: its --events, else the default)."""
    out = subprocess.run(
        [
            *MODEMD,
            "keys",
            "create",
            "--pin",
            pin,
            "--allow-ip",
            "127.0.0.1",
            "--ipn-url",
            ipn_url,
            "--db",
            str(db),
            *(["--events", events] if events else []),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


async def wait_for_api(proc: asyncio.subprocess.Process, log: list[str]) -> int:
    assert proc.stderr is not None
    started = len(log)  # a restarted daemon's lines follow its earlier runs' in ``log``
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            while True:
                raw = await proc.stderr.readline()
                if not raw:
                    raise AssertionError("daemon exited:\n" + "".join(log[started:]))
                line = raw.decode()
                log.append(line)
                if match := re.search(r"API listening on https?://[\d.]+:(\d+)", line):
                    return int(match.group(1))
    except TimeoutError:
        raise AssertionError(
            f"daemon not listening after {READY_TIMEOUT_S:.0f} s; its log since start:\n"
            + "".join(log[started:][-60:])
        ) from None


async def drain(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode())


class Ipns:
    """IPNs a local listener received; ``wait(n)`` until ``n`` have arrived."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        assert headers["webhook-id"] == body["event_id"]
        self.received.append(body)
        self._changed.set()

    async def wait(self, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()


@asynccontextmanager
async def ipn_listener() -> AsyncIterator[tuple[Ipns, str]]:
    """A local IPN receiver: (what it got, its URL)."""
    ipns = Ipns()
    runner, port = await start_listener(ipns)
    try:
        yield ipns, f"http://127.0.0.1:{port}/ipn"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running_daemon(*args: str) -> AsyncIterator[int]:
    """``modemd serve ARGS --port 0``; yields the API port; SIGTERM at the end, exit 0 asserted."""
    proc = await asyncio.create_subprocess_exec(
        *MODEMD,
        "serve",
        *args,
        "--port",
        "0",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log: list[str] = []
    drainer: asyncio.Task[None] | None = None
    failed = False
    try:
        port = await wait_for_api(proc, log)
        assert proc.stderr is not None
        drainer = asyncio.create_task(drain(proc.stderr, log), name="drain daemon log")
        try:
            yield port
        except BaseException:
            failed = True
            raise
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), EXIT_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            code = await proc.wait()
            log.append(f"-- killed: no exit within {EXIT_TIMEOUT_S} s of SIGTERM --\n")
        if drainer is not None:
            await drainer
        if failed:  # the test failed inside: its report shows why the daemon answered so
            print("".join(log[-LOG_LINES_ON_FAILURE:]))  # pytest prints a failure's stdout
    assert code == 0, "".join(log)


async def send_batch(port: int, key: str, numbers: list[str]) -> list[dict[str, Any]]:
    """POST one job per number at once; the API's answers (each asserted HTTP 200)."""
    async with aiohttp.ClientSession() as session:

        async def send(to: str) -> dict[str, Any]:
            payload = {"apikey": key, "pin": "4711", "to": to, "msg": f"hello {to}"}
            async with session.post(f"http://127.0.0.1:{port}/api/v1/send", json=payload) as r:
                assert r.status == 200
                return dict(await r.json())

        return await asyncio.gather(*(send(n) for n in numbers))


def sent_then_delivered(
    received: list[dict[str, Any]], job_ids: set[str]
) -> dict[str, list[dict[str, Any]]]:
    """IPNs by job, asserted: every job got sms.sent then sms.delivered, once, from one device."""
    by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in received:
        by_job[event["data"]["job_id"]].append(event)
    assert set(by_job) == job_ids
    for events in by_job.values():
        assert [e["type"] for e in events] == ["sms.sent", "sms.delivered"]  # in order, once
        assert events[0]["data"]["device_id"] == events[1]["data"]["device_id"]
    return by_job
