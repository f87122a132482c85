"""How much CPU and memory a process (and each of its threads) uses, from /proc."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TICKS_S = os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds so far of ``pid``'s main thread (the daemon's event loop) and of all its
    other threads together (the store's thread, executors), from /proc/PID/task."""
    main = others = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        cpu = (int(fields[11]) + int(fields[12])) / TICKS_S
        if task.name == str(pid):
            main += cpu
        else:
            others += cpu
    return main, others


@dataclass(frozen=True)
class Usage:
    """One process's resident memory and CPU seconds at one moment."""

    rss_mb: float
    cpu_s: float
    at: float

    @classmethod
    def of(cls, pid: int) -> Usage:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS_S  # utime + stime
        return cls(int(statm[1]) * PAGE_KB / 1024, cpu, time.perf_counter())

    def cpu_percent_since(self, earlier: Usage) -> float:
        """Average CPU use between ``earlier`` and this sample (100 = one core)."""
        return 100 * (self.cpu_s - earlier.cpu_s) / max(self.at - earlier.at, 1e-9)


class Sampler:
    """Calls ``_sample`` every ``every_s`` while in use, and once more at the end."""

    every_s = 0.25

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="usage sampler")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._sample()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            self._sample()

    def _sample(self) -> None:
        raise NotImplementedError


class UsageSampler(Sampler):
    """Samples a process while running; keeps the peak RSS, and the RSS about every
    ``series_s`` (a long run's growth)."""

    series_s = 10.0

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.first = Usage.of(pid)
        self.last = self.first
        self.peak_rss_mb = self.first.rss_mb
        self.rss_series = [self.first]

    def _sample(self) -> None:
        self.last = Usage.of(self.pid)
        self.peak_rss_mb = max(self.peak_rss_mb, self.last.rss_mb)
        if self.last.at - self.rss_series[-1].at >= self.series_s:
            self.rss_series.append(self.last)

    def rss_mb_over_time(self) -> list[list[float]]:
        """(seconds since the first sample, RSS in MB), about every ``series_s``, and the last."""
        kept = self.rss_series + ([self.last] if self.last is not self.rss_series[-1] else [])
        return [[round(u.at - self.first.at, 2), round(u.rss_mb, 1)] for u in kept]

    @property
    def cpu_percent(self) -> float:
        return self.last.cpu_percent_since(self.first)

    @property
    def cpu_s(self) -> float:
        """CPU seconds the process used while sampled (load on the machine barely moves it)."""
        return self.last.cpu_s - self.first.cpu_s
