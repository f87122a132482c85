"""``python -m bench.counted serve ...``: ``modemd serve`` on asyncio's own loop, counting.

What it counts, for ``bench.loopcount``: the loop's turns and the callbacks, timers, futures and
tasks (by coroutine) scheduled on it; the store's round trips (by function); the writes to and
reads from the modems' ports; log records built (by logger and level); metric updates. At exit
the counts go to ``$LOOPCOUNT_OUT/<pid>.json``. asyncio's loop, not uvloop: its methods can be
counted from Python, and the futures, tasks and their callbacks are the same on both.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import runpy
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

OUT_ENV = "LOOPCOUNT_OUT"  # the directory the counts are written to
COUNTS: Counter[str] = Counter()
_write_rest: Callable[[int, bytes, float], None]  # the driver's, wrapped by _PortTurns


class CountingLoop(asyncio.SelectorEventLoop):
    """asyncio's loop, counting what is scheduled on it (``call_at`` counts every timer)."""

    turns = 0

    def _run_once(self) -> None:
        COUNTS["loop turns"] += 1
        CountingLoop.turns += 1
        super()._run_once()  # type: ignore[misc]

    def call_soon(self, callback: Any, *args: Any, **kwargs: Any) -> asyncio.Handle:
        COUNTS["callbacks (call_soon)"] += 1
        COUNTS[f"callback: {_called(callback)}"] += 1
        return super().call_soon(callback, *args, **kwargs)

    def call_soon_threadsafe(self, *args: Any, **kwargs: Any) -> asyncio.Handle:
        COUNTS["from other threads (call_soon_threadsafe)"] += 1
        return super().call_soon_threadsafe(*args, **kwargs)

    def call_at(self, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        COUNTS["timers (call_at, call_later)"] += 1
        return super().call_at(*args, **kwargs)

    def create_future(self) -> asyncio.Future[Any]:
        COUNTS["futures (create_future)"] += 1
        caller = sys._getframe(1).f_code
        COUNTS[f"future: {caller.co_filename.rpartition('/')[2]}:{caller.co_qualname}"] += 1
        return super().create_future()

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:  # type: ignore[override]
        COUNTS["tasks"] += 1
        COUNTS[f"task: {getattr(coro, '__qualname__', type(coro).__name__)}"] += 1
        return super().create_task(coro, **kwargs)


def _called(callback: Any) -> str:
    """A callback's name; a task's step or wake-up by the coroutine it runs."""
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"step of {getattr(owner.get_coro(), '__qualname__', '?')}"
    return str(getattr(callback, "__qualname__", type(callback).__name__))


class _Policy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = CountingLoop


def _counted(owner: Any, name: str, key: Callable[[tuple[Any, ...]], str]) -> None:
    """Count each call of ``owner.name`` under ``key(args)``."""
    original = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        COUNTS[key(args)] += 1
        return original(*args, **kwargs)

    setattr(owner, name, counting)


class _PortTurns:
    """Per port, the loop turns and port writes from reading a send's ``+CMGS:`` to writing
    the next ``AT+CMGS=`` (bench.loopcount: what lies between two sends of a backlog)."""

    def __init__(self) -> None:
        self.ended: dict[int, tuple[int, int]] = {}  # fd: (turn, writes) at the +CMGS read
        self.writes: Counter[int] = Counter()

    def read(self, fd: int, size: int) -> bytes:
        data = os.read(fd, size)
        if b"+CMGS:" in data:
            self.ended[fd] = (CountingLoop.turns, self.writes[fd])
        return data

    def write(self, fd: int, data: bytes, timeout_s: float) -> None:
        if data.startswith(b"AT+CMGS=") and (ended := self.ended.pop(fd, None)) is not None:
            turns, writes = CountingLoop.turns - ended[0], self.writes[fd] - ended[1]
            COUNTS[f"between sends: {min(turns, 9)} loop turns"] += 1
            COUNTS[f"between sends: {min(writes, 9)} port writes"] += 1
            # with a command between, the turns include the modem's answer (and the loop's
            # turns for the others meanwhile); with none, they are the daemon's alone
            COUNTS[f"between sends, {min(writes, 2)} writes: {min(turns, 9)} loop turns"] += 1
        self.writes[fd] += 1
        COUNTS["port writes"] += 1
        _write_rest(fd, data, timeout_s)


class _Os:
    """``os`` for the driver's port, reads seen by ``_PortTurns``."""

    def __init__(self, turns: _PortTurns) -> None:
        self.read = turns.read

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def _install() -> None:
    from prometheus_client import values

    from modemd.drivers import tty
    from modemd.store.db import Store

    asyncio.set_event_loop_policy(_Policy())
    os.environ["MODEMD_EVENT_LOOP"] = "asyncio"  # the loop made by the policy above
    for method in ("queue_write", "read"):  # ``write`` is ``queue_write``
        _counted(Store, method, lambda a, m=method: f"store {m}: {a[1].__name__}")
    global _write_rest
    _write_rest = tty.write_rest
    turns = _PortTurns()
    tty.write_rest = turns.write  # type: ignore[assignment]
    tty.os = _Os(turns)  # type: ignore[assignment]
    _counted(tty.PortIo, "_on_readable", lambda _: "port reads")
    for method in ("inc", "set"):
        _counted(values.MutexValue, method, lambda _: "metric updates")
    build = logging.getLogRecordFactory()

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made = build(*args, **kwargs)
        COUNTS[f"log record: {made.name} {made.levelname}"] += 1
        return made

    logging.setLogRecordFactory(record)
    atexit.register(_dump)


def _dump() -> None:
    path = os.path.join(os.environ[OUT_ENV], f"{os.getpid()}.json")
    with open(path, "w") as f:
        json.dump({"argv": sys.argv[1:], "counts": dict(COUNTS)}, f)


if __name__ == "__main__":
    _install()
    sys.argv[0] = "modemd"
    runpy.run_module("modemd", run_name="__main__", alter_sys=True)
