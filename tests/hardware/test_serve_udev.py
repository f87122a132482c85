"""``modemd serve --udev`` as a subprocess under a umockdev testbed: modems are plugged and
pulled while it runs, jobs go to the ones present, and systemd hears READY, WATCHDOG, STOPPING."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp

from modemd.emulators.profile import emulated_identity

from .testbed import Bench, FakeUsbModem, TtySpec

MODEMD = [sys.executable, "-m", "modemd"]
QUICK = {"send_latency_s": (0.01, 0.03), "report_delay_s": 0.01}


class Daemon:
    """The daemon's log as it comes, with waits on it."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._grew = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name="daemon log")

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.lines.append(line.decode())
            self._grew.set()

    async def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        try:
            return await asyncio.wait_for(self._find(pattern), timeout)
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} in:\n" + "".join(self.lines)) from None

    async def _find(self, pattern: str) -> re.Match[str]:
        if True:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if match := re.search(pattern, line):
                        return match
                seen = len(self.lines)
                if self._reader.done():
                    raise AssertionError("daemon exited:\n" + "".join(self.lines))
                self._grew.clear()
                await self._grew.wait()

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            code = await self.proc.wait()
            self.lines.append("-- killed: no exit within 30 s of SIGTERM --\n")
        await self._reader
        return code


def modem(port: str) -> FakeUsbModem:
    label = {"MODEMD_PIN": "4711"}
    return FakeUsbModem(
        usb_port=port,
        serial=f"SER{port}",
        ttys=[
            TtySpec(f"ttyUSB{int(port) * 4}", 0, "silent", label),
            TtySpec(f"ttyUSB{int(port) * 4 + 2}", 2, "at", label),
        ],
    )


async def send(session: aiohttp.ClientSession, port: int, key: str, to: str) -> dict[str, Any]:
    payload = {"apikey": key, "pin": "4711", "to": to, "msg": f"hello {to}"}
    async with session.post(f"http://127.0.0.1:{port}/api/v1/send", json=payload) as response:
        return await response.json()  # type: ignore[no-any-return]


async def job_state(session: aiohttp.ClientSession, port: int, key: str, job_id: str) -> str:
    url = f"http://127.0.0.1:{port}/api/v1/jobs/{job_id}"
    async with session.get(url, params={"apikey": key}) as response:
        return str((await response.json())["job"]["state"])


async def test_serve_follows_udev_and_tells_systemd(bench: Bench, tmp_path: Path) -> None:
    db = tmp_path / "modemd.db"
    create = await asyncio.create_subprocess_exec(
        *MODEMD,
        "keys",
        "create",
        "--pin",
        "4711",
        "--over-ip",
        "--db",
        str(db),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    key = (await create.communicate())[0].decode().split()[-1]
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    await bench.plug(modem("3"), identity=0, **QUICK)  # there before the daemon starts
    proc = await asyncio.create_subprocess_exec(
        *MODEMD,
        "serve",
        "--udev",
        "--db",
        str(db),
        "--port",
        "0",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "NOTIFY_SOCKET": str(tmp_path / "notify"),
            "WATCHDOG_USEC": "200000",
        },
    )
    daemon = Daemon(proc)
    heard: list[str] = []

    def listen() -> None:  # as systemd does: read every datagram as it comes
        while True:
            try:
                heard.append(notify.recv(4096).decode())
            except BlockingIOError:
                return

    asyncio.get_running_loop().add_reader(notify.fileno(), listen)
    try:
        port = int((await daemon.wait_for(r"API listening on http://[\d.]+:(\d+)")).group(1))
        await daemon.wait_for(rf"device {emulated_identity(0).imei}: add->ready")
        await bench.plug(modem("4"), identity=1, **QUICK)  # hot-plugged
        await daemon.wait_for(rf"device {emulated_identity(1).imei}: add->ready")
        async with aiohttp.ClientSession() as session:
            answers = [await send(session, port, key, f"+3933300{n:05d}") for n in range(6)]
            assert all(a["response"] == "200" and len(a["records"]) == 2 for a in answers)
            await bench.unplug(modem("3"))
            await daemon.wait_for(rf"device {emulated_identity(0).imei}: \w+ -> gone")
            later = [await send(session, port, key, f"+3933311{n:05d}") for n in range(6)]
            assert all(len(a["records"]) == 1 for a in later)  # only the modem still there
            async with asyncio.timeout(20):
                for answer in later:
                    while await job_state(session, port, key, answer["job_id"]) in (
                        "queued",
                        "sending",
                    ):
                        await asyncio.sleep(0.05)
    finally:
        code = await daemon.stop()
        listen()
        asyncio.get_running_loop().remove_reader(notify.fileno())
        notify.close()
    assert code == 0, "".join(daemon.lines)
    assert heard[0] == "READY=1" and heard.count("STOPPING=1") == 1
    # The watchdog is fed until the drain ends: a ping may follow STOPPING, nothing else may.
    after = heard[heard.index("STOPPING=1") + 1 :]
    assert set(after) <= {"WATCHDOG=1"}, heard
    assert "WATCHDOG=1" in heard[: heard.index("STOPPING=1")]
