"""Event ids (``evt_`` + 24 hex) without a draw from the kernel's random source per id.

An id is a prefix drawn once per process from ``secrets`` (64 bits), then a counter (32 bits)
under it. Unique within a process: the counter never repeats under one prefix (past 2**32 a
new prefix is drawn; a forked child draws its own, so parent and child never share one).
Unique across restarts and hosts sharing a database: two processes collide only when their
prefixes do, 2**-64 for a pair, about 3e-8 after a million starts (and ``events.event_id`` is
UNIQUE: such a collision fails the write, it never merges two events). Not a secret: an event
id names an event to its own key's receiver and to that key's replay route; guessing the next
one of a process grants nothing. The length is that of the 12 random bytes it replaces.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading

_COUNTER_LIMIT = 1 << 32  # 8 hex digits


class _EventIds:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._draw()

    def _draw(self) -> None:
        self._state = (f"evt_{secrets.token_hex(8)}", itertools.count())

    def next(self) -> str:
        prefix, counter = self._state  # one tuple: a thread never mixes two draws
        n = next(counter)  # atomic under the GIL
        if n >= _COUNTER_LIMIT:
            with self._lock:
                if self._state[1] is counter:
                    self._draw()
            return self.next()
        return f"{prefix}{n:08x}"


_IDS = _EventIds()
os.register_at_fork(after_in_child=_IDS._draw)


def new_event_id() -> str:
    """A fresh event id (see the module's docstring for why it is unique)."""
    return _IDS.next()
