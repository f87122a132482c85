"""The store's thread stamps its work into the daemon's stall trace (observe.trace): each
batch's writes, its COMMIT and its reads, the checkpointer's passes and the writer's WAL
restarts, on the same monotonic clock as the loop's spans."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from modemd.observe import trace
from modemd.store.db import Store

pytestmark = pytest.mark.sqlite_only

DEADLINE_S = 20.0  # generous: the machine may be loaded
ROW = b"x" * 3000  # a row, a page


def _table(db: sqlite_utils.Database) -> None:
    db.conn.execute("CREATE TABLE IF NOT EXISTS bulk (n INTEGER PRIMARY KEY, b BLOB)")


def _rows(db: sqlite_utils.Database, first: int, count: int) -> None:
    db.conn.executemany(
        "INSERT INTO bulk (n, b) VALUES (?, ?)", [(n, ROW) for n in range(first, first + count)]
    )


def _count(db: sqlite_utils.Database) -> int:
    return int(db.conn.execute("SELECT count(*) FROM bulk").fetchone()[0])


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "stalls.json"
    trace.begin(str(path))
    try:
        yield path
    finally:
        trace.end()


def _spans(path: Path) -> dict[str, list[list[Any]]]:
    found: dict[str, list[list[Any]]] = {}
    for kind, thread, start, end, detail in json.loads(path.read_text())["spans"]:
        found.setdefault(kind, []).append([thread, start, end, detail])
    return found


async def test_commits_reads_passes_and_restarts_are_stamped(tmp_path: Path, traced: Path) -> None:
    began = time.monotonic()
    store = Store(tmp_path / "modemd.db")
    assert store.checkpoints is not None
    store.checkpoints.high_mark_pages = 64  # restarts within a few commits
    store.checkpoints.idle_s, store.checkpoints.pass_every_s = 0.01, 0.0
    await store.start()
    try:
        await store.write(_table)
        for n in range(40):
            await asyncio.gather(store.write(_rows, 8 * n, 4), store.write(_rows, 8 * n + 4, 4))
        assert await store.read(_count) == 320
        deadline = time.monotonic() + DEADLINE_S
        while store.checkpoints.passes == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await store.close()
    trace.end()
    spans = _spans(traced)
    for kind in ("store_writes", "store_commit", "store_reads", "wal_restart", "wal_pass"):
        assert spans.get(kind), kind
        for _, start, end, _ in spans[kind]:
            assert began <= start <= end <= time.monotonic()
    assert {thread for thread, *_ in spans["store_commit"]} == {"store modemd.db"}
    assert {thread for thread, *_ in spans["wal_pass"]} == {"checkpoints modemd.db"}
    # a commit's detail: its writes (two shared one commit at least once), the thread's CPU
    assert max(writes for *_, (writes, _) in spans["store_commit"]) == 2
    assert sum(writes for *_, (writes, _) in spans["store_commit"]) >= 81
    for kind in ("store_writes", "store_commit"):
        for _, start, end, (_, cpu_ms) in spans[kind]:
            assert 0 <= cpu_ms <= (end - start) * 1000 + 1  # (clock ticks may round it up)
    # each commit's span comes right after its writes' span, on the same thread
    writes, commits = spans["store_writes"], spans["store_commit"]
    assert len(writes) == len(commits)
    assert all(w[2] == c[1] for w, c in zip(writes, commits, strict=True))
    assert store.checkpoints.restarts >= 1
    # (a restart refused while the thread's pass held the lock is stamped too: busy 1)
    assert all(frames > 64 for *_, (_, frames) in spans["wal_restart"])
    assert any(busy == 0 for *_, (busy, _) in spans["wal_restart"])
    assert all(copied <= frames for *_, (frames, copied) in spans["wal_pass"])


def _held(db: sqlite_utils.Database, entered: threading.Event, gate: threading.Event) -> None:
    entered.set()
    gate.wait(DEADLINE_S)  # the store's thread held here: what is queued meanwhile waits


async def test_each_write_s_wait_in_the_queue_and_its_answer_are_stamped(
    tmp_path: Path, traced: Path
) -> None:
    """A write's pieces: queued -> its batch's start (``store_queued``: each write by its
    function, with its wait), the batch's writes and COMMIT, then the loop's
    ``store_answered`` (the thread done -> the answers resolved on the loop)."""
    store = Store(tmp_path / "modemd.db")
    await store.start()
    entered, gate = threading.Event(), threading.Event()
    try:
        await store.write(_table)
        held = store.queue_write(_held, entered, gate)
        assert await asyncio.to_thread(entered.wait, DEADLINE_S)
        queued = time.monotonic()
        waiting = [store.queue_write(_rows, 4 * n, 4) for n in range(3)]
        await asyncio.sleep(0.05)  # they wait behind the held write at least this long
        gate.set()
        await asyncio.gather(held, *waiting)
        answered = time.monotonic()
    finally:
        gate.set()
        await store.close()
    trace.end()
    spans = _spans(traced)
    batches = [s for s in spans["store_queued"] if [n for n, _ in s[3]] == ["_rows"] * 3]
    assert len(batches) == 1  # the three shared the batch after the held one
    thread, start, end, waits = batches[0]
    assert thread == "store modemd.db"
    assert queued <= start and end - start >= 0.05
    assert all(50 <= wait <= (end - start) * 1000 + 0.01 for _, wait in waits)
    assert max(wait for _, wait in waits) == round((end - start) * 1000, 3)
    # the batch's writes begin where its wait ends; its answers are handed after its COMMIT
    writes = [s for s in spans["store_writes"] if s[3][0] == 3]
    assert len(writes) == 1 and writes[0][1] >= end
    commit = next(s for s in spans["store_commit"] if s[1] == writes[0][2])
    answers = [s for s in spans["store_answered"] if s[3] == 3]
    assert len(answers) == 1
    loop_thread, a, b, _ = answers[0]
    assert loop_thread == "MainThread" and commit[2] <= a <= b <= answered
