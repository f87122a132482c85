"""The stall trace: a loop blocked by a callback, a collection and another thread's span show in
the JSON written at the end, on the monotonic clock."""

from __future__ import annotations

import asyncio
import gc
import json
import math
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from modemd.observe import trace

BLOCK_S = 0.12  # far past trace.STALE_S + trace.PROBE_S: the watcher samples it several times


def _hold_the_loop() -> None:
    time.sleep(BLOCK_S)  # the callback a stalled loop runs


async def _stall_and_collect(recorder: trace.Recorder) -> None:
    probe = asyncio.create_task(recorder.probe())
    try:
        await asyncio.sleep(0.05)  # the probe is running
        asyncio.get_running_loop().call_soon(_hold_the_loop)
        await asyncio.sleep(0.05)
        gc.collect(1)
        worker = threading.Thread(
            target=lambda: recorder.span("commit", 1.0, 2.0, 7), name="store writer"
        )
        worker.start()
        worker.join()
        await asyncio.sleep(0.05)
    finally:
        probe.cancel()
        await asyncio.gather(probe, return_exceptions=True)


def test_a_blocked_loop_a_collection_and_a_threads_span_are_written(tmp_path: Path) -> None:
    out = tmp_path / "stalls.json"
    recorder = trace.begin(str(out))
    assert recorder is not None and trace.recorder() is recorder
    began = time.monotonic()
    recorder.start(threading.current_thread())
    try:
        asyncio.run(_stall_and_collect(recorder))
        stopped = time.monotonic()  # the probe is cancelled: what follows is no stall
        time.sleep(BLOCK_S)
    finally:
        trace.end()
    assert trace.recorder() is None
    written = json.loads(out.read_text())
    assert written["clock"] == "monotonic"
    spans = written["spans"]
    late = [s for s in spans if s[0] == "loop_late"]
    assert max(end - start for _k, _t, start, end, _d in late) >= BLOCK_S - trace.PROBE_S
    assert all(began <= start <= end <= time.monotonic() for _k, _t, start, end, _d in late)
    stacks = [s[4] for s in spans if s[0] == "loop_stack"]
    assert stacks, "the watcher sampled nothing while the loop stood still"
    assert all(loop_name == "MainThread" for loop_name, _frames in stacks)
    assert all("stall watcher" not in frames for _name, frames in stacks)
    # one sample at least in the blocking callback (on a loaded machine the loop may also be
    # overdue past STALE_S before its first timer, and that is sampled too)
    assert any(any("_hold_the_loop" in f for f in frames["MainThread"]) for _n, frames in stacks)
    assert all(s[3] < stopped for s in spans if s[0] == "loop_stack")
    passes = [s for s in spans if s[0] == "gc" and s[4][0] == 1]
    assert passes and passes[0][4][1] > 0  # a generation-1 pass examined objects
    assert ["commit", "store writer", 1.0, 2.0, 7] in spans
    counts = [s for s in spans if s[0] == "gc_count"]  # the first wake-up's, at least
    assert counts and all(len(s[4]) == 3 and s[2] == s[3] for s in counts)


def test_the_watcher_looks_when_the_loop_could_first_be_stale_then_every_watch_s() -> None:
    keeps_time = trace.PROBE_S + trace.STALE_S
    assert math.isclose(trace.watch_wait(100.0, 100.0), keeps_time)  # the probe just woke
    assert math.isclose(trace.watch_wait(100.0, 100.004), keeps_time - 0.004)
    assert trace.watch_wait(100.0, 100.0 + keeps_time) == trace.WATCH_S  # stale: sample
    assert trace.watch_wait(100.0, 101.0) == trace.WATCH_S  # and keep sampling
    assert trace.watch_wait(math.inf, 100.0) == keeps_time  # the probe stopped: no sleep forever


def test_off_unless_asked(tmp_path: Path) -> None:
    assert trace.begin(None) is None
    assert trace.recorder() is None
    trace.end()  # nothing to write
    assert list(tmp_path.iterdir()) == []


def test_a_stack_names_module_function_and_line_innermost_first() -> None:
    frames = trace.stack(_here())
    assert frames[0] == f"test_trace._here:{HERE_LINE}"
    assert frames[1].startswith("test_trace.test_a_stack_names_module_function_and_line")
    assert len(frames) == trace.FRAMES  # pytest's frames beyond are cut
    asyncio_frame = trace.stack(_asyncio_frame())[0]
    assert asyncio_frame.startswith("asyncio.")  # the standard library by module, not path


def _here() -> FrameType:
    return sys._getframe()


HERE_LINE = _here.__code__.co_firstlineno + 1


def _asyncio_frame() -> FrameType:
    coroutine = asyncio.sleep(0)
    frame = coroutine.cr_frame
    coroutine.close()
    return frame
