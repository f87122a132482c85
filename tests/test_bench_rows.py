"""``bench/run --repeat N``: a figure measured N times is shown as its median, with its range
and every run's value (``bench.rows.merged``, ``bench.rows.spread_table``), on hand-made runs
in the benchmark's own process (nothing is timed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
RATIO = "throughput_ratio_100ms_spread"
GAP = "gap_max_ms_100ms_spread"
CHECK = """
import json, sys
from bench.rows import merged, spread_table, table

def run(ratio, gap, load):
    return {
        "throughput_ratio_100ms_spread": ratio,
        "gap_max_ms_100ms_spread": gap,
        "backlog_100ms_spread": {"ratio": ratio},  # a scenario's details
        "machine": {"cpus": 2, "fsync_ms": 0.3},
        "loadavg_after": (load, load, load),
        "load_1min": load,
        "errors": {},
    }

result = merged([run(*r) for r in json.loads(sys.argv[1])])
print(json.dumps({"result": result, "table": table(result), "spread": spread_table(result)}))
"""


def merged(*runs: tuple[float, float, float]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_each_figure_is_its_runs_median_and_keeps_every_value_in_order() -> None:
    found = merged((0.9720, 10.6, 0.5), (0.9403, 146.2, 0.7), (0.9646, 111.5, 0.6))
    result = found["result"]
    assert result[RATIO] == 0.9646 and result[GAP] == 111.5
    assert result["spread"][RATIO] == [0.9720, 0.9403, 0.9646]
    assert result["spread"]["load_1min"] == [0.5, 0.7, 0.6]
    assert result["backlog_100ms_spread"] == {"ratio": 0.9720}  # the first run's details
    row = next(line for line in found["table"].splitlines() if "64 x 67-133 ms" in line)
    assert "0.9646" in row  # the table prints the median


def test_the_spread_table_shows_median_range_and_values_of_rows_run_more_than_once() -> None:
    found = merged((0.9720, 10.6, 0.5), (0.9403, math.nan, 0.7))
    assert math.isclose(found["result"][RATIO], (0.9720 + 0.9403) / 2)
    assert found["result"][GAP] == 10.6  # a run that measured nothing is left out of the median
    lines = found["spread"].splitlines()
    ratio = next(line for line in lines if line.startswith("backlog ratio, 64 x 67-133 ms (2)"))
    assert "0.9562" in ratio and "0.9403 - 0.9720" in ratio and ratio.endswith("0.9720, 0.9403")
    gap = next(line for line in lines if line.startswith("  largest idle gap (2)"))
    assert "10.60 - 10.60" in gap and gap.endswith("10.60, -")
    assert not any("lockstep" in line for line in lines)  # measured in no run


def test_the_busy_ipn_target_is_read_on_the_spread_row_and_lockstep_is_history() -> None:
    check = """
import json
from bench.rows import table
from bench.suite import SCENARIOS
results = {"ipn_busy_spread_p99_ms": 25.0, "ipn_busy_p99_ms": 12.0,
           "machine": {"cpus": 2, "fsync_ms": 0.3}, "loadavg_after": (1, 1, 1)}
print(json.dumps({"table": table(results), "scenarios": list(SCENARIOS)}))
"""
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    found = json.loads(done.stdout)
    lines = found["table"].splitlines()
    busy = next(line for line in lines if line.startswith("IPN on a busy modem"))
    assert "25.00 ms" in busy and busy.endswith("NO")  # the target, on the spread row
    lockstep = next(line for line in lines if "lockstep, 16 x 0.25 s" in line)
    assert "12.00 ms" in lockstep and not lockstep.endswith(("yes", "NO"))  # history
    assert {"ipn-busy", "ipn-busy-spread"} <= set(found["scenarios"])
