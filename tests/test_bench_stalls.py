"""bench.stalls: the daemon's loop turns timed (``bench.traced``), the long ones put in a class
by what took their time; the classes are checked on turns made long on purpose, never timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
LONG = """
import asyncio, time
from bench import traced
traced._install()

def computing():  # the loop's own work
    until = time.thread_time() + 0.03
    while time.thread_time() < until:
        pass

def blocked():  # neither on a CPU nor waiting for one
    time.sleep(0.03)

async def main():
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.01)
    loop.call_soon(computing)
    await asyncio.sleep(0.01)
    loop.call_soon(blocked)
    await asyncio.sleep(0.01)

asyncio.run(main())
traced._dump()
import json
from bench import stalls
print(json.dumps({t["longest"][0][0]: stalls.parts(t) for t in traced.TURNS.slow}))
"""
BACKLOG = """
import json, pathlib, sys
from bench import backlog, harness, loops, stalls
harness.DAEMON_MODULE = "bench.traced"
loops.run(backlog.run(2, 0.05, 3))
dumps = [json.loads(p.read_text()) for p in pathlib.Path(sys.argv[1]).glob("*.json")]
(dump,) = [d for d in dumps if "--device" in d["argv"]]  # not the daemon that queued them
summary = stalls.summary(dump)
over = sum(1 for t in dump["slow"] if t["wall_ms"] >= stalls.STALL_MS)
before = summary["over_10ms_before_the_first_send"]
print(json.dumps([dump["turns"], summary["over_10ms"], before, over, dump["first_send"]]))
"""


def _dumps(out: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in out.glob("*.json")]


def test_a_long_turn_is_kept_with_its_callbacks_and_classed_by_what_took_it(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "STALLS_OUT": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", LONG], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    split = json.loads(done.stdout.splitlines()[-1])
    (dump,) = _dumps(tmp_path)  # written at exit too: the same file
    # Each turn's own cause holds its 30 ms (on a busy machine both also wait for a CPU)
    assert split["computing"]["computing"] >= 25 and split["computing"]["gil"] < 10
    assert split["blocked"]["gil"] >= 25 and split["blocked"]["computing"] < 10
    assert dump["turns"] >= 4 and sum(dump["histogram_ms"].values()) == dump["turns"]


def test_a_gc_pass_in_a_turn_classes_it() -> None:
    check = (
        "from bench.stalls import classify; "
        "t = dict(wall_ms=40.0, cpu_ms=35.0, cpu_wait_ms=2.0, gc_ms=[[2, 30.0]]); "
        "print(classify(t)); t['gc_ms'] = []; print(classify(t)); "
        "t['cpu_wait_ms'], t['cpu_ms'] = 30.0, 5.0; print(classify(t))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["gc", "computing", "machine"]


def test_the_daemon_s_turns_are_timed_from_before_its_first_send(tmp_path: Path) -> None:
    env = {**os.environ, "MODEMD_CONFIG": "", "STALLS_OUT": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", BACKLOG, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    turns, sending, before, over, first_send = json.loads(done.stdout.splitlines()[-1])
    assert turns > 0 and sending + before == over
    assert first_send > 0  # the first AT+CMGS= was seen: the turns after it are the sends'
