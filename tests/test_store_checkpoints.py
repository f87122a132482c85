"""The WAL's checkpoints run off the writer's commits (store.checkpoints): the writer's own
connection never checkpoints, a thread of its own copies the WAL back once the writer idles,
the writer restarts a WAL past the high mark (bounded under writes that never pause, tried
again when a reader held it), and a kill -9 loses no committed write."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils

from modemd.errors import StoreError
from modemd.store import checkpoints
from modemd.store.db import Store

pytestmark = pytest.mark.sqlite_only

DEADLINE_S = 20.0  # generous: the machine may be loaded
NEVER_S = 3600.0  # a checkpointer timing that never comes within a test
PAGE = 4096
ROW = b"x" * 3000  # a blob that fills most of a page: a row, a page (and its index entry)


def _table(db: sqlite_utils.Database) -> None:
    db.conn.execute("CREATE TABLE IF NOT EXISTS bulk (n INTEGER PRIMARY KEY, b BLOB)")


def _rows(db: sqlite_utils.Database, first: int, count: int) -> None:
    db.conn.executemany(
        "INSERT INTO bulk (n, b) VALUES (?, ?)", [(n, ROW) for n in range(first, first + count)]
    )


def _size(path: Path) -> int:
    return path.stat().st_size


def _pages(path: Path) -> int:
    return _size(path) // PAGE


async def _started(path: Path, *, idle_s: float, busy_every_s: float, mark: int = 0) -> Store:
    store = Store(path)
    assert store.checkpoints is not None
    store.checkpoints.idle_s, store.checkpoints.busy_every_s = idle_s, busy_every_s
    if mark:
        store.checkpoints.high_mark_pages = mark
    await store.start()
    await store.write(_table)
    return store


async def test_the_writers_commit_does_not_checkpoint(tmp_path: Path) -> None:
    """A commit of 1,500 pages (SQLite's own mark: 1,000) leaves the database file as it was:
    its pages are in the WAL only, nothing copied back inside the commit."""
    path = tmp_path / "modemd.db"
    # The writer's own restart at its mark (1,024 pages, below this commit) would copy the pages
    # back after the commit, racing the size read below: the mark is another test's.
    store = await _started(path, idle_s=NEVER_S, busy_every_s=NEVER_S, mark=4096)
    try:
        pragma = await store.read(lambda db: db.conn.execute("PRAGMA wal_autocheckpoint"))
        assert pragma.fetchone() == (0,)
        before = _pages(path)
        await store.write(_rows, 0, 1500)
        assert _pages(path) == before
        assert _size(Path(f"{path}-wal")) > 1500 * PAGE
    finally:
        await store.close()


async def test_an_idle_writer_has_its_wal_copied_back(tmp_path: Path) -> None:
    """300 pages (below SQLite's own mark) reach the database file once the writer idles."""
    path = tmp_path / "modemd.db"
    store = await _started(path, idle_s=0.01, busy_every_s=NEVER_S)
    try:
        before = _pages(path)
        await store.write(_rows, 0, 300)
        checkpoints = store.checkpoints
        assert checkpoints is not None
        deadline = time.monotonic() + DEADLINE_S
        # The file grows during the pass, which is counted once it returns: wait for both.
        while (_pages(path) < before + 250 or checkpoints.passes < 1) and (
            time.monotonic() < deadline
        ):
            await asyncio.sleep(0.02)
        assert _pages(path) >= before + 250  # (less a few free pages the migrations left)
        assert checkpoints.passes >= 1
    finally:
        await store.close()
    assert not any(t.name.startswith("checkpoints") for t in threading.enumerate())


def _wal_descriptors(wal: Path) -> int:
    """This process's descriptors open on ``wal``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == str(wal)
        except OSError:  # (the listing's own descriptor, gone)
            continue
    return count


def _left(wal: Path) -> tuple[int, bool]:
    """Descriptors still open on ``wal``, and whether it is there."""
    return _wal_descriptors(wal), wal.exists()


async def test_the_wals_length_is_read_through_one_descriptor_closed_at_the_end(
    tmp_path: Path,
) -> None:
    """The writer reads the -wal file's length after each commit through a descriptor of its
    own (an lseek), opened at its first commit and closed before the connection: none is
    left open on the file once the store closes (SQLite deletes it then)."""
    path = tmp_path / "modemd.db"
    wal = Path(f"{path}-wal")
    store = await _started(path, idle_s=NEVER_S, busy_every_s=NEVER_S)
    try:
        await store.write(_rows, 0, 10)
        assert _left(wal)[0] >= 1  # (SQLite's own, and the writer's length reader)
    finally:
        await store.close()
    assert _left(wal) == (0, False)


async def test_passes_come_at_most_once_per_pass_every_s(tmp_path: Path) -> None:
    """A pass that copies the whole WAL makes the writer's next commit fsync a new WAL header:
    after one pass, the next waits ``pass_every_s`` however idle the writer."""
    path = tmp_path / "modemd.db"
    store = await _started(path, idle_s=0.01, busy_every_s=NEVER_S)
    assert store.checkpoints is not None
    store.checkpoints.pass_every_s = NEVER_S
    try:
        deadline = time.monotonic() + DEADLINE_S
        while store.checkpoints.passes == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert store.checkpoints.passes == 1
        pages = _pages(path)
        await store.write(_rows, 0, 50)
        await asyncio.sleep(0.3)  # 30 x idle_s
        assert store.checkpoints.passes == 1 and _pages(path) == pages
    finally:
        await store.close()


async def test_the_wal_stays_bounded_when_the_writer_never_idles(tmp_path: Path) -> None:
    """400 commits of 4 rows each, back to back, no checkpoint pass: the writer restarts the WAL
    past the high mark (64 pages), and the next commit cuts the file back to it."""
    path, wal = tmp_path / "modemd.db", Path(f"{tmp_path / 'modemd.db'}-wal")
    mark = 64
    store = await _started(path, idle_s=NEVER_S, busy_every_s=NEVER_S, mark=mark)
    try:
        largest = 0
        for n in range(400):
            await store.write(_rows, 4 * n, 4)
            largest = max(largest, _size(wal))
        assert store.checkpoints is not None and store.checkpoints.restarts >= 10
        assert largest <= (mark + 16) * (PAGE + 24)  # the mark and a commit's pages
        count = await store.read(lambda db: db.conn.execute("SELECT count(*) FROM bulk"))
        assert count.fetchone() == (1600,)
    finally:
        await store.close()


async def test_a_restart_refused_by_a_reader_is_tried_again(tmp_path: Path) -> None:
    """Another connection holding an old snapshot keeps the WAL from starting over: the writer
    goes on (it waits for no reader), and once the reader is gone a restart bounds it again."""
    path, wal = tmp_path / "modemd.db", Path(f"{tmp_path / 'modemd.db'}-wal")
    mark = 64
    store = await _started(path, idle_s=NEVER_S, busy_every_s=NEVER_S, mark=mark)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        await store.write(_rows, 0, 1)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM bulk").fetchone() == (1,)
        assert store.checkpoints is not None
        restarts = store.checkpoints.restarts  # (the migrations' WAL was past the mark)
        for n in range(1, 60):
            await store.write(_rows, 4 * n, 4)
        assert store.checkpoints.restarts == restarts
        assert _size(wal) > 2 * mark * PAGE
        reader.execute("COMMIT")
        n = 60
        deadline = time.monotonic() + DEADLINE_S
        while store.checkpoints.restarts == restarts and time.monotonic() < deadline:
            await store.write(_rows, 4 * n, 4)
            n += 1
            await asyncio.sleep(0.01)
        assert store.checkpoints.restarts > restarts
        await store.write(_rows, 4 * n, 4)  # the commit after the restart cuts the file
        assert _size(wal) <= (mark + 16) * (PAGE + 24)
    finally:
        reader.close()
        await store.close()


CHILD = """
import asyncio, sys
from modemd.store.db import Store

async def main():
    store = Store(sys.argv[1])
    store.checkpoints.idle_s = 0.001  # checkpoint passes as often as they can come
    store.checkpoints.pass_every_s = 0.0
    store.checkpoints.high_mark_pages = 64  # and restarts
    await store.start()
    await store.write(lambda db: db.conn.execute("CREATE TABLE bulk (n INTEGER PRIMARY KEY, b)"))
    n = 0
    while True:
        await store.write(lambda db, n=n: db.conn.executemany(
            "INSERT INTO bulk VALUES (?, ?)", [(n * 8 + k, b"x" * 3000) for k in range(8)]))
        print(n, flush=True)  # committed: durable from here
        n += 1
        if n % 7 == 0:
            await asyncio.sleep(0.003)  # an idle moment: a checkpoint pass may start

asyncio.run(main())
"""


def test_kill_minus_nine_loses_no_committed_write(tmp_path: Path) -> None:
    """A writer killed -9 amid its checkpoint passes and restarts: every write it answered is
    in the database when it is opened again."""
    path = tmp_path / "modemd.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    answered = -1
    for line in child.stdout:
        answered = int(line)
        if answered >= 300:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    for line in child.stdout:  # written before the kill: answered too
        answered = int(line)
    conn = sqlite3.connect(path)
    try:
        count = conn.execute("SELECT count(*) FROM bulk").fetchone()[0]
        assert count >= (answered + 1) * 8
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


async def test_sqlite_own_checkpoints_when_the_environment_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MODEMD_WAL_CHECKPOINTS=sqlite``: no checkpointer, and the commit that takes the WAL past
    SQLite's own mark copies it back into the database file itself (as before the thread)."""
    monkeypatch.setenv(checkpoints.CHECKPOINTS_ENV, "sqlite")
    path = tmp_path / "modemd.db"
    store = Store(path)
    assert store.checkpoints is None
    await store.start()
    try:
        await store.write(_table)
        pragma = await store.read(lambda db: db.conn.execute("PRAGMA wal_autocheckpoint"))
        assert pragma.fetchone() == (1000,)
        before = _pages(path)
        await store.write(_rows, 0, 1500)
        assert _pages(path) >= before + 1400
    finally:
        await store.close()


def test_the_environment_sets_the_high_mark_or_is_refused(tmp_path: Path) -> None:
    """A number of pages is the mark; anything else but "sqlite" is a clear error."""
    path = str(tmp_path / "modemd.db")
    default = checkpoints.for_file(path, "")
    assert default is not None and default.high_mark_pages == checkpoints.HIGH_MARK_PAGES
    chosen = checkpoints.for_file(path, " 1024 ")
    assert chosen is not None and chosen.high_mark_pages == 1024
    for wrong in ("0", "-5", "lots", "SQLite"):
        with pytest.raises(StoreError, match="MODEMD_WAL_CHECKPOINTS"):
            checkpoints.for_file(path, wrong)
