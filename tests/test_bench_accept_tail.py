"""bench.accept_tail's cut of an accept's time, on a hand-made trace and client times: each
piece between the right stamps, each accept in the batch it was written in, and an accept whose
batch did not commit before its task resumed (a wrong match) left out and counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHECK = """
import json
from typing import Any
from bench.accept_tail import PIECES, pieces


def _batch(began: float, committing: float, committed: float, size: int) -> list[list[Any]]:
    return [
        ["store_writes", "store", began, committing, [size, 0.1]],
        ["store_commit", "store", committing, committed, [size, 0.2]],
    ]


def _accept(job: str, parsed: float, written: float, *inner: float | None) -> list[Any]:
    return ["accept", "MainThread", parsed, written, [job, *inner]]


spans = [
    *_batch(10.0, 10.004, 10.010, 3),  # job a's write was queued before it began
    *_batch(10.011, 10.012, 10.020, 1),  # job b's (queued while the first committed)
    _accept("a", 9.9995, 10.0125, 9.9996, 9.9999, 10.0120),
    _accept("b", 10.0040, 10.0226, 10.0045, 10.0050, 10.0220),
    _accept("c", 10.0300, 10.0330, 10.0301, 10.0302, 10.0310),  # no batch began after it
    _accept("d", 10.0100, 10.0150, 10.0101, 10.0102, 10.0140),  # resumed before its commit
    _accept("e", 10.0100, 10.0150, 10.0101, None, 10.0140),  # refused: no write
    ["loop_late", "MainThread", 10.0, 10.003, [1.0, 2.0]],
]
client = [
    [9.9990, 10.0130, "a"],
    [10.0030, 10.0230, "b"],
    [10.0290, 10.0340, "c"],
    [10.0090, 10.0160, "d"],
    [10.0090, 10.0160, "e"],
    [10.0000, 10.0100, "f"],  # no accept span of its own (the warm-up's, say)
]
print(json.dumps([PIECES, pieces(spans, client)]))
"""


def test_each_piece_is_cut_between_its_stamps_and_its_own_batch() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, check=True
    )
    pieces, found = json.loads(done.stdout)
    assert (found["accepts"], found["unmatched"]) == (2, 4)
    assert found["batch_size"] == 2  # the median of 3 and 1
    a = [0.5, 0.1, 0.3, 0.1, 4.0, 6.0, 2.0, 0.5, 0.5]
    b = [1.0, 0.5, 0.5, 6.0, 1.0, 8.0, 2.0, 0.6, 0.4]
    every = found["median_ms"]
    for n, piece in enumerate(pieces):
        assert every[piece] == round((a[n] + b[n]) / 2, 3), piece
    slow = found["slowest_1pct_median_ms"]  # of two, the slowest is the last one: b
    assert [slow[p] for p in pieces] == b
    assert (found["total_p50_ms"], found["total_p99_ms"]) == (20.0, 20.0)
    assert found["holds_the_p99"] == "queued -> batch began"  # 6.0 against a median of 3.05
