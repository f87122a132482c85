"""A stall trace: what the daemon did while its loop stood still, for a benchmark to lay beside
the gaps it measured (``[server] stall_trace``, env ``MODEMD_STALL_TRACE``; off by default).

Spans stamped with ``time.monotonic()`` (CLOCK_MONOTONIC: the same clock in every process of
the host) go to a bounded list and are written as JSON when the daemon stops. Anyone records
with ``recorder()`` (None when off: hot paths test that once and pay nothing more); the loop's
side is recorded here:

- ``gc``: each collection, by generation, with the objects it examined and freed;
- ``loop_late``: a wake-up of a timer every ``PROBE_S`` later than ``LATE_S``, with what the
  loop's thread did meanwhile (on a CPU, waiting for one: the machine);
- ``gc_count``: every ``COUNT_S``, the collector's counts by generation (``gc.get_count()``:
  the young one is net of deaths, so in a steady daemon it grows only as its heap does, and
  a young pass comes when it reaches the threshold);
- ``loop_stack``: while the timer is overdue by ``STALE_S``, a thread samples every thread's
  innermost frames every ``WATCH_S`` (what the loop runs in a stall, or what holds the GIL).
  The watcher looks when it gets the GIL: where the loop made a syscall, or at the
  interpreter's switch interval (5 ms) in a long stretch of Python.

A module of its own (no modemd imports) so that the store's thread can stamp its commits, fsyncs
and checkpoints into the same trace.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

TRACE_ENV = "MODEMD_STALL_TRACE"  # over server.stall_trace: the file written at exit
# kept at most (the oldest dropped): a 0.1 s backlog of 2,000 sends is ~20,000; a span holds
# ~230 bytes, and at 256 x 1 s the store's stamps alone are ~300 a second, so 500,000 was ~115
# MB reached in 28 minutes (README, Round 11: the loop and 256 modems); 100,000 is ~23 MB
SPANS = 100_000
PROBE_S = 0.005  # the loop's timer: ~200 wake-ups a second, each a few microseconds
LATE_S = 0.002  # a wake-up later than this is a span
STALE_S = 0.008  # the timer this overdue: the watcher samples the threads' frames
WATCH_S = 0.005  # how often the watcher looks (it takes the GIL only to look)
FRAMES = 6  # innermost frames kept of each thread's stack
COUNT_S = 1.0  # the collector's counts are stamped this often (a soak reads their trend)


class Recorder:
    """Spans from any thread: ``(kind, thread, start, end, detail)``."""

    def __init__(self, path: Path, limit: int = SPANS) -> None:
        self.path = path
        self.spans: deque[tuple[str, str, float, float, Any]] = deque(maxlen=limit)
        self.loop_seen = time.monotonic()  # the probe's last wake-up
        self._gc_started = 0.0
        self._gc_examined = 0
        self._stopping = False
        self._watcher: threading.Thread | None = None

    def span(self, kind: str, start: float, end: float, detail: Any = None) -> None:
        """One span (a single append: no lock, the GIL orders them)."""
        self.spans.append((kind, threading.current_thread().name, start, end, detail))

    def start(self, loop_thread: threading.Thread) -> None:
        """Time the collector's passes and watch ``loop_thread`` (the probe runs on the loop)."""
        gc.callbacks.append(self._gc_phase)
        self._watcher = threading.Thread(
            target=self._watch, args=(loop_thread,), name="stall watcher", daemon=True
        )
        self._watcher.start()

    def stop(self) -> None:
        """Stop watching and write every span to ``path`` (JSON)."""
        self._stopping = True
        if self._watcher is not None:
            self._watcher.join()
        if self._gc_phase in gc.callbacks:
            gc.callbacks.remove(self._gc_phase)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps({"clock": "monotonic", "spans": list(self.spans)}))
        partial.replace(self.path)

    def _gc_phase(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            generation = info["generation"]
            # what the pass scans: the generations up to its own (the frozen ones aside)
            self._gc_examined = sum(len(gc.get_objects(g)) for g in range(generation + 1))
            self._gc_started = time.monotonic()
            return
        detail = [info["generation"], self._gc_examined, info["collected"]]
        self.span("gc", self._gc_started, time.monotonic(), detail)

    async def probe(self) -> None:
        """Until cancelled, on the loop: wake every ``PROBE_S``; a late wake-up is a span, with
        the loop thread's CPU and its wait for a CPU meanwhile (ms). Each wake-up is a timer's
        callback that sets the next (``_Probe``): no task step and no future a wake-up."""
        loop = asyncio.get_running_loop()
        probe = _Probe(self, loop)
        try:
            await loop.create_future()  # never done: the timers do the work
        finally:
            self.loop_seen = math.inf  # no timer any more: not a stall (the shutdown's steps)
            probe.close()

    def _watch(self, loop_thread: threading.Thread) -> None:
        while not self._stopping:
            time.sleep(watch_wait(self.loop_seen, time.monotonic()))  # not an Event's wait:
            now = time.monotonic()  # a third of the CPU per look
            if now - self.loop_seen - PROBE_S < STALE_S:
                continue
            names = {t.ident: t.name for t in threading.enumerate()}
            me = threading.get_ident()
            stacks = {
                names.get(ident, str(ident)): stack(frame)
                for ident, frame in sys._current_frames().items()
                if ident != me
            }
            self.span("loop_stack", self.loop_seen, now, [loop_thread.name, stacks])


class _Probe:
    """The probe's timer: each wake-up stamps a late one (``loop_late``) and, every
    ``COUNT_S``, the collector's counts, then sets the next."""

    def __init__(self, recorder: Recorder, loop: asyncio.AbstractEventLoop) -> None:
        self.recorder = recorder
        self.loop = loop
        self.fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        self.before = _schedstat(self.fd)
        self.counted = 0.0
        self.due = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self._next()

    def _next(self) -> None:
        self.due = time.monotonic() + PROBE_S
        self.timer = self.loop.call_later(PROBE_S, self._wake)

    def _wake(self) -> None:
        recorder = self.recorder
        recorder.loop_seen = woke = time.monotonic()
        after = _schedstat(self.fd)
        if woke - self.due > LATE_S:
            ran, waited = after[0] - self.before[0], after[1] - self.before[1]
            recorder.span("loop_late", self.due, woke, [_ms(ran), _ms(waited)])
        if woke - self.counted >= COUNT_S:
            self.counted = woke
            recorder.span("gc_count", woke, woke, list(gc.get_count()))
        self.before = after
        self._next()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        os.close(self.fd)


def watch_wait(loop_seen: float, now: float) -> float:
    """The watcher's sleep before its next look: ``WATCH_S`` while the loop's timer is overdue
    by ``STALE_S``, else until it could first be (a look every ~2 of the probe's wake-ups while
    the loop keeps time, not every one: half the watcher's wake-ups, each a context switch and
    a turn of the GIL)."""
    return min(PROBE_S + STALE_S, max(WATCH_S, loop_seen + PROBE_S + STALE_S - now))


def stack(frame: Any) -> list[str]:
    """A thread's innermost ``FRAMES`` frames, innermost first: ``module.function:line``."""
    found: list[str] = []
    while frame is not None and len(found) < FRAMES:
        code = frame.f_code
        found.append(f"{_module(code.co_filename)}.{code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return found


def _module(filename: str) -> str:
    for root in ("/site-packages/", "/modemd/", "/lib/python3"):
        if root in filename:
            tail = filename.rsplit(root, 1)[1]
            if root == "/modemd/":
                tail = "modemd/" + tail
            return tail.removesuffix(".py").replace("/", ".").lstrip("0123456789.")
    return Path(filename).stem


def _schedstat(fd: int) -> tuple[float, float]:
    ran, waited, _ = os.pread(fd, 128, 0).split()
    return int(ran) / 1e9, int(waited) / 1e9


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


_CURRENT: Recorder | None = None


def recorder() -> Recorder | None:
    """The daemon's recorder, or None when no stall trace was asked for."""
    return _CURRENT


def begin(path: str | None) -> Recorder | None:
    """Record from now on (before the store opens, so its thread finds the recorder)."""
    global _CURRENT
    _CURRENT = Recorder(Path(path)) if path else None
    return _CURRENT


def end() -> None:
    """Write the trace (``Recorder.stop``) and record no more."""
    global _CURRENT
    if _CURRENT is not None:
        _CURRENT.stop()
    _CURRENT = None
