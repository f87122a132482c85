"""The SQLite file: one connection, one writer thread, group commits.

Every read and write runs on the store's own thread (SQLite allows one writer; a second
connection would only add lock contention); the WAL's checkpoints run on a thread and a
connection of their own (store.checkpoints), not inside the writer's commits. Writes queued
while a commit is under way are applied together in the next transaction, each in its own
savepoint so one failure does not undo the others, then committed once: with WAL and
``synchronous=FULL`` the commit fsyncs the WAL, so an awaited ``write`` means "on disk".
Futures resolve only after the commit, so nothing (no API answer, no IPN) ever acts on a row
that could still roll back.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlite_utils

from modemd.errors import StoreError
from modemd.observe import trace
from modemd.store import batches, checkpoints, dialect
from modemd.store.batches import replayable
from modemd.store.location import is_postgres, redacted
from modemd.store.opening import connect

if TYPE_CHECKING:  # psycopg is imported only when PostgreSQL is used (store.dialect)
    from modemd.store.pg import Listener, PgConnection, PgDatabase

log = logging.getLogger(__name__)

# sqlite3 binds int, float, str and bytes as they are, but a None only after asking the adapter
# registry and the value's type for ``__adapt__`` and ``__conform__`` (two failed lookups, an
# AttributeError formatted and dropped): ~2,100 instructions per None bound (callgrind), and a
# send's statements bind many. A C callable answering None for None skips those lookups (still
# bound as NULL; NoneType is no base type, so int, float and str keep their fast path).
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))

__all__ = ["MAX_BATCH", "Store", "connect", "replayable"]  # replayable: from store.batches

T = TypeVar("T")
MAX_BATCH = 256  # writes folded into one commit at most
# While idle the store thread looks at ``PRAGMA data_version`` this often, so a change another
# process commits (``modemd keys revoke``) reaches the caches within it; busy, before a batch
# when it last looked this long ago (a look per batch was 8 % of the thread under accepts).
DATA_VERSION_POLL_S = 1.0
DATA_VERSION_BUSY_S = 0.05
# A batch of nothing but ``lazy`` writes waits this long for another write to share its commit
# (ours: bench ipn-busy, 16 modems, had a commit of its own for many an IPN attempt's record,
# and the reports waited behind those fsyncs); a write that comes meanwhile ends the wait.
LAZY_LINGER_S = 0.005
# Tables whose changes through this connection are counted (Store.changes): a cache of api_keys
# rows starts over when they move (Store.generation), the IPN sender wakes when the outbox does.
WATCHED = ("api_keys", "events")
# On SQLite, the changes counted (by temporary triggers): every one of api_keys; of the outbox, a
# row pending after it, what the IPN sender posts (an event without an endpoint, a delivery
# recorded, a deletion wake nobody; the sender wakes itself after each post it finished).
PENDING = "WHEN NEW.state = 'pending' "
COUNTED = {
    "api_keys": {"INSERT": "", "UPDATE": "", "DELETE": ""},
    "events": {"INSERT": PENDING, "UPDATE": PENDING},
}

_STOP = object()


class Store:
    """Async front of the database; all SQL runs on one thread."""

    def __init__(self, path: str | Path, *, host_id: str | None = None) -> None:
        self.path = str(path)  # a file, or a PostgreSQL URL
        self._postgres = is_postgres(self.path)
        # PostgreSQL may be shared by several hosts: this one's id (None: SQLite, a lone host).
        self.host_id = host_id if is_postgres(self.path) else None
        self._listener: Listener | None = None
        # Run on the loop when another host (or this one) made a job claimable (PostgreSQL).
        self.on_queue_notify: list[Callable[[], None]] = []
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.lazy_linger_s = LAZY_LINGER_S  # tests give it their own
        self._thread: threading.Thread | None = None
        self._db: sqlite_utils.Database | None = None
        self.on_commit: list[Callable[[], None]] = []  # run on the loop after each commit
        # Run on the loop after a commit that changed the table (any commit when not watched)
        # or when another process committed: a reader of it looks again (no poll, no waste).
        self.on_change: dict[str, list[Callable[[], None]]] = {table: [] for table in WATCHED}
        # (read, take): ``read(db)`` runs on the store's thread right after a commit that
        # changed the table, and ``take`` gets its result on the loop with the batch's outcomes:
        # what a reader wants to know about a change, without a trip of its own (the IPN
        # sender's due events). Only where changes are watched (else every commit would read).
        self.after_change: dict[str, list[tuple[Callable[[Any], Any], Callable[[Any], None]]]]
        self.after_change = {table: [] for table in WATCHED}
        # Given on the loop, in the same wake-up as the batch's answers, what its committed
        # writes ``batches.stage``d (the outbox's new events, each first in line for its job:
        # the IPN sender posts them without a read). SQLite alone: on PostgreSQL hosts lease
        # what they post, so the sender reads (and takes) the outbox itself.
        self.on_staged: list[Callable[[list[Any]], None]] = []
        # Called on the store's thread with each commit's duration in seconds (metrics).
        self.on_commit_seconds: list[Callable[[float], None]] = []
        # Per WATCHED table, moves (on the store's thread) when a row of it changed here, or
        # when another process committed anything.
        self.changes = dict.fromkeys(WATCHED, 0)
        self.watched = False  # True once changes are watched (after start); else nothing caches
        self._data_version = 0
        self._version_read_at = 0.0  # time.monotonic() of the last look at it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._keys_listener: Listener | None = None
        self._keys_elsewhere = 0  # NOTIFYs of api_keys changes (PostgreSQL; on the loop only)
        # The daemon's stall trace (None unless asked for): the thread stamps its commits.
        self._trace = trace.recorder()
        # SQLite's WAL checkpoints, off the writer's commits (tests give theirs their timing;
        # None: PostgreSQL, or SQLite's own inside the commits as MODEMD_WAL_CHECKPOINTS says).
        self.checkpoints = None if self._postgres else checkpoints.for_file(self.path)
        if self.checkpoints is not None:
            self.checkpoints.trace = self._trace

    @property
    def generation(self) -> int:
        """Moves when api_keys may have changed: a cache of keys (store.keys.KeyCache) starts
        over (on PostgreSQL also when another process's change was notified)."""
        return self.changes["api_keys"] + self._keys_elsewhere

    async def start(self) -> None:
        """Open the file (migrations included) on the store's thread."""
        ready: Future[None] = Future()
        loop = self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._run,
            args=(loop, ready),
            name="store postgresql" if is_postgres(self.path) else f"store {Path(self.path).name}",
            daemon=True,
        )
        self._thread.start()
        await asyncio.wrap_future(ready)
        if is_postgres(self.path):
            from modemd.store.pg import Listener

            self._listener = Listener(
                self.path,
                dialect.QUEUE_CHANNEL,
                lambda: loop.call_soon_threadsafe(self._notified),
                ignore=self.host_id or "",
            )
            self._listener.start()
            # Every writer of api_keys NOTIFYs (store.pg): a change by another host or the
            # CLI empties the key cache when it arrives (and after a reconnection).
            database = cast("PgDatabase", self._db)
            self._keys_listener = Listener(
                self.path,
                dialect.KEYS_CHANNEL,
                lambda: loop.call_soon_threadsafe(self._keys_changed_elsewhere),
                ignore=database.conn.token,  # its own writes are counted as they are made
            )
            self._keys_listener.start()

    def _keys_changed_elsewhere(self) -> None:
        self._keys_elsewhere += 1

    def _notified(self) -> None:
        for callback in self.on_queue_notify:
            callback()

    async def close(self) -> None:
        """Finish queued work, then close the connection."""
        for listener in (self._listener, self._keys_listener):
            if listener is not None:
                await asyncio.to_thread(listener.stop)
        self._listener = self._keys_listener = None
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(db, *args, **kwargs)`` in a write transaction; return once committed.

        A caller cancelled while waiting does not cancel the write: it is applied anyway."""
        return await self.queue_write(fn, *args, **kwargs)

    def queue_write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """``write``, queued now: its future resolves once committed. The send path shields
        it to get the outcome after a cancellation (no task wrapped around a coroutine)."""
        return self._put(batches.kind_of(fn), lambda db: fn(db, *args, **kwargs), fn)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(db, *args, **kwargs)`` outside any write transaction."""
        return await self._put(batches.READ, lambda db: fn(db, *args, **kwargs), fn)

    def _put(
        self, kind: int, call: Callable[[sqlite_utils.Database], T], fn: Callable[..., T]
    ) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if self._trace is None:
            self._queue.put((kind, call, future))
        else:  # when, and what: its batch stamps each write's wait in the queue
            self._queue.put((kind, call, future, (time.monotonic(), batches.name_of(fn))))
        return future

    # -- the store's thread -----------------------------------------------------------------

    def _run(self, loop: asyncio.AbstractEventLoop, ready: Future[None]) -> None:
        try:
            self._db = connect(self.path)
            if self._postgres:
                cast("PgDatabase", self._db).host_id = self.host_id
            self._watch(self._db.conn)
            if self.checkpoints is not None:
                self.checkpoints.start(self._db.conn)
        except Exception as exc:
            ready.set_exception(StoreError(f"cannot open {redacted(self.path)}: {exc}"))
            return
        ready.set_result(None)
        rest: list[Any] = []  # taken from the queue, left for the next batch (``next_batch``)
        try:
            while True:
                leftover = bool(rest)  # left by an urgent batch: runs whole, never starved
                if not leftover:
                    try:
                        item = self._queue.get(timeout=DATA_VERSION_POLL_S)
                    except queue.Empty:
                        self._look_for_outside_changes()
                        continue
                    if item is _STOP:
                        return
                    rest = [item]
                if time.monotonic() - self._version_read_at >= DATA_VERSION_BUSY_S:
                    self._look_for_outside_changes()  # before the batch: its reads may be cached
                self._take_queued(rest)
                if batches.all_lazy(rest):
                    self._take_queued(rest, self.lazy_linger_s)
                batch, rest = (rest, []) if leftover else batches.next_batch(rest)
                self._run_batch(loop, batch)
        finally:
            if self.checkpoints is not None:
                self.checkpoints.stop()  # first: the writer's close is then the last one
            self._db.conn.close()
            batches.thread_done()

    def _run_batch(self, loop: asyncio.AbstractEventLoop, batch: list[Any]) -> None:
        """Commit ``batch``'s writes and hand their answers (and what they staged) to the loop,
        then run its reads and hand theirs, then the reads after a change: a writer waits for
        none of those reads (a report's IPN, a send's next command)."""
        if self._postgres:
            cast("PgDatabase", self._db).reconnect_if_lost()
        outcomes: list[Any] = []
        before = dict(self.changes)
        staged: list[Any] | None = self._staging()
        writes = [item for item in batch if item[0]]
        committed = self._process(writes, outcomes, staged)
        done = time.monotonic() if self._trace is not None else 0.0
        moved = [
            table
            for table in WATCHED
            if committed and (self.changes[table] != before[table] or not self.watched)
        ]
        if writes:
            loop.call_soon_threadsafe(self._deliver, outcomes, committed, moved, staged, done)
        if len(writes) < len(batch):
            answers: list[Any] = []
            self._process([item for item in batch if not item[0]], answers, None)
            loop.call_soon_threadsafe(self._deliver, answers, False, [])
        if self.watched:
            self._after_change(loop, _unhanded(moved, staged, self.changes, before))
        if committed and self.checkpoints is not None:  # after the answers: nobody waits for it
            self.checkpoints.committed(cast("sqlite_utils.Database", self._db).conn)

    def _take_queued(self, batch: list[Any], wait_s: float = 0.0) -> None:
        """Add what is queued to ``batch`` (up to ``MAX_BATCH``), the first after up to
        ``wait_s``. An empty queue is looked at, not asked for an item: ``get_nowait`` raises
        ``queue.Empty`` (made, raised and caught at each lone write's batch)."""
        queued = self._queue
        while len(batch) < MAX_BATCH:
            if not wait_s and queued.empty():  # (this thread is the queue's only reader)
                return
            try:
                nxt = queued.get(timeout=wait_s) if wait_s else queued.get_nowait()
            except queue.Empty:
                return
            if nxt is _STOP:
                self._queue.put(_STOP)
                return
            batch.append(nxt)
            wait_s = 0.0

    def _staging(self) -> list[Any] | None:
        """A list for what the batch stages, when someone takes it (SQLite, changes watched)."""
        return [] if self.on_staged and self.watched and not self._postgres else None

    def _watch(self, conn: Any) -> None:
        """Temporary (this connection's own) triggers count the changes of WATCHED tables; on
        PostgreSQL the connection tells of each write itself."""
        if self._postgres:
            cast("PgConnection", conn).on_write = self._changed
            self.watched = True
            return
        if not isinstance(conn, sqlite3.Connection):
            return
        conn.create_function("modemd_changed", 1, self._changed)
        for table in WATCHED:
            for op, when in COUNTED[table].items():
                conn.execute(
                    f"CREATE TEMP TRIGGER IF NOT EXISTS modemd_{table}_{op.lower()} AFTER {op} "
                    f"ON main.{table} {when}BEGIN SELECT modemd_changed('{table}'); END"
                )
        self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        self.watched = True

    def _changed(self, table: str) -> None:
        if table in self.changes:
            self.changes[table] += 1

    def _look_for_outside_changes(self) -> None:
        assert self._db is not None
        if not self.watched or not isinstance(self._db.conn, sqlite3.Connection):
            return  # PostgreSQL: other processes' key changes come by NOTIFY
        self._version_read_at = time.monotonic()
        version = self._db.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            for table in WATCHED:
                self._changed(table)
            if self._loop is not None:  # e.g. ``modemd ipn replay``: the sender looks now
                self._loop.call_soon_threadsafe(self._deliver, [], False, list(WATCHED))
                self._after_change(self._loop, list(WATCHED))

    def _after_change(self, loop: asyncio.AbstractEventLoop, moved: list[str]) -> None:
        """Run the ``after_change`` reads of the tables that moved; their takers get them on
        the loop, after the batch's answers (same order as any later batch's: FIFO)."""
        assert self._db is not None
        started = time.monotonic() if self._trace is not None else 0.0
        reads = []
        for table in moved:
            for read, take in self.after_change[table]:
                try:
                    reads.append((take, read(self._db)))
                except Exception:  # never the store's thread: the reader's own trip will tell
                    log.exception("read after a change of %s failed", table)
        if reads:
            loop.call_soon_threadsafe(_hand_over, reads)
            if self._trace is not None:
                self._trace.span("store_after_change", started, time.monotonic(), len(reads))

    def _deliver(
        self,
        outcomes: list[Any],
        committed: bool,
        moved: list[str],
        staged: list[Any] | None = None,
        done: float = 0.0,
    ) -> None:
        """On the loop: resolve a batch's writes (or its reads) at once (one wake-up), then
        hand on what they staged, then the hooks of a commit and of the WATCHED tables that
        moved (with another process's commit, all of them). ``done``: when the store's
        thread was done with the writes (traced: ``store_answered`` spans it to their
        answers)."""
        for future, ok, value in outcomes:
            _resolve(future, ok, value)
        if done and self._trace is not None:
            self._trace.span("store_answered", done, time.monotonic(), len(outcomes))
        if staged:
            for take in self.on_staged:
                take(staged)
        if committed:
            for callback in self.on_commit:
                callback()
        for table in moved:
            for callback in self.on_change[table]:
                callback()

    def _process(self, batch: list[Any], outcomes: list[Any], staged: list[Any] | None) -> bool:
        assert self._db is not None
        return batches.process(
            self._db, batch, outcomes, self.on_commit_seconds, staged, self._trace
        )


def _unhanded(
    moved: list[str], staged: list[Any] | None, changes: dict[str, int], before: dict[str, int]
) -> list[str]:
    """The tables whose ``after_change`` reads run: not the outbox when each change to it was
    a new event handed on as staged (each such insert counts one), for what they would read
    is on its way already. Anything more (an event made pending again, an event waiting for an
    older one of its job, a write rolled back: it counted) and the read runs."""
    if staged and "events" in moved and changes["events"] - before["events"] == len(staged):
        return [table for table in moved if table != "events"]
    return moved


def _hand_over(reads: list[tuple[Callable[[Any], None], Any]]) -> None:
    for take, value in reads:
        take(value)


def _resolve(future: Any, ok: bool, value: Any) -> None:
    """Hand the outcome to the caller, unless the caller gave up waiting (the write stands)."""
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
