"""What one send of a backlog costs the daemon in instructions, counted under valgrind's callgrind:
a count the machine's load does not move, unlike its CPU seconds (README "Round 7: accepts").

Two backlogs like ``bench.backlog``, of ``rounds`` and of 3 x ``rounds`` sends per modem, each
with the daemon run by ``bench.under_callgrind`` (instrumentation on from its API listening to
its exit, each thread apart); the difference of their counts over the difference of the sends
counted leaves the shutdown out. The product's loop (uvloop) runs, as in ``bench/run``.

    .venv/bin/python -m bench.instructions [--modems 4] [--latency 0.25] [--rounds 10] \
        [--spread 0.333] [--keep DIR] [--trace]

Under callgrind the daemon runs some 50 times slower than natively, so keep the rate low
(modems / latency): a daemon that falls behind batches more per commit and per read than the
row it stands for. Printed: instructions per send on the loop's thread (``-01``) and on the
others, and the sends each run counted; ``--keep`` keeps the callgrind files of the long run
(``callgrind_annotate DIR/callgrind.out.*-01``); ``--trace``: the daemons keep a stall trace
(``MODEMD_STALL_TRACE``), so that trace on against off is the trace's count per send (its
timer's and watcher's wake-ups are per second, not per send: under callgrind the daemon sends
a few times a second, so that share is larger here than in a native backlog; the JSON gives the
spans per send by kind, from the long run's trace).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench import backlog, harness, under_callgrind

TOTALS = re.compile(r"^totals: (\d+)", re.MULTILINE)
THREAD = re.compile(r"callgrind\.out\.(\d+)-(\d+)$")


def thread_counts(directory: str) -> dict[str, int]:
    """Instructions per thread of the one counted daemon (the others' files count 0)."""
    counts: dict[str, dict[str, int]] = {}
    for path in Path(directory).glob("callgrind.out.*"):
        found = THREAD.search(path.name)
        totals = TOTALS.search(path.read_text(errors="replace"))
        if found is None or totals is None:
            continue
        counts.setdefault(found.group(1), {})[f"thread {int(found.group(2)):02d}"] = int(
            totals.group(1)
        )
    counted = [c for c in counts.values() if sum(c.values())]
    if len(counted) != 1:
        raise RuntimeError(f"expected the counts of one daemon with modems, got {len(counted)}")
    return counted[0]


async def counts(
    modems: int, latency_s: float, rounds: int, spread: float, keep: Path | None, trace: bool
) -> tuple[dict[str, int], int, dict[str, Any]]:
    """One backlog under callgrind: instructions per thread, the sends counted, its figures."""
    out = tempfile.mkdtemp(prefix="instructions-")
    try:
        os.environ[under_callgrind.OUT_ENV] = out
        result = await backlog.run(modems, latency_s, rounds, spread=spread, stall_trace=trace)
        threads = thread_counts(out)
        if keep is not None:
            shutil.copytree(out, keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return threads, modems * rounds - result["sent_before_window"], result


def _spans_per_send(result: dict[str, Any], sends: int) -> dict[str, float]:
    """The stall trace's spans of each kind per send in a run's window (none untraced)."""
    spans = result.get("stall_window", {}).get("spans", {})
    return {kind: round(count / max(1, sends), 3) for kind, count in spans.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modems", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--spread", type=float, default=1 / 3)
    parser.add_argument("--keep", type=Path, help="keep the long run's callgrind files here")
    parser.add_argument("--trace", action="store_true", help="the daemons keep a stall trace")
    options = parser.parse_args()
    harness.DAEMON_MODULE = "bench.under_callgrind"
    args = options.modems, options.latency
    short, short_sends, first = await counts(
        *args, options.rounds, options.spread, None, options.trace
    )
    long, long_sends, second = await counts(
        *args, 3 * options.rounds, options.spread, options.keep, options.trace
    )
    sends = long_sends - short_sends
    per = {k: (long.get(k, 0) - short.get(k, 0)) / sends for k in sorted(long.keys() | short)}
    loop = per.get("thread 01", 0.0)
    print(
        json.dumps(
            {
                "modems": options.modems,
                "latency_s": options.latency,
                "spread": options.spread,
                "sends_counted": [short_sends, long_sends],
                "instructions_per_send": round(sum(per.values())),
                "loop_thread": round(loop),
                "other_threads": round(sum(per.values()) - loop),
                "per_thread": {k: round(v) for k, v in per.items()},
                "commits_per_send": [first["commits_per_send"], second["commits_per_send"]],
                "commands_per_send": [first["commands_per_send"], second["commands_per_send"]],
                "ratio": [first["ratio"], second["ratio"]],
                "trace": options.trace,
                "spans_per_send": _spans_per_send(second, long_sends),
                "load": [round(x, 2) for x in os.getloadavg()],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
