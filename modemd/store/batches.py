"""A batch of the store's queued calls run on its thread: writes share one commit.

Writes queued while a commit is under way are applied together in the next transaction, each
in its own savepoint so one failure does not undo the others, then committed once (store.db);
the batch's reads run after that commit. A write marked ``urgent`` (a status report, a received
SMS: an IPN waits on it) commits with the writes queued before it, without the many after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import sqlite_utils

from modemd.errors import StoreError
from modemd.store import dialect

if TYPE_CHECKING:
    from modemd.observe.trace import Recorder

log = logging.getLogger(__name__)

# What a queued call is: a read, a write, or a ``replayable`` write; LAZY is a flag on a write
# that nobody waits for in a hurry (``lazy``), URGENT on one an IPN waits for (``urgent``).
READ, WRITE, REPLAYABLE, LAZY, URGENT = 0, 1, 2, 4, 8
_REPLAYABLE_MARK = "_modemd_replayable"
_LAZY_MARK = "_modemd_lazy"
_URGENT_MARK = "_modemd_urgent"
# An urgent write commits without the writes queued after it when there are this many: a
# commit's own cost (BEGIN, COMMIT, the fsync) was about that of 3 writes in it (bench
# ipn-busy at load 2-4: a lone write's commit 1.4-2.2 ms at p50, each write more about 0.45
# ms), so fewer are cheaper to carry than a commit of their own is to them (the next send's
# record is often one).
URGENT_ALONE_BEFORE = 4

F = TypeVar("F", bound=Callable[..., Any])

# What the writes of the batch being run hand on once committed (``stage``; the IPN sender's
# new events, store.db gives them to their taker on the loop with the batch's answers); per
# store thread, None outside a batch or when nobody takes them.
_staged = threading.local()


def staging() -> bool:
    """Whether what a write ``stage``s is taken (this store thread collects it)."""
    return getattr(_staged, "items", None) is not None


def stage(item: Any) -> None:
    """Hand ``item`` on once the running write commits; dropped if that write rolls back.
    Only while ``staging()``."""
    _staged.items.append(item)


def replayable(fn: F) -> F:
    """Mark a write function whose only effect is on the database (no state of its own kept,
    nothing done outside the transaction), so that running it again after a rollback is as
    if it ran once: batches of such writes share a commit without a savepoint each
    (``_commit``)."""
    setattr(fn, _REPLAYABLE_MARK, True)
    return fn


def lazy(fn: F) -> F:
    """Mark a write whose caller is in no hurry (the IPN sender's record of an attempt): queued
    alone, it waits a moment for other writes to share their commit (store.db's
    ``LAZY_LINGER_S``) rather than take an fsync of its own that a report's or a send's
    write would then wait behind."""
    setattr(fn, _LAZY_MARK, True)
    return fn


def urgent(fn: F) -> F:
    """Mark a write an IPN waits for (a status report, a received SMS): it commits with the
    writes queued before it, and without those queued after it when they are many (a burst of
    accepts: ``next_batch``)."""
    setattr(fn, _URGENT_MARK, True)
    return fn


def kind_of(fn: Callable[..., Any]) -> int:
    """WRITE, or REPLAYABLE for a function marked ``replayable``; with LAZY when ``lazy``,
    with URGENT when ``urgent``."""
    kind = REPLAYABLE if getattr(fn, _REPLAYABLE_MARK, False) else WRITE
    if getattr(fn, _LAZY_MARK, False):
        kind |= LAZY
    return kind | URGENT if getattr(fn, _URGENT_MARK, False) else kind


def name_of(fn: Callable[..., Any]) -> str:
    """What a stall trace calls a queued call: its function's name (a lambda's is its
    module's: a test's, a CLI's one-off)."""
    name = getattr(fn, "__name__", "?")
    return getattr(fn, "__module__", "?") if name == "<lambda>" else name


def all_lazy(taken: list[Any]) -> bool:
    """Whether every call ``taken`` is a ``lazy`` write (a lone one, the usual case, without
    a generator)."""
    if len(taken) == 1:
        return bool(taken[0][0] & LAZY)
    return all(item[0] & LAZY for item in taken)


def next_batch(taken: list[Any]) -> tuple[list[Any], list[Any]]:
    """Split the calls ``taken`` from the queue into the batch to run now and the rest, to run
    next (with what is queued by then). With ``URGENT_ALONE_BEFORE`` writes or more queued
    after the last ``urgent`` one, the batch ends with it (no write passes another; a write's
    answer comes before the batch's reads run anyway); else all of it."""
    if len(taken) <= URGENT_ALONE_BEFORE:  # too few to leave any after an urgent one
        return taken, []
    last = max((n for n, item in enumerate(taken) if item[0] & URGENT), default=-1)
    if last < 0 or sum(1 for item in taken[last + 1 :] if item[0]) < URGENT_ALONE_BEFORE:
        return taken, []
    return taken[: last + 1], taken[last + 1 :]


def process(
    db: sqlite_utils.Database,
    batch: list[Any],
    outcomes: list[Any],
    on_commit_seconds: list[Callable[[float], None]],
    staged: list[Any] | None = None,
    trace: Recorder | None = None,
) -> bool:
    """Run the batch of ``(kind, call, future)``: its writes in queue order in one commit, then
    its reads, so a read sees every write queued before it (and the batch's others: nobody
    waits on a read to queue a write, the answers all come after the batch). A read between
    writes no longer splits their commit (an fsync more, which an urgent write queued behind
    them waited for). True when something was committed. ``staged`` (when given) gets what
    the committed writes ``stage``d, in order. ``trace`` (a stall trace) gets a span of the
    writes (``store_writes``) and of the COMMIT (``store_commit``: the WAL's write and fsync),
    each with the count of writes and the thread's CPU in it (ms: the rest of the span it
    waited, for the GIL, a CPU or the disk), and of the reads (``store_reads``, their count)."""
    writes = [item for item in batch if item[0]]
    committed = False
    _staged.items = staged
    try:
        if writes:
            committed = _commit(db, writes, outcomes, on_commit_seconds, trace)
    finally:
        _staged.items = None
    reads = len(batch) - len(writes)
    if reads:
        started = time.monotonic() if trace is not None else 0.0
        for item in batch:
            if not item[0]:
                _call(db, item[1], item[2], outcomes)
        if trace is not None:
            trace.span("store_reads", started, time.monotonic(), reads)
    return committed


def _commit(
    db: sqlite_utils.Database,
    writes: list[Any],
    outcomes: list[Any],
    on_commit_seconds: list[Callable[[float], None]],
    trace: Recorder | None,
) -> bool:
    """Apply ``writes`` in one transaction and commit it; True when committed.

    Several writes sharing the commit run each in its own savepoint, so a failing one is
    undone alone. A savepoint is not free on SQLite (every page written under it is first
    copied to a journal), so a lone write runs without one (the transaction undoes it), and
    so does a batch of ``replayable`` writes: should one of them fail, the whole batch is
    rolled back and run again, a savepoint each."""
    if trace is not None:
        _stamp_waits(trace, writes, time.monotonic())
    optimistic = len(writes) == 1 or all(item[0] & REPLAYABLE for item in writes)
    committed = _transaction(
        db, writes, outcomes, on_commit_seconds, trace, savepoints=not optimistic
    )
    if committed is None:  # a replayable write failed: all rolled back, run them again
        committed = _transaction(db, writes, outcomes, on_commit_seconds, trace, savepoints=True)
    assert committed is not None  # with savepoints a failing write is undone alone
    return committed


def _transaction(
    db: sqlite_utils.Database,
    writes: list[Any],
    outcomes: list[Any],
    on_commit_seconds: list[Callable[[float], None]],
    trace: Recorder | None,
    *,
    savepoints: bool,
) -> bool | None:
    """``_commit``'s one try: None when a write failed in a batch without savepoints
    (everything rolled back, nothing answered yet)."""
    conn = db.conn
    results: list[tuple[Any, bool, Any]] = []
    taking: list[Any] | None = getattr(_staged, "items", None)
    staged = taking if taking is not None else []  # (an empty list is one too: not ``or``)
    begun = len(staged)  # what this transaction stages goes if it rolls back
    started = time.monotonic()  # (CLOCK_MONOTONIC, as a stall trace's spans)
    cpu, queued = (time.thread_time(), _run_queue_s()) if trace is not None else (0.0, 0.0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for item in writes:
            call, future = item[1], item[2]
            if savepoints:
                conn.execute("SAVEPOINT job")
            mark = len(staged)
            try:
                value = call(db)
            except Exception as exc:
                conn.execute("ROLLBACK TO job" if savepoints else "ROLLBACK")
                del staged[mark if savepoints else begun :]
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
        if trace is None:
            conn.execute("COMMIT")
        else:
            committing, cpu_writes, queued_writes = (
                time.monotonic(),
                time.thread_time(),
                _run_queue_s(),
            )
            detail = [len(writes), _ms(cpu_writes - cpu), _ms(queued_writes - queued)]
            trace.span("store_writes", started, committing, detail)
            conn.execute("COMMIT")
            cpu_commit = _ms(time.thread_time() - cpu_writes)
            detail = [len(writes), cpu_commit, _ms(_run_queue_s() - queued_writes)]
            trace.span("store_commit", committing, time.monotonic(), detail)
        for observe in on_commit_seconds:
            observe(time.monotonic() - started)
    except dialect.DATABASE_ERRORS as exc:
        # The commit itself failed (disk full, I/O error): nothing of the batch is durable.
        log.error("store commit failed, %d writes rolled back: %s", len(writes), exc)
        del staged[begun:]
        # A lost connection cannot roll back: the server already dropped the transaction.
        with contextlib.suppress(*dialect.DATABASE_ERRORS):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        error = StoreError(f"database write failed: {exc}")
        outcomes.extend((item[2], False, error) for item in writes)
        return False
    outcomes.extend(results)
    return True


def _stamp_waits(trace: Recorder, writes: list[Any], started: float) -> None:
    """A ``store_queued`` span from the first of ``writes`` queued to the batch's start, with
    each write's function and its wait in the queue (ms): an answer's first piece (then its
    batch's writes and COMMIT, then the loop's ``store_answered``)."""
    queued = [item[3] for item in writes if len(item) > 3]  # (queued before the trace began)
    if queued:
        waits = [[name, _ms(started - at)] for at, name in queued]
        trace.span("store_queued", min(at for at, _ in queued), started, waits)


def _call(
    db: sqlite_utils.Database,
    call: Callable[[sqlite_utils.Database], Any],
    future: Any,
    outcomes: list[Any],
) -> None:
    try:
        outcomes.append((future, True, call(db)))
    except Exception as exc:
        outcomes.append((future, False, exc))


def _run_queue_s() -> float:
    """The calling thread's time so far waiting on a run queue for a CPU (Linux's schedstat;
    0 where there is none): of a span's wall time, the rest past its CPU and this wait is
    off a CPU by its own doing (the disk, the GIL, a lock)."""
    fd = getattr(_staged, "schedstat", None)
    if fd is None:
        try:
            fd = _staged.schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            fd = _staged.schedstat = -1
    if fd < 0:
        return 0.0
    return int(os.pread(fd, 128, 0).split()[1]) / 1e9


def thread_done() -> None:
    """On a store's thread as it ends: close what ``_run_queue_s`` held open."""
    fd = getattr(_staged, "schedstat", None)
    _staged.schedstat = None
    if fd is not None and fd >= 0:
        os.close(fd)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
