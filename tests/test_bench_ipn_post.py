"""bench.ipn_post_instructions: a few IPN posts counted under valgrind for real; nothing is
timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_a_few_posts_of_the_sender_are_counted_under_callgrind() -> None:
    env = {**os.environ, "MODEMD_CONFIG": ""}
    args = ("--posts", "6", "--concurrent", "3", "--warm", "3")
    done = subprocess.run(
        [sys.executable, "-m", "bench.ipn_post_instructions", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counted = json.loads(done.stdout)
    assert counted["posts"] == 6 and counted["concurrent"] == 3
    assert counted["answered_2xx"] == 6  # each counted post reached the receiver and was taken
    # a post is some hundred thousand instructions (aiohttp's client): counted, not zero
    assert counted["instructions_per_post"] > 50_000
