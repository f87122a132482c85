"""Side by side: modemd and smstools3's smsd, tuned for speed, on the same emulated modems.

Each peer gets a fresh bank of ``MODEMS`` emulated modems (this process serves the ptys) taking
``LATENCY_S`` per send and reporting delivery after ``REPORT_DELAY_S``, and the same work:

- dispatch: ``DISPATCH_JOBS`` jobs one at a time on idle modems, from the hand-off (modemd: the
  API's 200; smsd: the spool file renamed into its outgoing folder, as its manual asks for
  ``trust_outgoing``) to ``AT+CMGS=`` on a pty;
- backlog: ``BACKLOG_JOBS`` jobs handed off at once; the ratio to N / L per modem and the
  largest gap between a send's end and the same modem's next ``AT+CMGS=`` (bench.backlog);
- CPU per message (every process of the peer: smsd forks one per modem plus its spooler and an
  ``inotifywait``) and the peak memory, summed as PSS so that smsd's shared pages count once.

smsd runs with the speed settings of its manual (``SMSD_GLOBAL``/``SMSD_MODEM``, each with its
reason) and, like modemd, requests status reports and reads them (``report``, ``incoming``).

    bench/run --peers        # installs Debian's smstools and inotify-tools when missing
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from bench import host
from bench.backlog import Window, largest_gap, summary
from bench.harness import (
    Daemon,
    LineTap,
    Sampler,
    create_key,
    emulated_bank,
    percentile,
    wait_until,
    workdir,
)

MODEMS = 4
LATENCY_S = 1.0  # Ctrl-Z -> +CMGS; real modems take 2-6 s (reference/peers-timings-webhooks.md)
REPORT_DELAY_S = 0.5
DISPATCH_JOBS = 20
BACKLOG_JOBS = 40
IDLE_S = 1.5  # between warm-up and the measured work, and after each dispatched job's send
STEP_TIMEOUT_S = 30.0  # one job reaching a modem; smsd's default polling would need 10 s
PEER_STOP_TIMEOUT_S = 20.0

SMSD_GLOBAL = {
    "delaytime": "1",  # seconds a process sleeps with nothing to do (default 10, minimum 1)
    "delaytime_mainprocess": "1",  # the spooler's pick-up interval, without notifier
    "notifier": "yes",  # inotifywait wakes the spooler as a file appears (default no)
    "trust_outgoing": "yes",  # files appear by rename: no wait to see them complete
    "receive_before_send": "no",
    "max_continuous_sending": "300",  # a backlog is sent without stops for other tasks (default)
    "loglevel": "5",  # notice: routine sends are not logged line by line
}
SMSD_MODEM = {
    "incoming": "yes",  # read received messages and status reports, as modemd does
    "report": "yes",  # ask for status reports, as modemd does
    "detect_unexpected_input": "no",  # skips the listen before every command (~100 ms)
    "detect_message_routing": "no",
    "check_network": "2",  # registration checked only before sending
    "status_signal_quality": "no",
    "trust_spool": "yes",  # no 1 s wait to see a spooled file complete (default yes)
}


@dataclass(frozen=True)
class Sample:
    """A group of processes' summed PSS and CPU seconds at one moment."""

    pss_mb: float
    cpu_s: float


def group_usage(pids: list[int]) -> Sample:
    """PSS and CPU time summed over ``pids`` (processes that ended count as nothing). CPU is
    each thread's time on a CPU in nanoseconds (``/proc/<pid>/task/<tid>/schedstat``'s first
    field), not utime + stime: those count 10 ms clock ticks, 0.167 ms a message over the
    peers row's 60, coarser than the differences the row is read for."""
    pss_kb = 0
    cpu_ns = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except (FileNotFoundError, ProcessLookupError):
            continue
        cpu_ns += sum(_on_cpu_ns(task) for task in tasks)
        pss_kb += next((int(line.split()[1]) for line in rollup if line.startswith("Pss:")), 0)
    return Sample(pss_kb / 1024, cpu_ns / 1e9)


def _on_cpu_ns(task: Path) -> int:
    """A thread's time on a CPU so far, in nanoseconds; 0 for one that has ended."""
    try:
        return int((task / "schedstat").read_text().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return 0


def process_group(pgid: int) -> list[int]:
    """Every process whose process group is ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid:
                found.append(int(entry.name))
    return found


class GroupSampler(Sampler):
    """Samples a peer's processes while the measured work runs: CPU used, peak PSS."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        super().__init__()
        self.pids = pids
        self.first = group_usage(pids())
        self.cpu_s = 0.0
        self.peak_pss_mb = self.first.pss_mb

    def _sample(self) -> None:
        now = group_usage(self.pids())
        self.cpu_s = now.cpu_s - self.first.cpu_s
        self.peak_pss_mb = max(self.peak_pss_mb, now.pss_mb)


Submit = Callable[[int], Awaitable[float]]  # hand job n off; time.time() when it is handed off


@asynccontextmanager
async def modemd_peer(ports: list[str]) -> AsyncIterator[tuple[Submit, Callable[[], list[int]]]]:
    """``modemd serve`` on ``ports``; jobs handed off through the API."""
    db = workdir() / "modemd.db"
    key = await create_key(db)
    async with Daemon(db, ports) as daemon, aiohttp.ClientSession() as session:

        async def submit(n: int) -> float:
            payload = {"apikey": key, "to": f"+39333{n:07d}", "msg": "bench peers"}
            async with session.post(f"{daemon.url}/api/v1/send", json=payload) as response:
                if response.status != 200:
                    raise RuntimeError(f"send refused: {response.status} {await response.text()}")
                await response.read()
            return time.time()

        yield submit, lambda: [daemon.pid]


def smsd_config(root: Path, ports: list[str]) -> Path:
    """Write smsd.conf and its folders under ``root``; the config's path."""
    folders = {name: root / name for name in ("outgoing", "checked", "failed", "sent", "incoming")}
    for folder in [*folders.values(), root / "tmp"]:
        folder.mkdir(parents=True, exist_ok=True)
    names = [f"GSM{n}" for n in range(1, len(ports) + 1)]
    lines = [f"devices = {','.join(names)}"]
    lines += [f"{name} = {path}" for name, path in folders.items()]
    lines += [f"{name} = {root / name}" for name in ("logfile", "infofile", "pidfile")]
    lines += [f"{key} = {value}" for key, value in SMSD_GLOBAL.items()]
    for name, port in zip(names, ports, strict=True):
        lines += ["", f"[{name}]", f"device = {port}"]
        lines += [f"{key} = {value}" for key, value in SMSD_MODEM.items()]
    config = root / "smsd.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


@asynccontextmanager
async def smsd_peer(ports: list[str]) -> AsyncIterator[tuple[Submit, Callable[[], list[int]]]]:
    """smsd on ``ports`` in its own process group; jobs handed off as spool files."""
    smsd = shutil.which("smsd") or "/usr/sbin/smsd"
    root = workdir()
    config = smsd_config(root, ports)
    proc = await asyncio.create_subprocess_exec(
        smsd, "-c", str(config), "-t",  # -t: stay in the foreground
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its modem processes and inotifywait form one group to stop
        preexec_fn=host.as_peer,  # as modemd's daemon: not at the emulators' host's priority
    )  # fmt: skip

    async def submit(n: int) -> float:
        if proc.returncode is not None:
            log = (root / "logfile").read_text(errors="replace").splitlines()
            raise RuntimeError("smsd exited:\n" + "\n".join(log[-10:]))
        staged = root / "tmp" / f"job{n}"
        staged.write_text(f"To: 39333{n:07d}\n\nbench peers\n")
        os.rename(staged, root / "outgoing" / staged.name)
        return time.time()

    try:
        yield submit, lambda: process_group(proc.pid)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(PEER_STOP_TIMEOUT_S):
                    await proc.wait()
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


PEERS = {"modemd": modemd_peer, "smsd": smsd_peer}


def _sent(taps: list[LineTap]) -> int:
    return sum(len(t.accepted_at) for t in taps)


def _starts(taps: list[LineTap]) -> list[int]:
    return [len(t.cmgs_at) for t in taps]


def _moved(taps: list[LineTap], before: list[int]) -> bool:
    return _starts(taps) != before


async def _all_sent(taps: list[LineTap], count: int, timeout_s: float) -> None:
    await wait_until(lambda: _sent(taps) >= count, taps[0].changed, timeout_s)


async def _dispatch(submit: Submit, taps: list[LineTap], first: int) -> list[float]:
    """Hand off jobs one at a time on idle modems: hand-off -> AT+CMGS= in ms."""
    latencies = []
    for n in range(first, first + DISPATCH_JOBS):
        before = _starts(taps)
        sent = _sent(taps)
        handed_off = await submit(n)
        await wait_until(partial(_moved, taps, before), taps[0].changed, STEP_TIMEOUT_S)
        tap, seen = next((t, b) for t, b in zip(taps, before, strict=True) if len(t.cmgs_at) > b)
        latencies.append((tap.cmgs_at[seen] - handed_off) * 1000)
        await _all_sent(taps, sent + 1, STEP_TIMEOUT_S)
        await asyncio.sleep(IDLE_S)
    return latencies


async def _backlog(submit: Submit, taps: list[LineTap], first: int) -> dict[str, Any]:
    starts = [(len(t.cmgs_at), len(t.accepted_at)) for t in taps]
    sent = _sent(taps)
    for n in range(first, first + BACKLOG_JOBS):
        await submit(n)
    await _all_sent(taps, sent + BACKLOG_JOBS, BACKLOG_JOBS * LATENCY_S * 3 + STEP_TIMEOUT_S)
    windows = [
        Window(t.cmgs_at[c:], t.accepted_at[a:], t.command_heads)
        for t, (c, a) in zip(taps, starts, strict=True)
    ]
    largest = largest_gap(windows)  # where it lay, as bench.backlog says it
    return summary(windows, LATENCY_S, BACKLOG_JOBS) | {
        "gap_max_wait": [largest["wait"], largest["waits"]],
        "gap_max_commands": largest["commands"],
        "gap_max_ms_before_dry": largest["ms_before_dry"],
        "gap_max_ms_after_dry": largest["ms_after_dry"],
    }


async def measure(name: str) -> dict[str, Any]:
    """One peer on a fresh bank: dispatch latencies, backlog ratio, CPU and memory."""
    async with (
        emulated_bank(
            MODEMS, send_latency_s=(LATENCY_S, LATENCY_S), report_delay_s=REPORT_DELAY_S
        ) as taps,
        PEERS[name]([t.modem.port for t in taps]) as (submit, pids),
    ):
        for n in range(MODEMS):  # warm-up: every modem initialised, first-use costs paid
            await submit(n)
        await _all_sent(taps, MODEMS, STEP_TIMEOUT_S * 2)
        await asyncio.sleep(IDLE_S)
        async with GroupSampler(pids) as usage:
            latencies = await _dispatch(submit, taps, MODEMS)
            backlog = await _backlog(submit, taps, MODEMS + DISPATCH_JOBS)
    messages = DISPATCH_JOBS + BACKLOG_JOBS
    return {
        "dispatch_p50_ms": round(percentile(latencies, 50), 1),
        "dispatch_p99_ms": round(percentile(latencies, 99), 1),
        "ratio": backlog["ratio"],
        "gap_max_ms": backlog["gap_max_ms"],
        "gap_p50_ms": backlog["gap_p50_ms"],
        **{k: v for k, v in backlog.items() if k.startswith("gap_max_") and k != "gap_max_ms"},
        "cpu_ms_per_msg": round(1000 * usage.cpu_s / messages, 2),
        "pss_mb_peak": round(usage.peak_pss_mb, 1),
    }


# (key, label, unit, better when lower)
COLUMNS = [
    ("dispatch_p50_ms", "dispatch p50", "ms", True),
    ("dispatch_p99_ms", "dispatch p99", "ms", True),
    ("ratio", f"backlog ratio {MODEMS} x {LATENCY_S:g} s", "", False),
    ("gap_max_ms", "largest gap", "ms", True),
    ("cpu_ms_per_msg", "CPU per message", "ms", True),
    ("pss_mb_peak", "memory (PSS, all processes)", "MB", True),
]


async def run() -> dict[str, Any]:
    """Both peers, one after the other; their rows and modemd's advantage on each column."""
    rows = {name: await measure(name) for name in PEERS}
    lead = {}
    for key, _label, _unit, lower in COLUMNS:
        ours, theirs = rows["modemd"][key], rows["smsd"][key]
        lead[key] = round(theirs / ours if lower else ours / theirs, 2) if ours and theirs else None
    return {"peers": rows, "peers_lead": lead}


def table(result: dict[str, Any]) -> str:
    """The side-by-side table: one line per column, modemd, smsd, and smsd / modemd."""
    rows, lead = result["peers"], result["peers_lead"]
    lines = [f"{'side by side':<30} {'modemd':>9} {'smsd':>9}  {'modemd lead':>11}", "-" * 64]
    for key, label, unit, _lower in COLUMNS:
        shown = [f"{rows[p][key]:,.2f}" + (f" {unit}" if unit else "") for p in PEERS]
        ahead = "-" if lead[key] is None else f"x {lead[key]:.2f}"
        lines.append(f"{label:<30} {shown[0]:>9} {shown[1]:>9}  {ahead:>11}")
    lines.append("modemd lead: smsd / modemd for times, CPU and memory; modemd / smsd for ratios")
    return "\n".join(lines)
