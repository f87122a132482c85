"""What stops the daemon's loop: every turn timed, and the long ones taken apart.

One backlog like ``bench.backlog`` with the daemon run by ``bench.traced`` (asyncio's loop,
each turn and callback timed). A turn over 10 ms once the first ``AT+CMGS=`` was written
(issue 21: the largest gap between two sends <= 10 ms) is put in one class by the largest part
of its wall time:

- ``machine``: the loop's thread was runnable but had no CPU (other processes);
- ``gc``: a garbage collection ran in it;
- ``gil``: neither on a CPU nor waiting for one: the GIL (the store's thread ran meanwhile,
  its CPU is shown) or a blocking call;
- ``computing``: the loop's own work, with the callbacks that took it, summed by name.

    .venv/bin/python -m bench.stalls --modems 64 --latency 0.1 --rounds 30 [--spread 0.333]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench import backlog, harness, loops, traced

STALL_MS = 10.0  # issue 21's largest gap
WORST = 5  # the longest turns, shown whole
EXAMPLES = 3  # the longest turns of each class
EXAMPLE_CALLBACKS = 4  # ... each with its longest callbacks
BY_NAME = 15  # callbacks in stalls, summed by name, this many shown


def parts(turn: dict[str, Any]) -> dict[str, float]:
    """A slow turn's wall time in ms, split by cause (module docstring)."""
    gc_ms = sum(ms for _g, ms in turn["gc_ms"])
    return {
        "machine": turn["cpu_wait_ms"],
        "gc": gc_ms,
        "gil": max(turn["wall_ms"] - turn["cpu_ms"] - turn["cpu_wait_ms"], 0.0),
        "computing": turn["cpu_ms"] - gc_ms,
    }


def classify(turn: dict[str, Any]) -> str:
    """A slow turn's class: the largest part of its wall time."""
    split = parts(turn)
    return max(split, key=split.__getitem__)


def summary(dump: dict[str, Any]) -> dict[str, Any]:
    """The turns over ``STALL_MS``: by class, their callbacks by name, the longest whole."""
    stalls = [t for t in dump["slow"] if t["wall_ms"] >= STALL_MS and t["sending"]]
    classes: Counter[str] = Counter()
    excess: dict[str, float] = defaultdict(float)
    named: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    examples: dict[str, list[Any]] = defaultdict(list)
    for turn in sorted(stalls, key=lambda t: -t["wall_ms"]):
        why = classify(turn)
        classes[why] += 1
        if len(examples[why]) < EXAMPLES:
            examples[why].append(
                [turn[k] for k in ("wall_ms", "cpu_ms", "cpu_wait_ms", "gc_ms", "callbacks")]
                + turn["longest"][:EXAMPLE_CALLBACKS]
            )
        excess[why] += turn["wall_ms"] - STALL_MS
        for name, wall, cpu in turn["longest"]:
            named[name][0] += 1
            named[name][1] += wall
            named[name][2] += cpu
    top = sorted(named.items(), key=lambda kv: -kv[1][1])[:BY_NAME]
    return {
        "turns": dump["turns"],
        "turns_s": dump["turns_s"],
        "histogram_ms": dump["histogram_ms"],
        f"over_{STALL_MS:g}ms_before_the_first_send": sum(
            1 for t in dump["slow"] if t["wall_ms"] >= STALL_MS and not t["sending"]
        ),
        f"over_{STALL_MS:g}ms": len(stalls),
        "classes (count, ms past 10)": {k: (v, round(excess[k], 1)) for k, v in classes.items()},
        "callbacks in them (count, wall ms, cpu ms)": {
            name: (n, round(w, 1), round(c, 1)) for name, (n, w, c) in top
        },
        "examples (wall, cpu, cpu wait, gc ms, callbacks, the longest)": examples,
        "longest": sorted(stalls, key=lambda t: -t["wall_ms"])[:WORST],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modems", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--spread", type=float, default=1 / 3)
    options = parser.parse_args()
    harness.DAEMON_MODULE = "bench.traced"
    with tempfile.TemporaryDirectory(prefix="stalls-") as out:
        os.environ[traced.OUT_ENV] = out
        result = loops.run(
            backlog.run(options.modems, options.latency, options.rounds, spread=options.spread)
        )
        dumps = [json.loads(p.read_text()) for p in Path(out).glob("*.json")]
    serving = [d for d in dumps if "--device" in d["argv"]]  # not the daemon that queued them
    if len(serving) != 1:
        raise RuntimeError(f"expected the turns of one daemon with modems, got {len(serving)}")
    keys = ("ratio", "gap_p50_ms", "gap_p99_ms", "gap_max_ms", "cpu_ms_per_send")
    print(json.dumps({k: result[k] for k in keys} | summary(serving[0]), indent=1))
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
