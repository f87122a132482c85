"""bench.instructions, bench.driver_instructions and bench.ipn_post_instructions: counts read
from callgrind's files, and a few sends of the driver and posts of the IPN sender counted under
valgrind for real; nothing is timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def test_the_counted_daemons_threads_are_read_and_the_others_left_out(tmp_path: Path) -> None:
    def write(name: str, total: int) -> None:
        text = f"events: Ir\nsummary: 1\n\nfn=x\n1 {total}\ntotals: {total}\n"
        (tmp_path / name).write_text(text)

    write("callgrind.out.100-01", 0)  # the loader: never counted
    write("callgrind.out.200-01", 7_000)
    write("callgrind.out.200-02", 5_000)
    write("callgrind.out.200", 0)  # the file without a thread number
    check = (
        "import json, sys; from bench.instructions import thread_counts; "
        "print(json.dumps(thread_counts(sys.argv[1])))"
    )
    assert json.loads(_python(check, str(tmp_path))) == {"thread 01": 7_000, "thread 02": 5_000}


def test_a_traced_runs_spans_are_given_per_send_and_an_untraced_run_has_none() -> None:
    window = {"stall_window": {"spans": {"store_queued": 30, "loop_late": 4}}}
    check = (
        "import json, sys; from bench.instructions import _spans_per_send as per; "
        "w = json.loads(sys.argv[1]); print(json.dumps([per(w, 40), per({}, 40)]))"
    )
    assert json.loads(_python(check, json.dumps(window))) == [
        {"store_queued": 0.75, "loop_late": 0.1},
        {},
    ]


def _python(check: str, *args: str) -> str:
    """What ``python -c check *args`` printed, in the checkout (the benchmark's package)."""
    done = subprocess.run(
        [sys.executable, "-c", check, *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def count(module: str, *args: str) -> dict[str, Any]:
    """What ``python -m module *args`` printed (its JSON), run for real."""
    env = {**os.environ, "MODEMD_CONFIG": ""}
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_a_few_sends_of_the_driver_are_counted_under_callgrind() -> None:
    counted = count("bench.driver_instructions", "--sends", "4", "--warm", "1")
    assert counted["sends"] == 4
    # the reports of the sends before the last, each read at a send's end and handed on
    assert counted["reports_handed_on"] >= 3
    # a send is some hundred thousand instructions (the interpreter's): counted, not zero
    assert counted["instructions_per_send"] > 50_000


def test_a_few_posts_of_the_ipn_sender_are_counted_under_callgrind() -> None:
    args = ("--posts", "6", "--concurrent", "3", "--warm", "3")
    counted = count("bench.ipn_post_instructions", *args)
    assert counted["posts"] == 6 and counted["concurrent"] == 3
    assert counted["answered_2xx"] == 6  # each counted post reached the receiver and was taken
    # a post is some hundred thousand instructions (aiohttp's client): counted, not zero
    assert counted["instructions_per_post"] > 50_000
