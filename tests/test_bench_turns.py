"""bench.turns: the taps of one bank stamp what they read in one turn of the loop at that
turn's first read, and a later turn anew; on asyncio's loop and on uvloop (the benchmark's).
Nothing is timed: the stamps are compared with each other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
CHECK = """
import asyncio, json, sys, time
import uvloop
from bench.turns import TurnStart

async def main():
    turn = TurnStart()
    first = turn.now()
    time.sleep(0.002)  # a later read of the same turn
    same = turn.now()
    await asyncio.sleep(0)  # the next turn
    after = turn.now()
    return {"same": same == first, "later": after > first}

factory = uvloop.new_event_loop if sys.argv[1] == "uvloop" else asyncio.new_event_loop
with asyncio.Runner(loop_factory=factory) as runner:
    print(json.dumps(runner.run(main())))
"""


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_turns_reads_share_its_first_reads_time(loop: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, loop], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == {"same": True, "later": True}
