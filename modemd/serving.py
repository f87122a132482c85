"""The process around ``serve``: its event loop, the garbage collector's settings, the stop
signals and the shutdown's steps."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger("modemd.service")  # the lines keep the daemon's logger name

SHUTDOWN_STEP_TIMEOUT_S = 10.0  # a shutdown step taking longer is stuck: log it and go on

# CPython collects its youngest generation every 700 new objects: under 64 API clients that
# was ~40 collections a second, 3-4 % of the loop (bench accept; README, Round 3: accepts).
# Above the sends in flight at 256 modems (~26,000 objects; the count is net of deaths): at
# 10,000 each pass as they grew scanned them all, 5-7 passes a run, up to 7.5 ms of CPU in the
# measured window (README, Round 10: the loop and the collector).
GC_YOUNG_THRESHOLD = 50_000
# CPython's switch interval stays at its 5 ms: 1 ms lowered the 64 x 0.1 s backlog ratio and
# the accepts per commit in four alternating pairs (README, Round 5: the loop and 256 modems).
EVENT_LOOP_ENV = "MODEMD_EVENT_LOOP"  # over server.event_loop: "uvloop" or "asyncio"


def flush_logs() -> None:
    """Write out the log lines waiting to be written together (``observe.logs``)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop ``serve`` runs on: uvloop's (libuv, written in C) when ``choice`` is "uvloop"
    and it is installed, else asyncio's own (None). bench/run: uvloop took a fifth to a
    quarter off the 200 -> AT+CMGS and status report -> IPN p50s (README, Round 3: accepts)."""
    if choice != "uvloop":
        log.info("event loop: asyncio's own")
        return None
    try:
        import uvloop
    except ImportError:
        log.warning("server.event_loop is uvloop, which is not installed: asyncio's own loop")
        return None
    log.info("event loop: uvloop %s", uvloop.__version__)
    return uvloop.new_event_loop


def settle_garbage_collector() -> None:
    """Before the devices open: what start-up made so far (the store, the app; the modules are
    frozen as ``modemd.cli`` imports them) lives as long as the daemon: frozen out of every
    later collection (``gc.freeze``); the youngest generation is collected less often from
    here on.

    Before, not at ready: a backlog starts sending as each device opens (``bench.stalls``;
    README, Round 7: the loop and its stalls). Without a collection first: at 256 modems it took
    50 ms of CPU and found nothing to free (README, Round 9: ready at 256 and the loop)."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    log.info(
        "garbage collector: start-up's %d objects frozen; the youngest generation collected "
        "every %d new ones",
        gc.get_freeze_count(),  # walks the frozen list: milliseconds, so not at ready
        GC_YOUNG_THRESHOLD,
    )


def freeze_opened_devices() -> None:
    """At ready: what opening the devices made (workers, ports, drivers) joins the frozen heap
    without a collection (a freeze moves lists: microseconds, where a pass scans them all)."""
    gc.freeze()


async def shutdown_step(
    what: str, step: Awaitable[object], timeout_s: float = SHUTDOWN_STEP_TIMEOUT_S
) -> None:
    """Run one step of the shutdown; if it hangs, say what is stuck and go on."""
    try:
        async with asyncio.timeout(timeout_s):
            await step
    except TimeoutError:
        stuck = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        log.error(
            "shutdown: %s did not stop within %.0f s; tasks still running: %s",
            what,
            timeout_s,
            "; ".join(f"{t.get_name()} at {_where(t)}" for t in stuck),
        )


def _where(task: asyncio.Task[object]) -> str:
    frames = task.get_stack(limit=1)
    return f"{frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else "?"


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM/SIGINT (instead of dying at once)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    return stop


def restore_signals() -> None:
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.remove_signal_handler(signum)
