"""Where an accept's time goes at 64 clients, and which piece holds its p99.

``bench.accept``'s first pass (64 kept-alive clients of ``bench.httpload`` on a daemon without
modems) with the daemon's stall trace on (``MODEMD_STALL_TRACE``): the fast framing stamps each
send (``accept`` spans: parsed, its task's first step, its write queued, its task resumed, its
answer written), the store's thread each batch (``store_writes``: from its ``BEGIN`` to its
``COMMIT``; ``store_commit``: the COMMIT, the WAL's write and fsync), and the client writes down
when it wrote each request and read its answer, all on CLOCK_MONOTONIC (one clock for every
process of the host). Each answer is found by its job's id; its write's batch is the first the
store's thread began after the write was queued, and must have committed before the task
resumed (else the accept is left out, counted). Each accept's time is cut in nine pieces:

    client's write -> parsed     the request waiting in the socket and for the loop to read it
    parsed -> task's first step  the loop's queue of ready callbacks before the send's task
    task -> write queued         JSON, the key, the checks: the loop's own work for the send
    queued -> batch began        waiting for the store's thread (the batch before it)
    the batch's writes           BEGIN and every write of its batch (its own among them)
    its COMMIT                   the WAL's write and fsync
    committed -> task resumed    the hand-back: a wake-up of the loop, the batch's futures
                                 resolved in one callback, then the tasks before it in the queue
    resumed -> answer written    the answer made and written
    written -> client's read     the answer on its way and the client's loop

    .venv/bin/python -m bench.accept_tail [--seconds 8] [--clients 64] [--keep DIR]

The pieces' medians over every counted accept and over the slowest 1 % (at or past the p99),
and the piece whose median grows most from the one set to the other: what holds the p99.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from bench import httpload
from bench.harness import Daemon, create_key, workdir

CLIENTS = 64
WARM_UP_S = 1.0
PIECES = (
    "client's write -> parsed",
    "parsed -> task's first step",
    "task -> write queued",
    "queued -> batch began",
    "the batch's writes",
    "its COMMIT",
    "committed -> task resumed",
    "resumed -> answer written",
    "written -> client's read",
)


async def run(seconds: float, clients: int, keep: Path | None) -> dict[str, Any]:
    """The load on a traced daemon, then its pieces (``pieces``)."""
    tmp = workdir()
    traced, times = tmp / "trace.json", tmp / "times.json"
    key = await create_key(tmp / "modemd.db")
    async with Daemon(tmp / "modemd.db", [], env={"MODEMD_STALL_TRACE": str(traced)}) as daemon:
        load = await httpload.in_subprocess(
            f"{daemon.url}/api/v1/send", key, seconds, str(clients), str(WARM_UP_S), str(times)
        )
    found = pieces(json.loads(traced.read_text())["spans"], json.loads(times.read_text()))
    if keep is not None:  # (the load is over: nothing waits on these)
        keep.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
        for file in (traced, times):
            shutil.copy(file, keep / file.name)
    return {"rps": load["rps"], "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"], **found}


def pieces(spans: list[list[Any]], client: list[list[Any]]) -> dict[str, Any]:
    """Each accept of ``client`` (``[written, answered, job_id]``) cut in ``PIECES`` (ms) by the
    trace's ``spans``; the medians over all and over the slowest 1 %."""
    sends = {s[4][0]: (s[2], s[3], *s[4][1:]) for s in spans if s[0] == "accept" and s[4][0]}
    writes = sorted((s[2], s[3], s[4][0]) for s in spans if s[0] == "store_writes")
    commits = {round(s[2], 9): s[3] for s in spans if s[0] == "store_commit"}
    starts = [w[0] for w in writes]
    cut: list[tuple[float, list[float], int]] = []
    unmatched = 0
    for wrote, answered, job_id in client:
        send = sends.get(job_id)
        if send is None or send[3] is None:
            unmatched += 1
            continue
        parsed, written, began, queued, resumed = send
        at = bisect.bisect_left(starts, queued)
        if at == len(writes):
            unmatched += 1
            continue
        batch_began, committing, size = writes[at]
        committed = commits.get(round(committing, 9))
        if committed is None or committed > resumed:
            unmatched += 1
            continue
        edges = (wrote, parsed, began, queued, batch_began, committing, committed, resumed)
        edges += (written, answered)
        ms = [1000 * (b - a) for a, b in itertools.pairwise(edges)]
        cut.append((1000 * (answered - wrote), ms, size))
    cut.sort(key=lambda c: c[0])
    tail = cut[int(len(cut) * 0.99) :]
    every, slow = _medians(cut), _medians(tail)
    grown = max(PIECES, key=lambda p: slow[p] - every[p]) if cut else None
    return {
        "accepts": len(cut),
        "unmatched": unmatched,
        "total_p50_ms": round(cut[len(cut) // 2][0], 2) if cut else None,
        "total_p99_ms": round(tail[0][0], 2) if tail else None,
        "median_ms": every,
        "slowest_1pct_median_ms": slow,
        "slowest_1pct_batch_size": statistics.median(c[2] for c in tail) if tail else None,
        "batch_size": statistics.median(c[2] for c in cut) if cut else None,
        "holds_the_p99": grown,
    }


def _medians(cut: list[tuple[float, list[float], int]]) -> dict[str, float]:
    if not cut:
        return dict.fromkeys(PIECES, float("nan"))
    return {p: round(statistics.median(c[1][i] for c in cut), 3) for i, p in enumerate(PIECES)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--keep", type=Path, help="keep the trace and the client's times here")
    args = parser.parse_args()
    result = asyncio.run(run(args.seconds, args.clients, args.keep))
    width = max(map(len, PIECES))
    print(
        f"{result['rps']} accepts/s, p50 {result['p50_ms']} / p99 {result['p99_ms']} ms; "
        f"{result['accepts']} cut ({result['unmatched']} not matched); batch of "
        f"{result['batch_size']} (the slowest 1 %: {result['slowest_1pct_batch_size']})"
    )
    print(f"{'piece (median ms)':<{width}}  {'every accept':>12}  {'slowest 1 %':>11}")
    for piece in PIECES:
        every, slow = result["median_ms"][piece], result["slowest_1pct_median_ms"][piece]
        print(f"{piece:<{width}}  {every:>12.3f}  {slow:>11.3f}")
    print(f"what grows most in the tail: {result['holds_the_p99']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
