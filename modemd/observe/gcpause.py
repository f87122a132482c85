"""Garbage-collector passes, timed: a collection holds the GIL, so neither the event loop nor
the store's thread runs meanwhile, and a long one shows as a gap between two sends.

Timed from ``gc.callbacks`` (start and stop of each collection, in the thread that triggered
it). The callback only adds to plain numbers: it runs inside the collector, where taking a lock
that the interrupted code may hold (a metric's) could deadlock; the metrics read them at each
scrape."""

from __future__ import annotations

import gc
import time
from typing import Any

GENERATIONS = ("0", "1", "2")


class GcPauses:
    """Seconds spent collecting and passes, by generation, and the longest single pass, since
    install (the passes count as the machine's load does not: a threshold is judged on both)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]  # by generation
        self.passes = [0, 0, 0]  # by generation
        self.longest_s = 0.0
        self._started = 0.0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def remove(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
            return
        took = now - self._started
        self.seconds[info["generation"]] += took
        self.passes[info["generation"]] += 1
        if took > self.longest_s:
            self.longest_s = took
