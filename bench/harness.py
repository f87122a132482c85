"""What every scenario needs: the daemon as a subprocess, taps on emulated ptys, statistics.

The daemon is driven only from outside: ``python -m modemd`` subprocesses (``keys create``,
``serve``), its HTTP API, and the ptys of emulated modems it opens with ``--device PORT:PIN``.
Times are ``time.time()`` of this process, the same clock the emulator stamps accepts with.
"""

from __future__ import annotations

import asyncio
import bisect
import compileall
import functools
import importlib.util
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bench import host
from bench.turns import TurnStart
from bench.usage import Sampler as Sampler  # re-exported: the scenarios import them from here
from bench.usage import Usage as Usage
from bench.usage import UsageSampler as UsageSampler
from bench.usage import thread_cpu_s as thread_cpu_s
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.observe import looplag
from modemd.observe.gcpause import GENERATIONS

PIN = "7"  # pool label of every benchmark modem
READY_TIMEOUT_S = 120.0  # 64 modems initialise concurrently; far more than they ever need
STOP_TIMEOUT_S = 20.0  # SIGTERM to exit; the daemon bounds each shutdown step to 10 s
CMGS = b"AT+CMGS="
CDS = b"+CDS"
CTRL_Z = b"\x1a"  # ends a PDU: the modem submits it
TAIL_BYTES = 16  # a command split across two reads is still recognised
COMMAND_HEAD_BYTES = 8  # AT+CMGR=, AT+CMGD=, AT+CMGL=: enough to tell a command
PROFILE_WAITING = False  # py-spy --idle: also sample threads that wait (select, fsync, queue)
# py-spy --native: C frames too (uvloop, syscalls); it stops the daemon at each sample, so the
# measured figures of a --native run are slower than without it: read only its profile
PROFILE_NATIVE = False
# what ``python -m`` runs as the daemon: bench.loopcount swaps in bench.counted (modemd with
# counters on its event loop)
DAEMON_MODULE = "modemd"
LATE_METRIC = "modemd_loop_late_seconds_total"
GC_METRIC = "modemd_gc_seconds_total"
GC_PASSES_METRIC = "modemd_gc_passes_total"
LISTENING = re.compile(r"API listening on http://[\d.]+:(\d+)")
DEVICES_READY = re.compile(r"(\d+) of (\d+) devices ready")


@functools.cache
def compile_daemon() -> None:
    """Compile the ``modemd`` that ``python -m modemd`` runs here to bytecode, as installing it
    does (pip, the .deb's postinst). From a checkout with PYTHONDONTWRITEBYTECODE set, each
    daemon started otherwise compiled its 200-odd modules again: 0.3-0.45 s of CPU to ready."""
    spec = importlib.util.find_spec("modemd")
    assert spec is not None and spec.submodule_search_locations
    for location in spec.submodule_search_locations:
        if not compileall.compile_dir(location, quiet=1):
            raise RuntimeError(f"modemd does not compile: {location}")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (p in 0..100); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def workdir() -> Path:
    """A fresh temporary directory for one scenario's database."""
    return Path(tempfile.mkdtemp(prefix="modemd-bench-"))


async def modemd_cli(*args: str) -> str:
    """Run one ``modemd`` command; its stdout (raises with its stderr when it fails)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "modemd", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"modemd {' '.join(args)} failed: {err.decode(errors='replace')}")
    return out.decode()


async def create_key(db: Path | str, ipn_url: str | None = None, events: str | None = None) -> str:
    """A new over-IP key of the benchmark pool (the secret is the last word printed);
    ``events``: its --events (default: every type but sms.received)."""
    extra = ["--ipn-url", ipn_url] if ipn_url else []
    extra += ["--events", events] if events else []
    printed = await modemd_cli("keys", "create", "--pin", PIN, "--over-ip", "--db", str(db), *extra)
    return printed.split()[-1]


class LineTap:
    """What one emulated modem's pty saw: AT+CMGS arrivals and +CDS emissions, stamped."""

    def __init__(
        self, modem: EmulatedModem, changed: asyncio.Event, turn: TurnStart | None = None
    ) -> None:
        self.modem = modem
        self.changed = changed  # shared by the bank's taps: set on every stamp
        self.turn = turn or TurnStart()  # shared by the bank's taps too
        self.cmgs_at: list[float] = []
        self.cmgs_turn_at: list[float] = []  # the same, at the turn's first read (bench.turns)
        self.cds_at: list[float] = []
        self.submitted_at: list[float] = []  # the PDU's Ctrl-Z arrived: the network's part begins
        self.commands = 0  # command lines the host wrote (each ends with CR; a PDU body does not)
        self.host_writes = 0  # chunks read from the host: about one per write() of the daemon
        # (arrival, the first bytes) of each chunk that begins a command: what a gap held
        self.command_heads: list[tuple[float, bytes]] = []
        self._tail_in = b""
        self._tail_out = b""
        modem.on_input = self._on_input
        modem.on_output = self._on_output

    def _on_input(self, data: bytes) -> None:
        turn_at = self.turn.now()
        self.commands += data.count(b"\r")
        self.host_writes += 1
        if data.startswith(b"AT"):
            self.command_heads.append((time.time(), data[:COMMAND_HEAD_BYTES]))
        found = len(self.cmgs_at)
        self._tail_in = _stamp(self._tail_in + data, CMGS, self.cmgs_at, self.changed)
        self.cmgs_turn_at += [turn_at] * (len(self.cmgs_at) - found)
        if CTRL_Z in data:
            self.submitted_at.extend([time.time()] * data.count(CTRL_Z))

    def _on_output(self, data: bytes) -> None:
        self._tail_out = _stamp(self._tail_out + data, CDS, self.cds_at, self.changed)
        self.changed.set()  # an answer may end a send (the network's accept comes with +CMGS)

    @property
    def accepted_at(self) -> list[float]:
        """When the emulated network accepted each part (the send ended)."""
        return [m.at for m in self.modem.accepted]

    def network_s(self) -> list[float]:
        """Each accepted part's time at the network: its Ctrl-Z's arrival -> its ``+CMGS``."""
        return [end - self.submitted_at[bisect.bisect(self.submitted_at, end) - 1]
                for end in self.accepted_at]  # fmt: skip


def _stamp(seen: bytes, needle: bytes, stamps: list[float], changed: asyncio.Event) -> bytes:
    """Stamp each ``needle`` in ``seen``; return the tail to prepend to the next chunk."""
    if needle in seen:
        stamps.extend([time.time()] * seen.count(needle))
        changed.set()
        seen = seen.rsplit(needle, 1)[1]
    return seen[-TAIL_BYTES:]


@asynccontextmanager
async def emulated_bank(count: int, **profile: Any) -> AsyncIterator[list[LineTap]]:
    """``count`` emulated modems serving ptys in this process, each with a tap; this process
    at the emulators' host's priority meanwhile (``bench.host``)."""
    bank = EmulatedBank.create(count, seed=count, profile_overrides=profile)
    with host.raised():
        await bank.start()
        changed = asyncio.Event()
        try:
            turn = TurnStart()
            yield [LineTap(m, changed, turn) for m in bank.modems]
        finally:
            await bank.close()


class Daemon:
    """``modemd serve`` as a subprocess on a free loopback port."""

    def __init__(
        self,
        db: Path | str,
        ports: list[str],
        *,
        simulate: int = 0,
        host_id: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.db = db  # a SQLite file, or a PostgreSQL URL
        self.env = env or {}  # on top of this process's environment
        self.ports = ports
        self.simulate = simulate  # emulated modems inside the daemon (--simulate)
        self.host_id = host_id
        self.port = 0
        self.ready_s = 0.0  # spawn to "API listening"
        self.devices_ready = 0  # as the daemon logged it before listening
        self.log: list[str] = []
        self.admin_token = secrets.token_urlsafe(24)  # for /metrics
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def start(self) -> None:
        """Spawn the daemon and wait until its API listens."""
        devices = [arg for p in self.ports for arg in ("--device", f"{p}:{PIN}")]
        if self.simulate:
            devices += ["--simulate", str(self.simulate), "--pin", PIN]
        if self.host_id:
            devices += ["--host-id", self.host_id]
        serve = ["serve", "--db", str(self.db), "--host", "127.0.0.1", "--port", "0", *devices]
        compile_daemon()
        started = time.perf_counter()
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            DAEMON_MODULE,
            *serve,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **self.env, "MODEMD_ADMIN_TOKEN": self.admin_token},
            preexec_fn=host.as_peer,  # not at the emulators' host's priority
        )
        async with asyncio.timeout(READY_TIMEOUT_S):
            while not self.port:
                line = await self._line()
                if counted := DEVICES_READY.search(line):
                    self.devices_ready = int(counted.group(1))
                if match := LISTENING.search(line):
                    self.port = int(match.group(1))
        self.ready_s = time.perf_counter() - started
        if self.devices_ready != len(self.ports) + self.simulate:
            raise RuntimeError(f"{self.devices_ready} of {len(self.ports)} modems ready")
        self._drain = asyncio.create_task(self._keep_reading(), name="daemon stderr")

    async def metric(self, name: str) -> float:
        """The value of one sample of the daemon's /metrics, labels written out (0 if absent)."""
        return (await self.metrics([name]))[name]

    async def metrics(self, names: list[str]) -> dict[str, float]:
        """Several samples from one read of /metrics (0 for those absent)."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}/metrics", headers=headers) as response,
        ):
            text = await response.text()
        found = dict.fromkeys(names, 0.0)
        for line in text.splitlines():
            name, _, value = line.rpartition(" ")
            if name in found:
                found[name] = float(value)
        return found

    async def _line(self) -> str:
        assert self._proc is not None and self._proc.stderr is not None
        raw = await self._proc.stderr.readline()
        if not raw:
            raise RuntimeError("modemd serve exited:\n" + "".join(self.log[-30:]))
        line = raw.decode(errors="replace")
        self.log.append(line)
        del self.log[:-200]
        return line

    async def _keep_reading(self) -> None:
        while True:
            await self._line()

    async def stop(self) -> None:
        """SIGTERM, then wait; kill if it does not stop in time."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            await asyncio.gather(self._drain, return_exceptions=True)

    async def __aenter__(self) -> Daemon:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()


class OwnLag:
    """This process's loop lag while in use (observe.looplag): the largest, and the late
    wake-ups' causes. Emulated modems run on this loop, so its lag delays their stamps."""

    def __init__(self) -> None:
        self.max_s = 0.0
        self.late_s = dict.fromkeys(looplag.CAUSES, 0.0)
        self._task: asyncio.Task[None] | None = None

    def _observe(self, lag_s: float, causes: dict[str, float]) -> None:
        self.max_s = max(self.max_s, lag_s)
        for cause, seconds in causes.items():
            self.late_s[cause] += seconds

    async def __aenter__(self) -> OwnLag:
        self._task = asyncio.create_task(looplag.probe(self._observe), name="bench loop lag")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def daemon_lateness(daemon: Daemon, *extra: str) -> dict[str, float]:
    """The daemon's late loop wake-ups so far, in seconds by cause, and its largest lag; and the
    ``extra`` samples, under their names."""
    # One read of /metrics: a page with 256 devices costs the daemon's loop 50-80 ms (README)
    names = {c: f'{LATE_METRIC}{{cause="{c}"}}' for c in looplag.CAUSES}
    names |= {name: name for name in extra}
    names |= {f"gc{g}": f'{GC_METRIC}{{generation="{g}"}}' for g in GENERATIONS}
    names |= {f"gcn{g}": f'{GC_PASSES_METRIC}{{generation="{g}"}}' for g in GENERATIONS}
    names |= {"max": "modemd_loop_lag_max_seconds", "gc_max": "modemd_gc_pause_max_seconds"}
    samples = await daemon.metrics(list(names.values()))
    return {key: samples[name] for key, name in names.items()}


def lag_summary(before: dict[str, float], after: dict[str, float], own: OwnLag) -> dict[str, Any]:
    """Loop lag during a window: the daemon's late seconds by cause, and this process's."""
    return {
        "daemon_lag_max_ms": round(after["max"] * 1000, 1),  # since the daemon started
        "daemon_late_ms": {c: round((after[c] - before[c]) * 1000, 1) for c in looplag.CAUSES},
        # the daemon's garbage collector meanwhile (it holds every thread), by generation
        "daemon_gc_ms": [
            round((after[f"gc{g}"] - before[f"gc{g}"]) * 1000, 1) for g in GENERATIONS
        ],
        "daemon_gc_passes": [round(after[f"gcn{g}"] - before[f"gcn{g}"]) for g in GENERATIONS],
        "daemon_gc_max_ms": round(after["gc_max"] * 1000, 1),  # its longest pass since start
        "bench_lag_max_ms": round(own.max_s * 1000, 1),
        "bench_late_ms": {c: round(v * 1000, 1) for c, v in own.late_s.items()},
    }


def pyspy() -> str | None:
    """The py-spy next to this Python (the venv) or on PATH."""
    return shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


@asynccontextmanager
async def profiled(pid: int, out: Path | None) -> AsyncIterator[None]:
    """With ``out``: py-spy samples ``pid`` (all threads) meanwhile; collapsed stacks to ``out``."""
    if out is None:
        yield
        return
    spy_path = pyspy()
    if spy_path is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install -e '.[bench]'")
    idle = ["--idle"] if PROFILE_WAITING else []
    native = ["--native"] if PROFILE_NATIVE else ["--nonblocking"]
    spy = await asyncio.create_subprocess_exec(
        spy_path, "record", "--pid", str(pid), "--threads", "--rate", "200", *idle,
        "--format", "raw", "-o", str(out), *native,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(0.5)  # attached before the measured window starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await spy.wait()
        except TimeoutError:
            spy.kill()
            await spy.wait()


async def wait_until(check: Callable[[], bool], changed: asyncio.Event, timeout_s: float) -> None:
    """Wait until ``check()`` holds, looking again each time ``changed`` is set."""
    async with asyncio.timeout(timeout_s):
        while not check():
            changed.clear()
            await changed.wait()
