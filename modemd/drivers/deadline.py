"""One timer per port for the wait in progress, instead of a timer made and cancelled per
command (``asyncio.timeout``): at hundreds of commands a second a bank's loop spent more on
cancelled ``TimerHandle``s than on the commands.

``arm`` sets the deadline of the wait in progress; ``disarm`` ends it without touching the
timer. The timer stays armed at the earliest deadline it was given: when it fires for a wait
that is over it does nothing; when it fires early for a later deadline it re-arms itself once;
only a new deadline earlier than the armed timer replaces it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Deadline:
    """The deadline of one port's current wait; ``on_expired`` runs when it passes."""

    def __init__(self, on_expired: Callable[[], None]) -> None:
        self._on_expired = on_expired
        self._at: float | None = None  # the wait in progress ends in failure then
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = 0.0  # when the armed timer fires

    def arm(self, timeout_s: float) -> None:
        """The wait starting now fails ``timeout_s`` from now unless disarmed first."""
        loop = asyncio.get_running_loop()
        at = loop.time() + timeout_s
        self._at = at
        if self._handle is not None:
            if self._handle_at <= at:
                return  # fires first, then re-arms for ``at``
            self._handle.cancel()
        self._schedule(loop, at)

    def disarm(self) -> None:
        """The wait ended in time (the timer stays, for the next one)."""
        self._at = None

    def cancel(self) -> None:
        """No more waits (the port closed): drop the timer."""
        self._at = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        self._handle = loop.call_at(at, self._fire)
        self._handle_at = at

    def _fire(self) -> None:
        fired_at, self._handle = self._handle_at, None
        if self._at is None:
            return
        if self._at <= fired_at:
            self._at = None
            self._on_expired()
        else:
            self._schedule(asyncio.get_running_loop(), self._at)
