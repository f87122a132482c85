"""``python -m bench.traced serve ...``: ``modemd serve`` on asyncio's own loop, each turn timed.

A turn runs from the loop's wait for I/O returning to its next wait. For every turn this
records its wall time, the loop thread's CPU in it (``time.thread_time``), the loop thread's
wait for a CPU (its ``schedstat`` run delay: the machine), the CPU the other threads used
meanwhile (the store's thread: while it runs Python the loop waits for the GIL), the garbage
collections in it, and each callback's wall and CPU time. A turn longer than ``SLOW_S`` is kept
whole, with its callbacks by name; the shorter ones only in a histogram. At exit all of it goes
to ``$STALLS_OUT/<pid>.json`` (``bench.stalls`` reads it).

asyncio's loop, not uvloop: its turns and callbacks can be timed from Python; the futures,
tasks and callbacks it runs are the same ones uvloop runs (``bench.counted``).
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import os
import runpy
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.counted import _called

OUT_ENV = "STALLS_OUT"  # the directory the turns are written to
SLOW_S = 0.005  # turns longer than this are kept whole
SHOWN = 12  # a slow turn keeps its this many longest callbacks, and a count of the others
BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100)  # the histogram of all turns' wall times


def _schedstat(fd: int) -> tuple[float, float]:
    """A thread's seconds on a CPU and runnable without one, from its open ``schedstat``."""
    ran, waited, _ = os.pread(fd, 128, 0).split()
    return int(ran) / 1e9, int(waited) / 1e9


class _Others:
    """The CPU of this process's threads but the loop's (the store's), read from ``/proc``."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def cpu_s(self) -> float:
        main = str(os.getpid())
        total = 0.0
        for tid in os.listdir("/proc/self/task"):
            if tid == main:
                continue
            fd = self._fds.get(tid)
            if fd is None:
                try:
                    fd = self._fds[tid] = os.open(f"/proc/self/task/{tid}/schedstat", os.O_RDONLY)
                except OSError:
                    continue
            try:
                total += _schedstat(fd)[0]
            except (OSError, ValueError):
                continue
        return total


class Turns:
    """Every turn of the loop, timed; the slow ones kept with what ran in them."""

    def __init__(self) -> None:
        self.histogram: Counter[str] = Counter()
        self.slow: list[dict[str, Any]] = []
        self.turns = 0
        self.total_s = 0.0
        self._own = os.open("/proc/thread-self/schedstat", os.O_RDONLY)  # the loop's thread
        self._others = _Others()
        self._began = 0.0
        self._cpu = self._waited = self._other_cpu = 0.0
        self._callbacks: list[tuple[float, float, Any]] = []  # (wall, cpu, callback)
        self._gc: list[tuple[int, float]] = []  # (generation, seconds)
        self._gc_started = 0.0
        self._open = False
        self.first_send = 0.0  # when the first AT+CMGS= was written (a backlog's start)

    def begin(self) -> None:
        """The wait for I/O returned: a turn begins."""
        self._began = time.perf_counter()
        self._cpu = time.thread_time()
        self._waited = _schedstat(self._own)[1]
        self._other_cpu = self._others.cpu_s()
        self._callbacks = []
        self._gc = []
        self._open = True

    def end(self) -> None:
        """The loop is about to wait for I/O: the turn ends."""
        if not self._open:
            return
        self._open = False
        wall = time.perf_counter() - self._began
        self.turns += 1
        self.total_s += wall
        self.histogram[_bucket(wall)] += 1
        if wall < SLOW_S:
            return
        cpu = time.thread_time() - self._cpu
        waited = _schedstat(self._own)[1]
        calls = sorted(self._callbacks, key=lambda c: -c[0])
        self.slow.append(
            {
                "at": time.time() - wall,
                "sending": bool(self.first_send),  # after the first AT+CMGS=
                "wall_ms": _ms(wall),
                "cpu_ms": _ms(cpu),
                "cpu_wait_ms": _ms(waited - self._waited),  # runnable, no CPU: the machine
                "others_cpu_ms": _ms(self._others.cpu_s() - self._other_cpu),  # the store's
                "gc_ms": [(g, _ms(s)) for g, s in self._gc],
                "callbacks": len(self._callbacks),
                "callbacks_ms": _ms(sum(c[0] for c in self._callbacks)),
                "longest": [(_called(cb), _ms(w), _ms(c)) for w, c, cb in calls[:SHOWN]],
            }
        )

    def ran(self, wall: float, cpu: float, callback: Any) -> None:
        if self._open:
            self._callbacks.append((wall, cpu, callback))

    def gc_phase(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_started = now
        elif self._open:
            self._gc.append((info["generation"], now - self._gc_started))

    def dump(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "turns_s": round(self.total_s, 3),
            "first_send": self.first_send,
            "histogram_ms": {k: self.histogram[k] for k in _labels() if self.histogram[k]},
            "slow": self.slow,
        }


TURNS: Turns | None = None


def _bucket(wall_s: float) -> str:
    for edge in BUCKETS_MS:
        if wall_s * 1000 < edge:
            return f"<{edge}"
    return f">={BUCKETS_MS[-1]}"


def _labels() -> list[str]:
    return [f"<{edge}" for edge in BUCKETS_MS] + [f">={BUCKETS_MS[-1]}"]


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


class TracingLoop(asyncio.SelectorEventLoop):
    """asyncio's loop with its turns timed (``Turns``)."""

    def __init__(self) -> None:
        super().__init__()
        global TURNS
        TURNS = turns = Turns()
        select = self._selector.select  # type: ignore[attr-defined]

        def timed_select(timeout: float | None = None) -> Any:
            turns.end()
            events = select(timeout)
            turns.begin()
            return events

        self._selector.select = timed_select  # type: ignore[attr-defined]
        gc.callbacks.append(turns.gc_phase)


class _Policy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = TracingLoop


def _install() -> None:
    asyncio.set_event_loop_policy(_Policy())
    os.environ["MODEMD_EVENT_LOOP"] = "asyncio"  # the loop made by the policy above
    run = asyncio.events.Handle._run

    def timed(handle: asyncio.Handle) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        run(handle)
        if TURNS is not None:
            TURNS.ran(time.perf_counter() - wall, time.thread_time() - cpu, handle._callback)  # type: ignore[attr-defined]

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    from modemd.drivers import tty

    write_rest = tty.write_rest

    def write(fd: int, data: bytes, timeout_s: float) -> None:
        if TURNS is not None and not TURNS.first_send and data.startswith(b"AT+CMGS="):
            TURNS.first_send = time.time()
        write_rest(fd, data, timeout_s)

    tty.write_rest = write  # type: ignore[assignment]
    atexit.register(_dump)


def _dump() -> None:
    if TURNS is None:
        return
    path = Path(os.environ[OUT_ENV]) / f"{os.getpid()}.json"
    path.write_text(json.dumps({"argv": sys.argv[1:], **TURNS.dump()}))


if __name__ == "__main__":
    _install()
    sys.argv[0] = "modemd"
    runpy.run_module("modemd", run_name="__main__", alter_sys=True)
