"""Footprint: time to ready, RSS and CPU of the daemon with N idle modems.

Time to ready is from spawning ``modemd serve`` with N ``--device`` ports to its API listening
(every modem initialised). Wall time moves with the machine's load, so the CPU behind it is
split too: the daemon's CPU seconds until ready, of which importing its modules (a separate
``import modemd.cli``) is a fixed part, and this process's (the emulated modems answering).
The busy footprint comes from the backlog runs (bench.backlog).
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
from typing import Any

from bench.harness import Daemon, Usage, UsageSampler, compile_daemon, emulated_bank, workdir

SETTLE_S = 1.0  # after ready, before the idle window


async def run(modems: int, idle_s: float) -> dict[str, Any]:
    """Start the daemon on ``modems`` idle modems; watch it for ``idle_s``."""
    tmp = workdir()
    import_cpu_s = await _import_cpu_s()
    async with emulated_bank(modems) as taps:
        before = _own_cpu_s()
        async with Daemon(tmp / "modemd.db", [t.modem.port for t in taps]) as daemon:
            ready_cpu_s = Usage.of(daemon.pid).cpu_s
            emulators_cpu_s = _own_cpu_s() - before
            await asyncio.sleep(SETTLE_S)
            async with UsageSampler(daemon.pid) as usage:
                await asyncio.sleep(idle_s)
        return {
            "ready_s": round(daemon.ready_s, 2),
            "ready_cpu_s": round(ready_cpu_s, 2),  # the daemon's, spawn to ready
            "import_cpu_s": round(import_cpu_s, 2),  # of which importing (measured apart)
            "ready_emulators_cpu_s": round(emulators_cpu_s, 2),  # the modems answering (+ bench)
            "rss_mb": round(usage.peak_rss_mb, 1),
            "cpu_percent": round(usage.cpu_percent, 2),
        }


def _own_cpu_s() -> float:
    """This process's CPU seconds (the emulated modems run on its loop)."""
    times = os.times()
    return times.user + times.system


async def _import_cpu_s() -> float:
    """CPU seconds of a Python that imports what ``modemd serve`` imports, and exits."""
    compile_daemon()  # as installed: from bytecode
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import modemd.cli")
    if await proc.wait():
        raise RuntimeError("import modemd.cli failed")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
