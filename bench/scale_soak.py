"""A long backlog at 256 modems, for what a short run cannot show: the daemon's collector passes
by generation (count, seconds, the longest: its own metrics) and its RSS over time; with
``--trace``, also each pass (generation, length, objects examined and freed), the young
generation's count over time and the loop's stalls (the stall trace, ``modemd.observe.trace``).

The young count is net of deaths: in a steady backlog it grows only as the heap does (caches,
cycles not yet collected), and a young pass comes when it reaches ``serving.GC_YOUNG_THRESHOLD``;
its slope over the run says when the next one would come. The trace's own spans are such
growth (~300 a second at 256 x 1 s, the store's stamps of each batch and commit, ~22,000
tracked objects a minute): a traced soak's passes are the trace's, so the collector's figures
are read on a run without it.

    .venv/bin/python -m bench.scale_soak [--modems 256] [--latency 1.0] [--minutes 4] [--trace]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from bench import backlog

KEPT = (  # the backlog's figures printed beside the soak's own
    "ratio", "gap_max_ms", "gap_p99_ms", "cpu_ms_per_send", "loop_cpu_ms_per_send",
    "commits_per_send", "rss_mb_peak", "rss_mb_over_time", "daemon_gc_passes", "daemon_gc_ms",
    "daemon_gc_max_ms", "daemon_lag_max_ms", "sent_before_window",
)  # fmt: skip


def young_per_minute(young: list[list[float]]) -> float | None:
    """The young count's growth per minute, from its first to its last sample without a young
    pass between (a pass resets it): None with fewer than two such samples."""
    run = [young[0]] if young else []
    for sample in young[1:]:
        run = [sample] if sample[1] < run[-1][1] else [*run, sample]
    if len(run) < 2 or run[-1][0] <= run[0][0]:
        return None
    return round((run[-1][1] - run[0][1]) / (run[-1][0] - run[0][0]) * 60, 1)


def soak(result: dict[str, Any]) -> dict[str, Any]:
    """What a long run says of the collector and memory, from ``backlog.run``'s result (and
    from its stall trace, when it ran with one)."""
    kept = {key: result[key] for key in KEPT}
    if "stall_window" not in result:
        return kept
    window = result["stall_window"]
    return kept | {
        "gc_passes": window["gc_passes"],
        "gc_each": window["gc_each"],  # [s from ready, generation, ms, examined, freed]
        "gc_young": window["gc_young"],
        "gc_young_per_minute": young_per_minute(window["gc_young"]),
        "loop_stalls_past_10ms": window["loop_stalls"],
        "largest_gaps": [[g["gap_ms"], g["verdict"]] for g in result["stall_table"]],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modems", type=int, default=256)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--trace", action="store_true", help="with the stall trace (see above)")
    options = parser.parse_args()
    rounds = max(2, round(options.minutes * 60 / options.latency))
    result = await backlog.run(options.modems, options.latency, rounds, stall_trace=options.trace)
    load = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps({"modems": options.modems, "rounds": rounds} | soak(result) | {"load": load}))


if __name__ == "__main__":
    asyncio.run(main())
