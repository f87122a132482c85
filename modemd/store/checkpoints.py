"""SQLite's WAL checkpoints off the writer's commits.

A commit appends its pages to the -wal file (fsynced: durable there); a checkpoint copies them
back into the database file and fsyncs that. SQLite runs one inside the commit that takes the
WAL past 1,000 pages (``wal_autocheckpoint``): on the store's thread an fsync of the database
file every ~40 sends (strace of bench.store_alone: 26 per 1,000 sends, p50 3.3 ms), stalling
that commit and every write queued behind it (a report's IPN, a send's record, accepts).

Here the writer's connection never checkpoints. A thread of its own, on a connection of its
own, runs PASSIVE checkpoints (they take no lock a writer waits for) once the writer has
committed nothing for a moment, or every so often while it never pauses, at most once a
second. The WAL starts over from its beginning at the first transaction begun after a pass
that copied every frame (SQLite fsyncs the database file then, not after a partial pass); a
writer that never pauses seldom leaves one (it must begin no transaction during the pass), so
past a high mark the writer restarts the WAL itself (what is left to copy is what came since
the last pass, and the fsync) and the next commit cuts the file back to the mark
(``journal_size_limit``): the WAL is bounded. A crash at any moment loses nothing: a commit
is durable in the WAL, checkpointed or not.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from modemd.errors import StoreError
from modemd.store.opening import BUSY_TIMEOUT_MS

if TYPE_CHECKING:
    from modemd.observe.trace import Recorder

log = logging.getLogger(__name__)

# No commit for this long: the writer is idle, checkpoint now (nobody queues behind it; the
# 0.1 s backlog's writer commits every few ms, a quiet bank's once per event).
IDLE_S = 0.05
# Passes at most this often: a pass that copies the whole WAL lets the writer's next commit
# start it over, and that commit then fsyncs the WAL's new header as well (synchronous=FULL):
# one fsync more at most once a second, where SQLite's own mark made one every ~40 sends.
PASS_EVERY_S = 1.0
# A writer that never idles this long (after the pause above) gets a PASSIVE checkpoint beside
# its commits anyway, so that the restart at the high mark finds little left to copy.
BUSY_EVERY_S = 0.5
# The WAL's length at which the writer restarts it: 1,024 pages (4 MiB at 4 KiB), about SQLite's
# own mark; at 64 x 0.1 s ~23 restarts in a 3 s backlog of 2.4-3.3 ms each (4,096 pages: 5 of
# 4.2-9.1 ms). Chosen on alternating runs of bench/run's 0.1 s row (README "Round 10: the store's
# writer and the stalls"): ratio median 0.983 against 0.958 with 4,096, the same instructions
# per send within callgrind's spread; a shorter WAL also makes each page's lookup shorter.
HIGH_MARK_PAGES = 1024
# A restart refused (the checkpointer's own pass holds the lock, or another process reads an
# old snapshot): the writer tries again this long after, not at every commit.
RESTART_RETRY_S = 0.1
WAL_HEADER_BYTES, FRAME_HEADER_BYTES = 32, 24  # sqlite.org/fileformat.html, "WAL File Format"
# The environment's say (measuring pairs, an escape hatch): "sqlite" leaves the checkpoints to
# SQLite inside the writer's commits (its 1,000-page mark, as before this module); a number of
# pages is the high mark instead of HIGH_MARK_PAGES; unset or "" is this module as it is.
CHECKPOINTS_ENV = "MODEMD_WAL_CHECKPOINTS"
SQLITE_OWN = "sqlite"


def for_file(path: str, setting: str | None = None) -> Checkpointer | None:
    """The checkpointer of the SQLite file ``path`` as ``setting`` (by default the environment's
    ``MODEMD_WAL_CHECKPOINTS``) asks; None: SQLite checkpoints inside the writer's commits."""
    if setting is None:
        setting = os.environ.get(CHECKPOINTS_ENV, "")
    setting = setting.strip()
    if setting == SQLITE_OWN:
        return None
    checkpointer = Checkpointer(path)
    if setting:
        pages = int(setting) if setting.isdigit() else 0
        if pages <= 0:
            raise StoreError(
                f"{CHECKPOINTS_ENV}={setting!r}: expected {SQLITE_OWN!r} or a number of pages"
            )
        checkpointer.high_mark_pages = pages
    return checkpointer


class Checkpointer:
    """The WAL's checkpoints for one SQLite file: ``start`` on the writer's connection, then
    ``committed`` after each of its commits and ``stop`` before it closes (store.db)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.idle_s = IDLE_S  # tests give theirs
        self.busy_every_s = BUSY_EVERY_S
        self.pass_every_s = PASS_EVERY_S
        self.high_mark_pages = HIGH_MARK_PAGES
        self.passes = 0  # PASSIVE checkpoints run (tests, bench)
        self.restarts = 0  # restarts by the writer at the high mark
        self.restart_s = [0.0, 0.0]  # the writer's time in them: total, longest (bench)
        # A stall trace's recorder (store.db): spans of the passes (``wal_pass``: the WAL's
        # frames, those copied) and of the restarts (``wal_restart``: busy, the frames before).
        self.trace: Recorder | None = None
        self._wal = f"{path}-wal"
        # The -wal file, open on the writer's thread from its first commit on: its length is
        # an lseek, not an ``os.stat`` (a stat_result built at each commit, ~7,600
        # instructions). SQLite keeps that file while a connection is open (it deletes it at
        # the last close, and ``journal_size_limit`` truncates it in place).
        self._wal_fd = -1
        self._high_mark_bytes = 0
        self._page = 4096  # the file's page size (start)
        self._retry_at = 0.0
        self._commits = 0
        self._asleep = False
        self._wake = threading.Event()  # set by a commit while the thread sleeps, or by stop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, conn: sqlite3.Connection) -> None:
        """Turn the writer's own checkpoints off and start the thread that runs them."""
        self._page = page = conn.execute("PRAGMA page_size").fetchone()[0]
        self._high_mark_bytes = WAL_HEADER_BYTES + self.high_mark_pages * (
            page + FRAME_HEADER_BYTES
        )
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute(f"PRAGMA journal_size_limit={self._high_mark_bytes}")
        self._thread = threading.Thread(
            target=self._run, name=f"checkpoints {os.path.basename(self.path)}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """End the thread (its connection closed), so the writer's close is the last one and
        checkpoints what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._wal_fd >= 0:
            os.close(self._wal_fd)
            self._wal_fd = -1

    def committed(self, conn: sqlite3.Connection) -> None:
        """On the writer's thread after a commit: wake the thread if it sleeps; past the high
        mark, restart the WAL."""
        self._commits += 1
        if self._asleep:
            self._asleep = False
            self._wake.set()
        fd = self._wal_fd
        if fd < 0:
            try:
                fd = self._wal_fd = os.open(self._wal, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return
        size = os.lseek(fd, 0, os.SEEK_END)
        if size > self._high_mark_bytes and time.monotonic() >= self._retry_at:
            self._restart(conn, size)

    def _restart(self, conn: sqlite3.Connection, size: int) -> None:
        """Copy back what is left and start the WAL over, waiting for nobody (a reader of an
        old snapshot or the checkpointer's pass make it a PASSIVE one: tried again later)."""
        started = time.monotonic()
        conn.execute("PRAGMA busy_timeout=0")
        try:
            busy = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]
        except sqlite3.Error as exc:
            log.warning("WAL restart failed: %s", exc)
            busy = 1
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if busy:
            self._retry_at = time.monotonic() + RESTART_RETRY_S
        else:
            self.restarts += 1
        ended = time.monotonic()
        spent = ended - started
        self.restart_s = [self.restart_s[0] + spent, max(self.restart_s[1], spent)]
        if self.trace is not None:
            frames = (size - WAL_HEADER_BYTES) // (self._page + FRAME_HEADER_BYTES)
            self.trace.span("wal_restart", started, ended, [busy, frames])

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:  # the writer's restarts still bound the WAL
            log.error("checkpoints off: cannot open %s: %s", self.path, exc)
            return
        try:
            done = 0  # the commits up to the last checkpoint
            while not self._stop.is_set():
                self._asleep = True
                if self._commits == done:
                    self._wake.wait()
                self._asleep = False
                self._wake.clear()
                if self._wait_for_idle():
                    done = self._commits
                    self._checkpoint(conn)
                    self._stop.wait(self.pass_every_s)
        finally:
            conn.close()

    def _wait_for_idle(self) -> bool:
        """Wait until the writer committed nothing for ``idle_s``, at most ``busy_every_s``;
        False when stopped meanwhile."""
        began = time.monotonic()
        while True:
            seen = self._commits
            if self._stop.wait(self.idle_s):
                return False
            if self._commits == seen or time.monotonic() - began >= self.busy_every_s:
                return True

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        started = time.monotonic()
        try:
            _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint failed: %s", exc)
            return
        self.passes += 1
        if self.trace is not None:
            self.trace.span("wal_pass", started, time.monotonic(), [frames, copied])
