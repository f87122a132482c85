"""What the time-driven loops (feeder, scheduler, campaign progress, conversations) sleep on:
they wake when work is made (``ring``, called by whoever committed it) or when the earliest
time they know of comes (a ``send_at``, a slot, a ``valid_until``), never on a fixed tick."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# A sleeping loop looks again after this long even if nothing rang: the wall clock may have
# jumped (NTP, a suspended VM) under a deadline computed before, and another process may have
# written work without ringing (`modemd` CLI commands on the same database file).
SAFETY_WAKE_S = 60.0

Clock = Callable[[], float]


class Alarm:
    """One loop's wake-up: ``ring`` from anywhere on the loop, ``sleep`` in the loop."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._rung = asyncio.Event()
        # The deadline of the current (or last) sleep (None: none but ``SAFETY_WAKE_S``), and
        # how many sleeps began: what the loop is waiting for, for whoever looks.
        self.sleeping_until: float | None = None
        self.sleeps = 0

    def ring(self) -> None:
        self._rung.set()

    def take(self) -> None:
        """Call before looking for work: a ring from then on wakes the next ``sleep``."""
        self._rung.clear()

    async def sleep(self, until: float | None) -> None:
        """Until rung, or until ``until`` on the clock (None: no deadline), or at most
        ``SAFETY_WAKE_S``."""
        self.sleeping_until, self.sleeps = until, self.sleeps + 1
        delay = SAFETY_WAKE_S if until is None else min(until - self.clock(), SAFETY_WAKE_S)
        if delay <= 0:
            await asyncio.sleep(0)  # due already: let others run, then go
            return
        try:
            async with asyncio.timeout(delay):
                await self._rung.wait()
        except TimeoutError:
            pass


def earliest(*times: float | None) -> float | None:
    """The first of the times given (None: no time)."""
    known = [t for t in times if t is not None]
    return min(known) if known else None
