"""How late the event loop runs, and why: the machine, the loop's own work, or a wait.

A timer asks the loop to wake every ``PROBE_S``; how much later it runs is the loop's lag. For a
late wake-up the loop thread's own scheduler statistics (``/proc/thread-self/schedstat``: time
on a CPU, time waiting for one) split the lateness three ways:

- ``machine``: the thread was runnable but other processes had the CPUs (load on the host);
- ``computing``: the thread ran Python all along (a long callback on the loop);
- ``blocked``: neither: it waited on the GIL (the store's thread computing) or in a blocking
  call made on the loop.

A send that starts late on an idle modem shows up here first, with its cause.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

PROBE_S = 1.0  # one wake-up a second (each costs ~0.3 ms of CPU): stalls are sampled, not all seen
LATE_S = 0.01  # a wake-up later than this is attributed to a cause
SCHEDSTAT = Path("/proc/thread-self/schedstat")  # run ns, wait-for-a-CPU ns, timeslices
CAUSES = ("machine", "computing", "blocked")


def thread_times() -> tuple[float, float] | None:
    """This thread's seconds on a CPU and waiting for one, or None where Linux does not say."""
    try:
        running_ns, waiting_ns, _ = SCHEDSTAT.read_text().split()
    except (OSError, ValueError):
        return None
    return int(running_ns) / 1e9, int(waiting_ns) / 1e9


def attribute(
    late_s: float, ran_s: float, waited_for_cpu_s: float, interval_s: float
) -> dict[str, float]:
    """Split ``late_s`` of a wake-up between the causes, from what the thread did meanwhile.

    The interval held ``interval_s`` of wall time; the thread ran ``ran_s`` and waited for a
    CPU ``waited_for_cpu_s`` of it; the rest it was asleep, of which the planned sleep was
    ``interval_s - late_s``: what remains of the sleep beyond that was blocking."""
    machine = min(late_s, waited_for_cpu_s)
    computing = min(late_s - machine, ran_s)
    asleep = max(interval_s - ran_s - waited_for_cpu_s, 0.0)
    blocked = min(late_s - machine - computing, max(asleep - (interval_s - late_s), 0.0))
    return {"machine": machine, "computing": computing, "blocked": blocked}


async def probe(observe: Callable[[float, dict[str, float]], None]) -> None:
    """Forever: ``observe(lag_s, causes)`` after each wake-up (causes empty unless late)."""
    loop = asyncio.get_running_loop()
    before = thread_times()  # one read per wake-up: the last one's is the next one's start
    while True:
        started, wall = loop.time(), time.perf_counter()
        await asyncio.sleep(PROBE_S)
        interval = time.perf_counter() - wall
        lag = max(loop.time() - started - PROBE_S, 0.0)
        after = thread_times()
        causes: dict[str, float] = {}
        if lag > LATE_S and before is not None and after is not None:
            causes = attribute(lag, after[0] - before[0], after[1] - before[1], interval)
        observe(lag, causes)
        before = after
