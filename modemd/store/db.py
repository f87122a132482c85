"""The SQLite file: one connection, one writer thread, group commits.

Every read and write runs on the store's own thread (SQLite allows one writer; a second
connection would only add lock contention). Writes queued while a commit is under way are
applied together in the next transaction, each in its own savepoint so one failure does not
undo the others, then committed once: with WAL and ``synchronous=FULL`` the commit fsyncs the
WAL, so an awaited ``write`` means "on disk". Futures resolve only after the commit, so nothing
(no API answer, no IPN) ever acts on a row that could still roll back.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from modemd.store import dialect
from modemd.store.location import is_postgres, redacted
from modemd.store.opening import connect

if TYPE_CHECKING:  # psycopg is imported only when PostgreSQL is used (store.dialect)
    from modemd.store.pg import Listener, PgConnection, PgDatabase

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 256  # writes folded into one commit at most
# While idle the store thread looks at ``PRAGMA data_version`` this often, so a change another
# process commits (``modemd keys revoke``) reaches the caches within it; busy, before a batch
# when it last looked this long ago (a look per batch was 8 % of the thread under accepts).
DATA_VERSION_POLL_S = 1.0
DATA_VERSION_BUSY_S = 0.05
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
# What a queued call is: a read, a write, or a ``replayable`` write.
_READ, _WRITE, _REPLAYABLE = 0, 1, 2
_REPLAYABLE_MARK = "_modemd_replayable"

F = TypeVar("F", bound=Callable[..., Any])


def replayable(fn: F) -> F:
    """Mark a write function whose only effect is on the database (no state of its own kept,
    nothing done outside the transaction), so that running it again after a rollback is as
    if it ran once: batches of such writes share a commit without a savepoint each
    (``Store._commit``)."""
    setattr(fn, _REPLAYABLE_MARK, True)
    return fn


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
        kind = _REPLAYABLE if getattr(fn, _REPLAYABLE_MARK, False) else _WRITE
        return await self._submit(kind, lambda db: fn(db, *args, **kwargs))

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(db, *args, **kwargs)`` outside any write transaction."""
        return await self._submit(_READ, lambda db: fn(db, *args, **kwargs))

    async def _submit(self, write: int, call: Callable[[sqlite_utils.Database], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((write, call, future))
        return await future

    # -- the store's thread -----------------------------------------------------------------

    def _run(self, loop: asyncio.AbstractEventLoop, ready: Future[None]) -> None:
        try:
            self._db = connect(self.path)
            if self._postgres:
                cast("PgDatabase", self._db).host_id = self.host_id
            self._watch(self._db.conn)
        except Exception as exc:
            ready.set_exception(StoreError(f"cannot open {redacted(self.path)}: {exc}"))
            return
        ready.set_result(None)
        try:
            while True:
                try:
                    item = self._queue.get(timeout=DATA_VERSION_POLL_S)
                except queue.Empty:
                    self._look_for_outside_changes()
                    continue
                if time.monotonic() - self._version_read_at >= DATA_VERSION_BUSY_S:
                    self._look_for_outside_changes()  # before the batch: its reads may be cached
                if item is _STOP:
                    return
                batch = [item]
                while len(batch) < MAX_BATCH:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        self._queue.put(_STOP)
                        break
                    batch.append(nxt)
                if self._postgres:
                    cast("PgDatabase", self._db).reconnect_if_lost()
                outcomes: list[Any] = []
                before = dict(self.changes)
                committed = self._process(batch, outcomes)
                moved = [
                    table
                    for table in WATCHED
                    if committed and (self.changes[table] != before[table] or not self.watched)
                ]
                loop.call_soon_threadsafe(self._deliver, outcomes, committed, moved)
                if self.watched:  # after the answers: the writers do not wait for the reads
                    self._after_change(loop, moved)
        finally:
            self._db.conn.close()

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
        reads = []
        for table in moved:
            for read, take in self.after_change[table]:
                try:
                    reads.append((take, read(self._db)))
                except Exception:  # never the store's thread: the reader's own trip will tell
                    log.exception("read after a change of %s failed", table)
        if reads:
            loop.call_soon_threadsafe(_hand_over, reads)

    def _deliver(self, outcomes: list[Any], committed: bool, moved: list[str]) -> None:
        """On the loop: resolve a whole batch at once (one wake-up), then the hooks of a commit
        and of the WATCHED tables that moved (with another process's commit, all of them)."""
        for future, ok, value in outcomes:
            _resolve(future, ok, value)
        if committed:
            for callback in self.on_commit:
                callback()
        for table in moved:
            for callback in self.on_change[table]:
                callback()

    def _process(self, batch: list[Any], outcomes: list[Any]) -> bool:
        """Run the batch in queue order: consecutive writes share one commit, and a read
        queued after a write sees it. True when something was committed."""
        writes: list[Any] = []
        committed = False
        for item in batch:
            if item[0]:
                writes.append(item)
                continue
            if writes:
                committed |= self._commit(writes, outcomes)
                writes = []
            self._call(item[1], item[2], outcomes)
        if writes:
            committed |= self._commit(writes, outcomes)
        return committed

    def _commit(self, writes: list[Any], outcomes: list[Any]) -> bool:
        """Apply ``writes`` in one transaction and commit it; True when committed.

        Several writes sharing the commit run each in its own savepoint, so a failing one is
        undone alone. A savepoint is not free on SQLite (every page written under it is first
        copied to a journal), so a lone write runs without one (the transaction undoes it), and
        so does a batch of ``replayable`` writes: should one of them fail, the whole batch is
        rolled back and run again, a savepoint each."""
        optimistic = len(writes) == 1 or all(item[0] == _REPLAYABLE for item in writes)
        committed = self._transaction(writes, outcomes, savepoints=not optimistic)
        if committed is None:  # a replayable write failed: all rolled back, run them again
            committed = self._transaction(writes, outcomes, savepoints=True)
        assert committed is not None  # with savepoints a failing write is undone alone
        return committed

    def _transaction(
        self, writes: list[Any], outcomes: list[Any], *, savepoints: bool
    ) -> bool | None:
        """``_commit``'s one try: None when a write failed in a batch without savepoints
        (everything rolled back, nothing answered yet)."""
        assert self._db is not None
        conn = self._db.conn
        results: list[tuple[Any, bool, Any]] = []
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for _, call, future in writes:
                if savepoints:
                    conn.execute("SAVEPOINT job")
                try:
                    value = call(self._db)
                except Exception as exc:
                    conn.execute("ROLLBACK TO job" if savepoints else "ROLLBACK")
                    if savepoints:
                        conn.execute("RELEASE job")
                    elif len(writes) > 1:
                        return None
                    if isinstance(exc, dialect.DATABASE_ERRORS):  # disk full, I/O, corruption
                        log.error("store write failed: %s", exc)
                        exc = StoreError(f"database write failed: {exc}")
                    results.append((future, False, exc))
                    if not savepoints:  # a lone write, rolled back: nothing to commit
                        outcomes.extend(results)
                        return False
                else:
                    if savepoints:
                        conn.execute("RELEASE job")
                    results.append((future, True, value))
            conn.execute("COMMIT")
            for observe in self.on_commit_seconds:
                observe(time.perf_counter() - started)
        except dialect.DATABASE_ERRORS as exc:
            # The commit itself failed (disk full, I/O error): nothing of the batch is durable.
            log.error("store commit failed, %d writes rolled back: %s", len(writes), exc)
            # A lost connection cannot roll back: the server already dropped the transaction.
            with contextlib.suppress(*dialect.DATABASE_ERRORS):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            error = StoreError(f"database write failed: {exc}")
            outcomes.extend((future, False, error) for _, _, future in writes)
            return False
        outcomes.extend(results)
        return True

    def _call(
        self, call: Callable[[sqlite_utils.Database], Any], future: Any, outcomes: list[Any]
    ) -> None:
        assert self._db is not None
        try:
            outcomes.append((future, True, call(self._db)))
        except Exception as exc:
            outcomes.append((future, False, exc))


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
