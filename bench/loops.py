"""The event loop a benchmark process runs on: the daemon's (uvloop unless
``MODEMD_EVENT_LOOP=asyncio``).

The emulated modems of bench/ share this process's loop with the taps that stamp their lines:
on asyncio's own loop they took 0.34-0.36 ms of CPU per send at 64 x 0.1 s, on uvloop
0.30-0.31 (``bench.emulator_alone``, README "Round 5: at the modem").
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from modemd.serving import EVENT_LOOP_ENV, loop_factory

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the daemon's choice of loop."""
    with asyncio.Runner(loop_factory=loop_factory(os.environ.get(EVENT_LOOP_ENV) or "uvloop")) as r:
        return r.run(main)
