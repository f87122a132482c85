"""The store's thread stamps its work into the daemon's stall trace (observe.trace): each
batch's writes, its COMMIT and its reads, the checkpointer's passes and the writer's WAL
restarts, on the same monotonic clock as the loop's spans."""

from __future__ import annotations

import asyncio
import json
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
