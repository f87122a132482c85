"""A busy modem's status report on its way to the IPN, stamped at each hand-over in one run.

``python -m bench.ipn_trace`` runs ``bench.ipn_busy`` with the daemon as ``python -m
bench.ipn_trace serve ...``: ``modemd serve`` (on its own loop, uvloop) with the store's and the
IPN sender's steps wrapped to stamp each report (``time.time()``, one clock for both processes):

    end of send (the pty)  -> queued: the driver's read of the report and its hand-over
    queued -> batch        the store's thread busy (the commit in progress, the queue)
    batch -> apply         the writes before it in its batch
    apply                  the report's own write (its event's timestamp is inside)
    apply -> commit        the batch's writes after it, then COMMIT (the fsync)
    commit -> loop         the answers' hand-over to the loop (its wake-up, the GIL)
    loop -> post           the sender's task: made, scheduled, its turn at the semaphore
    post -> arrival        aiohttp's request and the listener's answer (in this process)

and counts per report: the commits, the writes of the report's batch, the store's wake-ups of
the loop (``call_soon_threadsafe``). At exit the daemon writes its stamps to
``$IPN_TRACE_OUT/<pid>.json``.

    .venv/bin/python -m bench.ipn_trace
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import runpy
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

OUT_ENV = "IPN_TRACE_OUT"  # the directory the stamps are written to
# An experiment: the daemon's ``sys.setswitchinterval`` (how long a thread waiting for the GIL
# waits before it asks its holder to drop it; Python's default 5 ms).
SWITCH_ENV = "IPN_TRACE_SWITCH_S"
# An experiment: the store connection's ``PRAGMA wal_autocheckpoint`` (pages; 0: none).
CHECKPOINT_ENV = "IPN_TRACE_WAL_AUTOCHECKPOINT"
KEEP_ENV = "IPN_TRACE_KEEP"  # a file the busy reports' stamps are written to (optional)
# Each send's time within ``ipn_busy.LATENCY_S * (1 +- this)`` (unset: all alike, lockstep).
SPREAD_ENV = "IPN_TRACE_SPREAD"
SLOW_COMMIT_S = 0.010  # a batch's writes and commit longer than this are counted
PIECES = (
    ("end_to_queued", "end", "queued"),
    ("queued_to_batch", "queued", "batch"),
    ("batch_to_apply", "batch", "apply"),
    ("apply", "apply", "applied"),
    ("apply_to_writes_done", "applied", "written"),
    ("commit_itself", "written", "commit"),
    ("commit_to_loop", "commit", "loop"),
    ("loop_to_post", "loop", "post"),
    ("post_to_arrival", "post", "arrival"),
    # inside aiohttp's client (its TraceConfig), the post's way split:
    ("post_to_request", "post", "request"),  # the body signed, the request made
    ("request_to_connection", "request", "connection"),  # a connection: reused, queued, new
    ("connection_to_sent", "connection", "sent"),  # headers and body written
    ("sent_to_arrival", "sent", "arrival"),  # the wire and the listener (the bench's loop)
    ("arrival_to_answer", "arrival", "answer"),  # the listener's answer read by aiohttp
    ("total", "end", "arrival"),
)

STAMPS: dict[str, dict[str, float]] = {}  # job_id -> step -> time
COUNTS: Counter[str] = Counter()
_QUEUED: dict[int, float] = {}  # id(report) -> when its write was queued
_BATCH = threading.local()  # the jobs whose reports the running batch applies
_NAMES: dict[int, str] = {}  # id(a queued write's future) -> its function's name
_RUNNING: list[Any] = [None]  # the names of the batch the store's thread runs now
_LAZY_ONLY = [False]  # whether that batch's writes are all ``lazy`` (the IPN's records)
_EVENTS: dict[str, str] = {}  # a traced report's event id -> its job, until its post starts
MIX: Counter[str] = Counter()  # the writes around each report: in its batch, in the one before


def _install() -> None:
    """Wrap the steps of a report's way in the daemon (this process)."""
    from modemd.store import batches, db, reports
    from modemd.webhooks.sender import IpnSender

    apply_report = reports.apply_report

    @functools.wraps(apply_report)  # its marks (urgent, replayable) too: they are in __dict__
    def apply(database: Any, device_id: str, report: Any) -> Any:
        started = time.time()
        result = apply_report(database, device_id, report)
        if result.job is not None:
            STAMPS[result.job.job_id] = {
                "queued": _QUEUED.pop(id(report), float("nan")),
                "apply": started,
                "applied": time.time(),
            }
            _BATCH.jobs.append(result.job.job_id)
        return result

    reports.apply_report = apply  # type: ignore[assignment]  # runtime.reports looks it up
    queue_write = db.Store.queue_write

    def queued(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if fn is apply:
            _QUEUED[id(args[1])] = time.time()
            COUNTS["reports"] += 1
            if _RUNNING[0] is not None:
                MIX.update(f"queued during: {name}" for name in _RUNNING[0])
                COUNTS["queued during a batch"] += 1
                COUNTS["queued during a batch of lazy writes only"] += _LAZY_ONLY[0]
        future = queue_write(self, fn, *args, **kwargs)
        _NAMES[id(future)] = getattr(fn, "__name__", "?")
        return future

    process = db.Store._process

    def batch(self: Any, items: list[Any], outcomes: list[Any], staged: Any) -> bool:
        _BATCH.jobs = []
        names = [_NAMES.pop(id(future), "?") for _, _, future in items]
        written = [0.0]

        def timed(call: Any) -> Any:
            def run(database: Any) -> Any:
                try:
                    return call(database)
                finally:
                    written[0] = time.time()

            return run

        if items and items[0][0]:
            _RUNNING[0] = names
            _LAZY_ONLY[0] = all(kind & batches.LAZY for kind, _, _ in items)
            items = [(kind, timed(call), future) for kind, call, future in items]
        started = time.time()
        try:
            committed = process(self, items, outcomes, staged)
        finally:
            _RUNNING[0] = None
        ended = time.time()
        if items and items[0][0]:  # the batch's writes
            COUNTS["commits over 10 ms"] += ended - started > SLOW_COMMIT_S
            if _BATCH.jobs:
                at = names.index("apply_report")
                MIX.update(f"before it: {name}" for name in names[:at])
                MIX.update(f"after it: {name}" for name in names[at + 1 :])
            COUNTS["commits"] += committed
            COUNTS["commits of lazy writes only"] += committed and _LAZY_ONLY[0]
            COUNTS["writes"] += len(items)
            if _BATCH.jobs:
                COUNTS["commits with a report"] += 1
                COUNTS["writes in commits with a report"] += len(items)
            for job_id in _BATCH.jobs:
                STAMPS[job_id].update(
                    batch=started, written=written[0], commit=ended, writes=len(items)
                )
        return committed

    read = db.Store.read

    def reading(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS[f"read: {getattr(fn, '__name__', '?')}"] += 1
        return read(self, fn, *args, **kwargs)

    db.Store.read = reading  # type: ignore[method-assign]
    deliver = db.Store._deliver

    def delivered(self: Any, outcomes: list[Any], *args: Any) -> None:
        now = time.time()
        COUNTS["answer wake-ups"] += 1
        staged = args[2] if len(args) > 2 else None
        for event in staged or ():
            if event.job_id in STAMPS:
                STAMPS[event.job_id]["loop"] = now
        deliver(self, outcomes, *args)

    hand_over = db._hand_over

    def handed(reads: list[Any]) -> None:
        now = time.time()
        COUNTS["after-change wake-ups"] += 1
        for _, due in reads:
            for event in due if isinstance(due, list) else ():
                if event.job_id in STAMPS:
                    STAMPS[event.job_id].setdefault("loop", now)
        hand_over(reads)

    post = IpnSender._post

    async def posting(self: Any, event: Any) -> Any:
        if event.job_id in STAMPS:
            STAMPS[event.job_id]["post"] = time.time()
            _EVENTS[event.event_id] = event.job_id
        return await post(self, event)

    _trace_aiohttp()

    db.Store.queue_write = queued  # type: ignore[method-assign]
    db.Store._process = batch  # type: ignore[method-assign,assignment]
    db.Store._deliver = delivered  # type: ignore[method-assign,assignment]
    db._hand_over = handed
    IpnSender._post = posting  # type: ignore[method-assign]
    watch = db.Store._watch

    def watched(self: Any, conn: Any) -> None:
        conn.set_trace_callback(_statement)  # (a statement that fires triggers: once each)
        if os.environ.get(CHECKPOINT_ENV):
            conn.execute(f"PRAGMA wal_autocheckpoint={int(os.environ[CHECKPOINT_ENV])}")
        watch(self, conn)

    db.Store._watch = watched  # type: ignore[method-assign]
    if os.environ.get(SWITCH_ENV):
        sys.setswitchinterval(float(os.environ[SWITCH_ENV]))
    atexit.register(_dump)


def _trace_aiohttp() -> None:
    """Stamp each traced report's post inside aiohttp's client (a TraceConfig on the IPN
    sender's session) and count how it got its connection."""
    import aiohttp

    trace = aiohttp.TraceConfig()

    def stamp(step: str) -> Any:
        async def on(_session: Any, ctx: Any, params: Any) -> None:
            if step == "request":
                ctx.job = _EVENTS.pop(params.headers.get("webhook-id", ""), None)
            job = getattr(ctx, "job", None)
            if job is not None:
                STAMPS[job].setdefault(step, time.time())

        return on

    def count(what: str) -> Any:
        async def on(_session: Any, ctx: Any, _params: Any) -> None:
            if getattr(ctx, "job", None) is not None:
                COUNTS[f"connection: {what}"] += 1

        return on

    trace.on_request_start.append(stamp("request"))
    for signal in (trace.on_connection_reuseconn, trace.on_connection_create_end):
        signal.append(stamp("connection"))
    trace.on_connection_reuseconn.append(count("reused"))
    trace.on_connection_create_start.append(count("new"))
    trace.on_connection_queued_start.append(count("queued at the connector's limit"))
    trace.on_request_headers_sent.append(stamp("sent"))
    trace.on_request_end.append(stamp("answer"))
    init = aiohttp.ClientSession.__init__

    def session(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["trace_configs"] = [*(kwargs.get("trace_configs") or ()), trace]
        init(self, *args, **kwargs)

    aiohttp.ClientSession.__init__ = session  # type: ignore[method-assign]


def _statement(_sql: str) -> None:
    COUNTS["statements"] += 1


def _dump() -> None:
    path = os.path.join(os.environ[OUT_ENV], f"{os.getpid()}.json")
    with open(path, "w") as f:
        json.dump({"argv": sys.argv[1:], "stamps": STAMPS, "counts": {**COUNTS, **MIX}}, f)


def summary(busy: list[tuple[str, float, float]], dump: dict[str, Any]) -> dict[str, Any]:
    """Each piece's p50 / p99 (ms) over the busy reports, and the counts per report."""
    from bench.harness import percentile

    values: dict[str, list[float]] = {name: [] for name, _, _ in PIECES}
    writes: list[float] = []
    for job_id, end, arrival in busy:
        stamps = {**dump["stamps"].get(job_id, {}), "end": end, "arrival": arrival}
        for name, start, stop in PIECES:
            if start in stamps and stops_ok(stamps, stop):
                values[name].append((stamps[stop] - stamps[start]) * 1000)
        if "writes" in stamps:
            writes.append(stamps["writes"])
    counts = dump["counts"]
    reports = max(1, counts.get("reports", 0))
    return {
        "busy_reports": len(busy),
        "traced": len(values["apply"]),
        **{
            f"{name}_p50_p99_ms": (round(percentile(v, 50), 2), round(percentile(v, 99), 2))
            for name, v in values.items()
        },
        "writes_in_the_reports_commit_p50_p99": (percentile(writes, 50), percentile(writes, 99)),
        "per_report": {name: round(n / reports, 3) for name, n in sorted(counts.items())},
        "writes_per_commit": round(counts.get("writes", 0) / max(1, counts.get("commits", 0)), 2),
    }


def stops_ok(stamps: dict[str, float], stop: str) -> bool:
    return stop in stamps and stamps[stop] == stamps[stop]  # present, not NaN


def main() -> None:
    from bench import harness, ipn_busy, loops

    harness.DAEMON_MODULE = "bench.ipn_trace"
    load = os.getloadavg()[0]
    busy: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="ipn-trace-") as out:
        os.environ[OUT_ENV] = out
        spread = float(os.environ.get(SPREAD_ENV, "0"))
        result = loops.run(ipn_busy.run(busy=busy, spread=spread))
        dumps = [json.loads(p.read_text()) for p in Path(out).glob("*.json")]
    serving = [d for d in dumps if "--device" in d["argv"]]  # not the daemon that queued them
    if len(serving) != 1:
        raise RuntimeError(f"expected the stamps of one daemon with modems, got {len(serving)}")
    if os.environ.get(KEEP_ENV):  # each busy report's stamps, for a closer look
        stamps = {job: {**serving[0]["stamps"].get(job, {}), "end": e, "arrival": a}
                  for job, e, a in busy}  # fmt: skip
        Path(os.environ[KEEP_ENV]).write_text(json.dumps(stamps))
    keys = ("ipn_busy_p50_ms", "ipn_busy_p99_ms", "ipn_busy_max_ms")
    print(json.dumps({k: result[k] for k in keys} | summary(busy, serving[0]), indent=1))
    print(f"load: {load:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        _install()
        sys.argv[0] = "modemd"
        runpy.run_module("modemd", run_name="__main__", alter_sys=True)
    else:
        main()
