"""What overlapped a backlog's largest gaps: the daemon's stall trace (``modemd.observe.trace``)
laid over the gaps the ptys measured.

For each of the largest gaps between one send's end and its modem's next ``AT+CMGS=``: how many
other modems were waiting at the same moment (a whole daemon stopped shows on many), what the
host wrote in it, and every span of the daemon's trace that overlapped it: the collector's
passes (generation, objects examined and freed), the loop's late wake-ups (and of their
lateness, the loop thread's CPU and its wait for a CPU: the machine), the threads' innermost
frames sampled while the loop stood still, and whatever the store's thread stamped (commits,
fsyncs, checkpoints). A thread's frames are sampled when the watcher gets the GIL: in a
syscall of the loop's (a write to a pty or a file) or at the interpreter's 5 ms switch, so
syscalls show more often than the time they take. The trace's clock is CLOCK_MONOTONIC, the
taps' ``time.time()``: ``offset`` is taken in this process, the same host.
"""

from __future__ import annotations

import bisect
import json
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.waits import Sends, dry_at, waits, written
from modemd.observe.trace import PROBE_S

TOP = 5  # the largest gaps shown
STALL_MS = 10.0  # issue 21's largest gap: a late wake-up past this counts as a stall
LOOP_THREAD = "MainThread"
IDLE = ("threading.wait", "queue.get", "selectors.select", "threading._wait_for_tstate_lock")
SHOWN = 3  # the most frequent frames of each thread
COUNT_EVERY_S = 10.0  # the young generation's count kept this often over a window
MANY = 0.25  # this share of the other modems waiting at once: a wait they share
LOOPS_OWN = ("gc", "gc_count", "loop_late", "loop_stack")  # modemd.observe.trace's kinds
# the store's thread busy (its writes span holds its COMMIT; store10's stamps)
STORE = ("store_writes", "store_reads", "store_after_change", "wal_restart")


def offset() -> float:
    """``time.time()`` minus ``time.monotonic()`` now: a trace's stamp plus this is wall time."""
    return time.time() - time.monotonic()


def read(path: Path, shift: float) -> list[tuple[str, str, float, float, Any]]:
    """The trace's spans with their times moved to this process's ``time.time()``."""
    spans = json.loads(path.read_text())["spans"]
    return [(kind, thread, a + shift, b + shift, detail) for kind, thread, a, b, detail in spans]


def largest(taps: Sequence[Sends], top: int = TOP) -> list[dict[str, Any]]:
    """The ``top`` largest gaps: length, modem, which of its waits, the span, what was written,
    whether any modem had run dry yet, and how many other modems were waiting meanwhile."""
    dry = dry_at(taps)
    every = sorted(waits(taps), reverse=True)
    return [
        {
            "gap_ms": round(gap.s * 1000, 1),
            "modem": gap.modem,
            "wait": [gap.k, gap.of],
            "start": gap.end,
            "end": gap.next,
            "before_dry": gap.end < dry,
            "others_waiting": len(
                {
                    w.modem
                    for w in every
                    if w.modem != gap.modem and w.end < gap.next and w.next > gap.end
                }
            ),
            "modems": len(taps),
            "commands": written(taps[gap.modem], gap),
        }
        for gap in every[:top]
    ]


def overlapping(gap: dict[str, Any], spans: Sequence[tuple[str, str, float, float, Any]]) -> dict:
    """Every span over ``gap``'s time, summed by what it is (module docstring)."""
    start, end = gap["start"], gap["end"]
    within = [s for s in spans if s[2] < end and s[3] > start]
    collections = [
        {"generation": d[0], "ms": _ms(b - a), "examined": d[1], "freed": d[2]}
        for kind, _t, a, b, d in within
        if kind == "gc"
    ]
    late = [(b - a, d) for kind, _t, a, b, d in within if kind == "loop_late"]
    stacks: dict[str, Counter[str]] = defaultdict(Counter)
    samples = 0
    for kind, _t, _a, _b, detail in within:
        if kind != "loop_stack":
            continue
        samples += 1
        for thread, frames in detail[1].items():
            if frames and (thread == LOOP_THREAD or not frames[0].startswith(IDLE)):
                stacks[thread][" < ".join(frames[:3])] += 1
    others: dict[str, list[float]] = defaultdict(list)
    for kind, thread, a, b, _d in within:
        if kind not in LOOPS_OWN:
            others[f"{kind} ({thread})"].append(b - a)
    worst = max(late, key=lambda x: x[0], default=None)
    return {
        "gc": collections,
        "loop_late_ms": _ms(sum(s for s, _d in late)),
        # the longest late wake-up: how late, and meanwhile the loop's CPU and wait for a CPU
        "loop_late_longest": [_ms(worst[0]), *worst[1]] if worst else None,
        "stack_samples": samples,
        "stacks": {t: c.most_common(SHOWN) for t, c in stacks.items()},
        "spans": {k: [len(v), _ms(sum(v)), _ms(max(v))] for k, v in others.items()},
    }


def stall_table(taps: Sequence[Sends], trace: Path, shift: float, top: int = TOP) -> list[dict]:
    """The largest gaps, each with what overlapped it (``overlapping``) and the ways of the
    writes queued in it (``pieces``)."""
    spans = read(trace, shift)
    batches = Batches(spans)
    rows = [gap | overlapping(gap, spans) | pieces(gap, batches) for gap in largest(taps, top)]
    return [row | {"verdict": verdict(row)} for row in rows]


class Batches:
    """The store's batches in a trace, each write's way through one: queued (``store_queued``:
    each write's function and wait, up to its batch's start), the batch's writes
    (``store_writes``) and COMMIT (``store_commit``) on the same thread, then their answers
    handed on on the loop (``store_answered``, the first to start once the COMMIT ended)."""

    def __init__(self, spans: Sequence[tuple[str, str, float, float, Any]]) -> None:
        self.queued = [s for s in spans if s[0] == "store_queued"]
        self._writes: dict[str, list[tuple[float, float, Any]]] = defaultdict(list)
        self._commits: dict[tuple[str, float], tuple[float, float]] = {}
        for kind, thread, a, b, detail in spans:
            if kind == "store_writes":
                self._writes[thread].append((a, b, detail))
            elif kind == "store_commit":
                self._commits[(thread, a)] = (a, b)
        for writes in self._writes.values():
            writes.sort(key=lambda w: w[0])
        self._answered = sorted((a, b) for kind, _t, a, b, _d in spans if kind == "store_answered")

    def way(self, thread: str, started: float) -> list[float] | None:
        """The batch begun at ``started`` on ``thread``: [its writes' ms, its COMMIT's ms, its
        answers' hand-over ms, its writes]; None when the trace lacks a piece."""
        writes = self._writes.get(thread, [])
        n = bisect.bisect_left(writes, started, key=lambda w: w[0])
        if n == len(writes):
            return None
        a, committing, detail = writes[n]
        commit = self._commits.get((thread, committing))
        if commit is None:
            return None
        m = bisect.bisect_left(self._answered, commit[1], key=lambda w: w[0])
        if m == len(self._answered):
            return None
        given, answered = self._answered[m]
        return [_ms(committing - a), _ms(commit[1] - committing), _ms(answered - given), detail[0]]


def pieces(gap: dict[str, Any], batches: Batches) -> dict[str, Any]:
    """The writes queued in ``gap`` (a send's record, a report: what the modem's next command
    may wait for), by function: how many, and the slowest one's way (``Batches``) as pieces
    of the wait, [queued ms, its batch's writes ms, COMMIT ms, answers' hand-over ms, writes
    in its batch]."""
    start, end = gap["start"], gap["end"]
    found: dict[str, list[Any]] = {}
    for _kind, thread, a, b, detail in batches.queued:
        if a >= end or b <= start:
            continue
        for name, wait_ms in detail:
            if not start <= b - wait_ms / 1000 < end:
                continue  # queued before the gap (or after it)
            way = batches.way(thread, b)
            if way is None:
                continue
            each = [round(wait_ms, 2), *way]
            count, slowest = found.get(name, [0, None])
            if slowest is None or sum(each[:4]) > sum(slowest[:4]):
                slowest = each
            found[name] = [count + 1, slowest]
    return {"pieces": found}


def verdict(row: dict[str, Any]) -> str:
    """What held a gap, in a few words, from what overlapped it: a collection, the loop
    late (and then by the larger share of its longest late wake-up: no CPU for it, its own
    work, or neither: the GIL or a blocking call), the store's writer, many modems waiting
    at once with none of these (a wait they share), or none of them (the chain of one send:
    the record, the claim, a read or a free on the modem)."""
    half = row["gap_ms"] / 2
    if sum(c["ms"] for c in row["gc"]) >= half:
        return "the collector"
    if row["loop_late_ms"] >= half and row["loop_late_longest"]:
        late, ran, waited = row["loop_late_longest"]
        blocked = late + PROBE_S * 1000 - ran - waited  # the timer's interval, not explained
        shares = {"machine (no CPU)": waited, "the loop computing": ran, "blocked": blocked}
        return "loop stalled: " + max(shares, key=shares.__getitem__)
    store = sum(v[1] for k, v in row["spans"].items() if k.split(" ")[0] in STORE)
    if store >= half:
        return "the store's writer"
    if row["others_waiting"] >= row["modems"] * MANY:
        return "the loop not stalled, many waiting (a shared wait: a commit, the machine)"
    return "no stall found (one send's chain)"


def window(trace: Path, shift: float, start: float, end: float) -> dict[str, Any]:
    """Over a measured window: the collector's passes by generation (count, ms, objects
    examined) and each pass (seconds from ``start``, generation, ms, examined, freed); the
    young generation's count about every ``COUNT_EVERY_S`` (seconds from ``start``, count: it
    grows as the heap does; a young pass comes at the threshold); and the loop's late
    wake-ups past ``STALL_MS`` (count, ms); and the spans of each kind in it (what the trace
    stamped: its cost is per span)."""
    spans = [s for s in read(trace, shift) if start <= s[2] <= end]
    passes: dict[int, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    each = []
    late = [s[3] - s[2] for s in spans if s[0] == "loop_late" and s[3] - s[2] > STALL_MS / 1000]
    for kind, _t, a, b, detail in spans:
        if kind == "gc":
            passes[detail[0]][0] += 1
            passes[detail[0]][1] += b - a
            passes[detail[0]][2] += detail[1]
            each.append([round(a - start, 2), detail[0], _ms(b - a), detail[1], detail[2]])
    young: list[list[float]] = []
    for kind, _t, a, _b, detail in spans:
        if kind == "gc_count" and (not young or a - start >= young[-1][0] + COUNT_EVERY_S):
            young.append([round(a - start, 2), detail[0]])
    return {
        "gc_passes": {g: [int(n), _ms(s), int(o)] for g, (n, s, o) in sorted(passes.items())},
        "gc_each": each,
        "gc_young": young,
        "loop_stalls": [len(late), _ms(sum(late))],
        "spans": dict(sorted(Counter(s[0] for s in spans).items())),
    }


def render(rows: Sequence[dict[str, Any]]) -> str:
    """The stall table as text, one block per gap."""
    lines = []
    for row in rows:
        k, n = row["wait"]
        dry = "before any modem ran dry" if row["before_dry"] else "after a modem ran dry"
        lines.append(
            f"gap {row['gap_ms']} ms [{row['verdict']}]: modem {row['modem']}, wait {k} of {n}, "
            f"{dry}; "
            f"{row['others_waiting']} other modems waiting meanwhile; "
            f"written: {', '.join(row['commands']) or 'nothing'}"
        )
        for c in row["gc"]:
            lines.append(
                f"  gc gen {c['generation']}: {c['ms']} ms, {c['examined']:,} examined, "
                f"{c['freed']} freed"
            )
        if row["loop_late_longest"]:
            late, ran, waited = row["loop_late_longest"]
            lines.append(
                f"  loop late {row['loop_late_ms']} ms in all; longest {late} ms "
                f"(the loop on a CPU {ran} ms, waiting for one {waited} ms)"
            )
        for thread, frames in row["stacks"].items():
            shown = "; ".join(f"{f} x{c}" for f, c in frames)
            lines.append(f"  {thread} ({row['stack_samples']} samples): {shown}")
        for kind, (count, total, longest) in row["spans"].items():
            lines.append(f"  {kind}: {count}, {total} ms, longest {longest} ms")
        for name, (count, (queued, writes, commit, answered, size)) in row["pieces"].items():
            lines.append(
                f"  {name} x{count} queued in the gap, the slowest: queued {queued} ms, its "
                f"batch of {size} writes {writes} ms, COMMIT {commit} ms, answered on the "
                f"loop {answered} ms"
            )
    return "\n".join(lines)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
