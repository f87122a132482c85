"""bench.loopcount: a small backlog drained by the daemon under ``bench.counted`` (asyncio's loop
with counters), counted in the daemon's own process; nothing is timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHECK = """
import asyncio, json
from bench import backlog, harness, loopcount
harness.DAEMON_MODULE = "bench.counted"
print(json.dumps(asyncio.run(loopcount.counts(backlog.run(2, 0.05, 3)))))
"""


def test_the_daemon_counts_what_each_send_does() -> None:
    env = {**os.environ, "MODEMD_CONFIG": ""}
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.splitlines()[-1])
    assert counts["store queue_write: record_sent_and_claim"] == 6  # one record per send
    assert counts["log record: modemd.runtime.outcome INFO"] >= 6  # "job ... sent by ..."
    assert counts["port writes"] >= 2 * 6  # AT+CMGS= and the PDU of each send, at least
    assert counts["loop turns"] > 0 and counts["callbacks (call_soon)"] > 0
    # a send's record is the store write's callbacks, no task (runtime.followup._Record)
    assert not [key for key in counts if key.startswith("task:") and "record" in key.lower()]


def test_per_send_is_the_growth_between_two_runs() -> None:
    check = (
        "import json; from collections import Counter; from bench.loopcount import per_send; "
        "short = Counter(turns=100, tasks=10, gone=1); long = Counter(turns=300, tasks=50, new=4); "
        "print(json.dumps(list(per_send(short, long, 20).items())))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    grown = json.loads(done.stdout)
    assert grown == [["turns", 10.0], ["tasks", 2.0], ["new", 0.2], ["gone", -0.05]]
