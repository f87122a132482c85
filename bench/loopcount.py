"""What one send costs the daemon's event loop, counted: loop turns, callbacks, timers, futures,
tasks (by coroutine), store round trips (by function), port writes and reads, log records and
metric updates per send of a backlog.

Two backlogs like ``bench.backlog``, of ``rounds`` and of 3 x ``rounds`` sends per modem, each
with the daemon run by ``bench.counted`` (asyncio's loop with counters); the difference of their
counts over the difference of their sends leaves start-up and shutdown out.

    .venv/bin/python -m bench.loopcount [--modems 64] [--latency 0.1] [--rounds 5] \
        [--spread 0.333]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench import backlog, counted, harness

SHOWN = 0.01  # counts per send under this are left out of the table


def _dumps(directory: str) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in Path(directory).glob("*.json")]


async def counts(modems: int, latency_s: float, rounds: int, spread: float) -> Counter[str]:
    """The counts of the daemon that drained a backlog of ``modems * rounds`` jobs."""
    with tempfile.TemporaryDirectory(prefix="loopcount-") as out:
        os.environ[counted.OUT_ENV] = out
        await backlog.run(modems, latency_s, rounds, spread=spread)
        dumps = _dumps(out)
    serving = [d for d in dumps if "--device" in d["argv"]]  # not the daemon that queued them
    if len(serving) != 1:
        raise RuntimeError(f"expected the counts of one daemon with modems, got {len(serving)}")
    return Counter(serving[0]["counts"])


def per_send(short: Counter[str], long: Counter[str], sends: int) -> dict[str, float]:
    """Each count's growth per send between the two runs, largest first."""
    grown = {key: (long[key] - short[key]) / sends for key in long.keys() | short.keys()}
    return dict(sorted(grown.items(), key=lambda item: -item[1]))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modems", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spread", type=float, default=1 / 3)
    options = parser.parse_args()
    harness.DAEMON_MODULE = "bench.counted"
    args = (options.modems, options.latency, options.spread)
    short = await counts(args[0], args[1], options.rounds, args[2])
    long = await counts(args[0], args[1], 3 * options.rounds, args[2])
    sends = options.modems * 2 * options.rounds
    print(f"per send ({options.modems} x {options.latency} s, {sends} sends counted):")
    for key, value in per_send(short, long, sends).items():
        if abs(value) >= SHOWN:
            print(f"{value:9.2f}  {key}")
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
