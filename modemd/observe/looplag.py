"""How late the event loop runs, and why: the machine, the loop's own work, or a wait.

A timer asks the loop to wake every ``PROBE_S``; how much later it runs is the loop's lag. For a
late wake-up the loop thread's own scheduler statistics (``/proc/thread-self/schedstat``: time
on a CPU, time waiting for one) split the lateness three ways, in proportion to each:

- ``machine``: the thread was runnable but other processes had the CPUs (load on the host);
- ``computing``: the thread ran Python all along (a long callback on the loop);
- ``blocked``: neither: it waited on the GIL (the store's thread computing) or in a blocking
  call made on the loop.

A send that starts late on an idle modem shows up here first, with its cause.
"""

from __future__ import annotations

import asyncio
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


def attribute(late_s: float, ran_s: float, waited_for_cpu_s: float) -> dict[str, float]:
    """Split ``late_s`` of a wake-up between the causes, in proportion to what the thread did
    meanwhile: ``ran_s`` on a CPU, ``waited_for_cpu_s`` runnable without one, and the sleep
    beyond the planned one (``late_s - ran_s - waited_for_cpu_s`` when positive: the wake-up
    came later than all the thread's running and waiting explain).

    Proportional, not ``machine`` first: on a loaded host the thread waits for a CPU before
    every callback, so its wait often exceeds the delay even when one long callback caused it;
    giving the wait precedence hid that callback. The three shares add up to ``late_s``."""
    if late_s <= 0:
        return dict.fromkeys(CAUSES, 0.0)
    overslept = max(late_s - ran_s - waited_for_cpu_s, 0.0)
    weights = {"machine": waited_for_cpu_s, "computing": ran_s, "blocked": overslept}
    total = sum(weights.values())  # >= late_s > 0
    return {cause: late_s * weight / total for cause, weight in weights.items()}


async def probe(observe: Callable[[float, dict[str, float]], None]) -> None:
    """Forever: ``observe(lag_s, causes)`` after each wake-up (causes empty unless late)."""
    loop = asyncio.get_running_loop()
    before = thread_times()  # one read per wake-up: the last one's is the next one's start
    while True:
        started = loop.time()
        await asyncio.sleep(PROBE_S)
        lag = max(loop.time() - started - PROBE_S, 0.0)
        after = thread_times()
        causes: dict[str, float] = {}
        if lag > LATE_S and before is not None and after is not None:
            causes = attribute(lag, after[0] - before[0], after[1] - before[1])
        observe(lag, causes)
        before = after
