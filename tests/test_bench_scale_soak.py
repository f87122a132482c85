"""bench.scale_soak: the young count's growth per minute across the collector's resets, and
the soak's figures taken from a backlog's result; and the RSS kept over a sampled process's
life (``bench.usage``); in the benchmark's own process (nothing is timed)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
CHECK = """
import asyncio, json, os
from bench.scale_soak import soak, young_per_minute
from bench.usage import UsageSampler

window = {"gc_passes": {"0": [1, 7.5, 26000]}, "gc_each": [[31.0, 0, 7.5, 26000, 28]],
          "gc_young": [[0.0, 100], [10.0, 200]], "loop_stalls": [2, 31.0]}
result = {key: 1 for key in ("ratio", "gap_max_ms", "gap_p99_ms", "cpu_ms_per_send",
          "loop_cpu_ms_per_send", "commits_per_send", "rss_mb_peak", "rss_mb_over_time",
          "daemon_gc_passes", "daemon_gc_ms", "daemon_gc_max_ms", "daemon_lag_max_ms",
          "sent_before_window")}
untraced = dict(result)
result |= {"stall_window": window,
           "stall_table": [{"gap_ms": 40.0, "verdict": "the collector", "modem": 3}]}

async def sampled():
    sampler = UsageSampler(os.getpid())
    sampler.every_s, sampler.series_s = 0.02, 0.0
    async with sampler:
        await asyncio.sleep(0.1)
    return sampler.rss_mb_over_time()

print(json.dumps({
    "steady": young_per_minute([[0.0, 100], [10.0, 200], [20.0, 300]]),
    "after_a_pass": young_per_minute([[0.0, 100], [10.0, 49000], [20.0, 50], [30.0, 150]]),
    "one": young_per_minute([[0.0, 100]]),
    "none": young_per_minute([]),
    "soak": soak(result),
    "untraced": soak(untraced),
    "rss": asyncio.run(sampled()),
}))
"""


def _checked() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_young_counts_growth_per_minute_since_the_last_pass() -> None:
    checked = _checked()
    assert checked["steady"] == 600.0
    assert checked["after_a_pass"] == 600.0  # 50 -> 150 in 10 s; the pass at 49,000 reset it
    assert checked["one"] is None and checked["none"] is None


def test_a_soak_keeps_the_collectors_passes_and_the_largest_gaps_verdicts() -> None:
    soaked = _checked()["soak"]
    assert soaked["gc_each"] == [[31.0, 0, 7.5, 26000, 28]]
    assert soaked["gc_young_per_minute"] == 600.0
    assert soaked["loop_stalls_past_10ms"] == [2, 31.0]
    assert soaked["largest_gaps"] == [[40.0, "the collector"]]
    assert soaked["rss_mb_peak"] == 1 and soaked["sent_before_window"] == 1
    untraced = _checked()["untraced"]  # the collector's own metrics and the RSS only
    assert "gc_each" not in untraced and untraced["daemon_gc_ms"] == 1


def test_the_rss_is_kept_over_time_from_the_first_sample() -> None:
    rss = _checked()["rss"]
    assert len(rss) >= 3 and rss[0][0] == 0.0
    assert all(a[0] < b[0] for a, b in itertools.pairwise(rss))
    assert all(mb > 0 for _s, mb in rss)
