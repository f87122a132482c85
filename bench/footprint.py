"""Footprint: time to ready, RSS and CPU of the daemon with N idle modems.

Time to ready is from spawning ``modemd serve`` with N ``--device`` ports to its API listening
(every modem initialised). The busy footprint comes from the backlog runs (bench.backlog).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.harness import Daemon, UsageSampler, emulated_bank, workdir

SETTLE_S = 1.0  # after ready, before the idle window


async def run(modems: int, idle_s: float) -> dict[str, Any]:
    """Start the daemon on ``modems`` idle modems; watch it for ``idle_s``."""
    tmp = workdir()
    async with (
        emulated_bank(modems) as taps,
        Daemon(tmp / "modemd.db", [t.modem.port for t in taps]) as daemon,
    ):
        await asyncio.sleep(SETTLE_S)
        async with UsageSampler(daemon.pid) as usage:
            await asyncio.sleep(idle_s)
        return {
            "ready_s": round(daemon.ready_s, 2),
            "rss_mb": round(usage.peak_rss_mb, 1),
            "cpu_percent": round(usage.cpu_percent, 2),
        }
