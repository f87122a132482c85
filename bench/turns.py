"""When this process's loop began the reads of its current turn.

The emulated modems run on the benchmark's loop, and a tap stamps what a modem read in that
read's callback; before it, the same turn may have served dozens of other modems (or lost the
CPU to another process meanwhile). Everything read in a turn was readable when the loop's wait
for I/O (epoll) returned, before that turn's first read callback ran: so that callback's time
is a truer stamp of the bytes' arrival, and never earlier than it (a gap timed to it is never
shorter than the real one). It also holds for data a read finds after the wait returned: with
one command in flight the daemon writes to a modem only once it has read the modem's answer to
the command before, so a modem's port is readable for one command at a time.

A turn ends at the callbacks scheduled during it (``call_soon``), which every loop runs after
that turn's I/O callbacks (asyncio: at the start of the next turn; uvloop: after its poll)."""

from __future__ import annotations

import asyncio
import time


class TurnStart:
    """Shared by the taps of one bank: the time of the current turn's first read."""

    def __init__(self) -> None:
        self._at: float | None = None

    def now(self) -> float:
        """The first read's time of this turn (this one's, when it is the first)."""
        if self._at is None:
            self._at = time.time()
            asyncio.get_running_loop().call_soon(self._over)
        return self._at

    def _over(self) -> None:
        self._at = None
