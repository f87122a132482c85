"""What one send costs the daemon's event loop, counted: loop turns, callbacks, timers, futures,
tasks (by coroutine), store round trips (by function), port writes and reads, log records and
metric updates per send of a backlog.

Two backlogs like ``bench.backlog``, of ``rounds`` and of 3 x ``rounds`` sends per modem, each
with the daemon run by ``bench.counted`` (asyncio's loop with counters); the difference of their
counts over the difference of their sends leaves start-up and shutdown out.

    .venv/bin/python -m bench.loopcount [--modems 64] [--latency 0.1] [--rounds 5] \
        [--spread 0.333]
    .venv/bin/python -m bench.loopcount --modems 256 --idle 10   # per idle modem and second
    .venv/bin/python -m bench.loopcount --modems 4 --dispatch 100   # per job on idle modems
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from bench import backlog, counted, dispatch, footprint, harness

SHOWN = 0.001  # counts per send (or per idle modem and second) under this are left out


def _dumps(directory: str) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in Path(directory).glob("*.json")]


async def counts(work: Awaitable[object]) -> Counter[str]:
    """The counts of the daemon with modems that ``work`` ran (a backlog, an idle bank)."""
    with tempfile.TemporaryDirectory(prefix="loopcount-") as out:
        os.environ[counted.OUT_ENV] = out
        await work
        dumps = _dumps(out)
    serving = [d for d in dumps if "--device" in d["argv"]]  # not the daemon that queued them
    if len(serving) != 1:
        raise RuntimeError(f"expected the counts of one daemon with modems, got {len(serving)}")
    return Counter(serving[0]["counts"])


def per_send(short: Counter[str], long: Counter[str], sends: float) -> dict[str, float]:
    """Each count's growth per send between the two runs, largest first."""
    grown = {key: (long[key] - short[key]) / sends for key in long.keys() | short.keys()}
    return dict(sorted(grown.items(), key=lambda item: -item[1]))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modems", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spread", type=float, default=1 / 3)
    parser.add_argument("--idle", type=float, help="instead: an idle bank for IDLE and 3 x IDLE s")
    parser.add_argument("--dispatch", type=int, help="instead: N and 3 x N jobs one at a time")
    options = parser.parse_args()
    harness.DAEMON_MODULE = "bench.counted"
    modems, latency_s, rounds = options.modems, options.latency, options.rounds
    if options.dispatch:  # per job sent one at a time on idle modems
        short = await counts(dispatch.run(options.dispatch, modems))
        long = await counts(dispatch.run(3 * options.dispatch, modems))
        what, per = f"per job one at a time ({modems} idle modems)", 2 * options.dispatch
    elif options.idle:  # per modem and second of an idle bank
        short = await counts(footprint.run(modems, options.idle))
        long = await counts(footprint.run(modems, 3 * options.idle))
        what, per = f"per idle modem and second ({modems} modems)", modems * 2 * options.idle
    else:
        short = await counts(backlog.run(modems, latency_s, rounds, spread=options.spread))
        long = await counts(backlog.run(modems, latency_s, 3 * rounds, spread=options.spread))
        what, per = f"per send ({modems} x {latency_s} s)", modems * 2 * rounds
    print(f"{what}, over {per:g}:")
    for key, value in per_send(short, long, per).items():
        if abs(value) >= SHOWN:
            print(f"{value:9.3f}  {key}")
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
