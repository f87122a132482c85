"""bench.peers' CPU per message: every thread of a peer's processes counts, in nanoseconds (the
10 ms clock ticks of utime + stime moved the row's column in steps of 0.167 ms a message). Run
in a subprocess with the checkout as its directory, as the other bench tests; CPU seconds are
counted by the kernel, nothing is timed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
BURN_S = 0.05  # CPU seconds another thread of the process uses, by its own thread clock
CHECK = f"""
import json, os, threading, time
from bench.peers import group_usage

def burn(held):
    start = time.thread_time()
    while time.thread_time() - start < {BURN_S}:
        pass
    burnt.set()
    held.wait()

before = group_usage([os.getpid()])
burnt, held = threading.Event(), threading.Event()
worker = threading.Thread(target=burn, args=(held,))
worker.start()
burnt.wait()
after = group_usage([os.getpid()])
held.set()
worker.join()
gone = group_usage([2 ** 22 + 1])  # above the kernel's largest pid: no such process
print(json.dumps({{"used": after.cpu_s - before.cpu_s, "pss": after.pss_mb,
                  "gone": [gone.cpu_s, gone.pss_mb]}}))
"""


def test_a_process_cpu_counts_its_other_threads_finer_than_a_clock_tick() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    assert got["used"] >= BURN_S  # the other thread's CPU is in (and the main thread's wait)
    assert round(got["used"] * 1e9) % 10_000_000 != 0  # not a count of whole 10 ms ticks
    assert got["pss"] > 0
    assert got["gone"] == [0.0, 0.0]  # a process that ended counts as nothing
