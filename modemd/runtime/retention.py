"""The daemon's side of ``[retention]``: prune finished jobs every hour, a batch at a time."""

from __future__ import annotations

import asyncio
import logging
import time

from modemd.store import retention
from modemd.store.db import Store
from modemd.timefmt import local_iso

log = logging.getLogger(__name__)

RETENTION_SWEEP_S = 3600.0  # retention is counted in days: an hourly sweep is close enough
BATCH_PAUSE_S = 0.05  # between two batches, so that accepts and sends get the writer


async def prune_now(store: Store, days: int, batch: int) -> int:
    """Prune jobs finished more than ``days`` ago, ``batch`` per transaction; how many."""
    cutoff = time.time() - days * 86400
    total = 0
    while True:
        pruned = await store.write(retention.prune_jobs, cutoff, batch)
        total += pruned
        if pruned < batch:
            break
        await asyncio.sleep(BATCH_PAUSE_S)
    if total:
        log.info("retention: %d jobs finished before %s pruned", total, local_iso(cutoff))
    return total


async def prune_forever(store: Store, days: int, batch: int) -> None:
    """``prune_now`` at start and then every RETENTION_SWEEP_S, until cancelled."""
    while True:
        await prune_now(store, days, batch)
        await asyncio.sleep(RETENTION_SWEEP_S)
