"""bench.stall_table: the largest gaps of hand-made windows, each with the spans of a hand-made
trace that overlapped it (and none that did not), and the window's passes and stalls; in the
benchmark's own process (nothing is timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
SHIFT = 1000.0  # the trace's monotonic stamps + this = the windows' wall times
CHECK = """
import contextlib, io, json, sys
from pathlib import Path
from bench.backlog import Window
from bench.suite import print_stalls
from bench.stall_table import largest, render, stall_table, verdict, window

one = Window(cmgs_at=[0.0, 1002.03, 1004.3], accepted_at=[1002.02, 1004.1, 1005.0])
other = Window(
    cmgs_at=[1001.0, 1004.5, 1007.0],
    accepted_at=[1004.2, 1005.5, 1008.0],
    command_heads=[(1004.3, b"AT+CMGR="), (1004.49, b"AT+CMGS=")],
)
trace, shift = Path(sys.argv[1]), float(sys.argv[2])
rows = stall_table([one, other], trace, shift, top=3)
def row(gc=0.0, late=None, store=0.0, waiting=1):
    return {"gap_ms": 40.0, "gc": [{"ms": gc}], "loop_late_ms": late[0] if late else 0.0,
            "others_waiting": waiting, "modems": 64,
            "loop_late_longest": late, "spans": {"store_writes (store x.db)": [2, store, store],
                                                 "store_commit (store x.db)": [2, store, store]}}
printed = io.StringIO()
with contextlib.redirect_stdout(printed):  # as bench/run prints it under its table
    print_stalls([{"backlog_100ms_spread": {
        "stall_table": rows, "stall_window": window(trace, shift, 1004.0, 1010.0)}}])
verdicts = [
    verdict(row(gc=25.0, late=[30.0, 28.0, 1.0])),  # a collection is half the gap
    verdict(row(late=[30.0, 3.0, 30.0])),  # no CPU for the loop
    verdict(row(late=[30.0, 30.0, 3.0])),  # the loop's own work
    verdict(row(late=[30.0, 2.0, 3.0])),  # neither: the GIL, a blocking call
    verdict(row(late=[5.0, 5.0, 1.0], store=25.0)),  # the loop on time; the writer 25 ms
    verdict(row(late=[5.0, 5.0, 1.0], store=15.0)),  # its COMMIT within: 15, not 30
    verdict(row(late=[5.0, 5.0, 1.0], waiting=16)),  # a quarter of the modems
]
# two short waits of one modem inside other's 300 ms gap: one modem waiting, not two
twice = Window(cmgs_at=[1004.0, 1004.3, 1004.45], accepted_at=[1004.25, 1004.35, 1005.0])
print(json.dumps({
    "twice": [g["others_waiting"] for g in largest([other, twice], top=2) if g["gap_ms"] == 300.0],
    "verdicts": verdicts,
    "largest": largest([one, other], top=2),
    "rows": rows,
    "text": render(rows),
    "window": window(trace, shift, 1004.0, 1010.0),
    "late_window": window(trace, shift, 1009.4, 1010.0),
    "printed": printed.getvalue(),
}))
"""


def _checked(tmp_path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(_trace(tmp_path)), str(SHIFT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _trace(tmp_path: Path) -> Path:
    spans = [
        # inside the 300 ms gap of modem 1 (1004.2 -> 1004.5 wall)
        ["gc", "MainThread", 4.25, 4.27, [0, 23000, 12]],
        ["loop_late", "MainThread", 4.21, 4.40, [180.0, 4.0]],
        ["loop_stack", "stall watcher", 4.21, 4.30,
         ["MainThread", {"MainThread": ["modemd.runtime.worker._send:10", "asyncio.x:1"],
                         "store writer": ["modemd.store.db._commit:88"],
                         "checkpoints": ["threading.wait:300"]}]],
        ["commit", "store writer", 4.18, 4.22, 3],
        # two batches: a record queued in the gap (a report before it: not the gap's), then
        # another; each with its writes, COMMIT and answers handed on on the loop
        ["store_queued", "store x", 4.22, 4.23,
         [["record_sent_and_claim", 8.0], ["apply_report", 40.0]]],
        ["store_writes", "store x", 4.23, 4.235, [2, 1.0, 0.5]],
        ["store_commit", "store x", 4.235, 4.24, [2, 0.3, 0.1]],
        ["store_answered", "MainThread", 4.241, 4.243, 2],
        ["store_queued", "store x", 4.30, 4.31, [["record_sent_and_claim", 2.0]]],
        ["store_writes", "store x", 4.31, 4.312, [1, 1.0, 0.5]],
        ["store_commit", "store x", 4.312, 4.315, [1, 0.3, 0.1]],
        ["store_answered", "MainThread", 4.316, 4.317, 1],
        ["gc_count", "MainThread", 4.3, 4.3, [41000, 2, 1]],  # a sample, not a span of the gap
        ["gc_count", "MainThread", 9.0, 9.0, [41100, 2, 1]],  # within 10 s of the last kept
        # outside every gap
        ["commit", "store writer", 9.0, 9.01, 1],
        ["gc", "MainThread", 9.5, 9.52, [2, 90000, 0]],
    ]  # fmt: skip
    path = tmp_path / "stalls.json"
    path.write_text(json.dumps({"clock": "monotonic", "spans": spans}))
    return path


def test_the_largest_gaps_first_with_who_else_waited_and_what_was_written(
    tmp_path: Path,
) -> None:
    gaps = _checked(tmp_path)["largest"]
    assert [g["gap_ms"] for g in gaps] == [1500.0, 300.0]
    first, second = gaps
    assert (first["modem"], first["wait"], first["before_dry"]) == (1, [2, 2], False)
    assert (second["modem"], second["wait"], second["before_dry"]) == (1, [1, 2], True)
    assert _checked(tmp_path)["twice"] == [1]
    assert second["commands"] == ["AT+CMGR="]
    assert second["others_waiting"] == 1  # modem 0 waited from 1004.1 to 1004.3
    assert first["others_waiting"] == 0


def test_each_gap_lists_only_the_spans_over_it(tmp_path: Path) -> None:
    checked = _checked(tmp_path)
    rows = checked["rows"]
    gap = next(r for r in rows if r["gap_ms"] == 300.0)
    assert gap["gc"] == [{"generation": 0, "ms": 20.0, "examined": 23000, "freed": 12}]
    assert gap["loop_late_longest"] == [190.0, 180.0, 4.0]
    assert gap["stack_samples"] == 1
    assert gap["stacks"] == {
        "MainThread": [["modemd.runtime.worker._send:10 < asyncio.x:1", 1]],
        "store writer": [["modemd.store.db._commit:88", 1]],
    }  # an idle thread's wait left out
    assert gap["spans"] == {
        "commit (store writer)": [1, 40.0, 40.0],
        "store_queued (store x)": [2, 20.0, 10.0],
        "store_writes (store x)": [2, 7.0, 5.0],
        "store_commit (store x)": [2, 8.0, 5.0],
        "store_answered (MainThread)": [2, 3.0, 2.0],
    }
    later = next(r for r in rows if r["gap_ms"] == 1500.0)  # 1005.5 -> 1007.0: nothing in it
    assert (later["gc"], later["loop_late_longest"], later["spans"]) == ([], None, {})
    assert later["pieces"] == {}
    text = checked["text"]
    assert "gc gen 0: 20.0 ms, 23,000 examined, 12 freed" in text
    assert "store writer (1 samples): modemd.store.db._commit:88 x1" in text
    assert "commit (store writer): 1, 40.0 ms, longest 40.0 ms" in text


def test_a_gap_shows_the_way_of_the_writes_queued_in_it(tmp_path: Path) -> None:
    checked = _checked(tmp_path)
    gap = next(r for r in checked["rows"] if r["gap_ms"] == 300.0)
    # two records queued in the gap; the slowest's queue, batch, COMMIT and hand-over; the
    # report queued before the gap is not one of its writes
    assert gap["pieces"] == {"record_sent_and_claim": [2, [8.0, 5.0, 5.0, 2.0, 2]]}
    assert (
        "record_sent_and_claim x2 queued in the gap, the slowest: queued 8.0 ms, its batch of "
        "2 writes 5.0 ms, COMMIT 5.0 ms, answered on the loop 2.0 ms"
    ) in checked["text"]


def test_the_window_counts_passes_by_generation_and_the_loops_stalls(tmp_path: Path) -> None:
    checked = _checked(tmp_path)
    assert (  # bench/run's line over each row's stall table says the same
        "the collector's passes by generation (count, ms, objects examined) "
        "{0: [1, 20.0, 23000], 2: [1, 20.0, 90000]}, "
        "the loop late past 10 ms 1 times (190.0 ms)"
    ) in checked["printed"]
    assert checked["window"] == {
        "gc_passes": {"0": [1, 20.0, 23000], "2": [1, 20.0, 90000]},
        "gc_each": [[0.25, 0, 20.0, 23000, 12], [5.5, 2, 20.0, 90000, 0]],
        "gc_young": [[0.3, 41000]],
        "loop_stalls": [1, 190.0],
        "spans": {
            "commit": 2,
            "gc": 2,
            "gc_count": 2,
            "loop_late": 1,
            "loop_stack": 1,
            "store_answered": 2,
            "store_commit": 2,
            "store_queued": 2,
            "store_writes": 2,
        },
    }
    assert checked["late_window"]["gc_passes"] == {"2": [1, 20.0, 90000]}
    assert checked["late_window"]["gc_young"] == []


def test_a_gap_gets_a_verdict_from_what_overlapped_it(tmp_path: Path) -> None:
    checked = _checked(tmp_path)
    assert checked["verdicts"] == [
        "the collector",
        "loop stalled: machine (no CPU)",
        "loop stalled: the loop computing",
        "loop stalled: blocked",
        "the store's writer",
        "no stall found (one send's chain)",
        "the loop not stalled, many waiting (a shared wait: a commit, the machine)",
    ]
    verdicts = {r["gap_ms"]: r["verdict"] for r in checked["rows"]}
    assert verdicts[300.0] == "loop stalled: the loop computing"  # 190 ms late, 180 on a CPU
    assert verdicts[1500.0] == "no stall found (one send's chain)"
    assert "gap 300.0 ms [loop stalled: the loop computing]: modem 1" in checked["text"]
