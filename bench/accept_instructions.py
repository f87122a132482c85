"""What one durable accept costs the daemon in instructions, counted under valgrind's callgrind:
a count the machine's load moves far less than the accept's CPU seconds (README "Round 9:
accepts"). Rounds 7 and 8 counted with a scratch copy of this; it is kept now.

``modemd serve`` runs under callgrind (``bench.under_callgrind``: instrumentation off through
the imports and the opening, on at listening when it has devices); after ``warm_up`` sends
answered, the counts are zeroed and instrumentation goes on, ``sends`` more are posted from
``clients`` kept-alive connections (``bench.httpload.submit``), and it goes off again before
the daemon is stopped, so start-up and shutdown are not counted. Each thread is counted on its
own: the event loop's (``thread 01``) and the store's writer (the busiest of the others).
``--pool N`` puts N emulated modems in the key's pool, each held in one send longer than the
run, so every job still queues but every answer lists N devices (``bench.accept``'s third pass).

    .venv/bin/python -m bench.accept_instructions [--sends 1000] [--warm-up 300] \
        [--clients 16] [--pool 0] [--keep DIR]

Under callgrind the daemon runs some 50 times slower than natively; a daemon that falls
behind groups more accepts per commit, so compare runs taken back to back with the same
clients. ``--keep`` keeps the callgrind files (``callgrind_annotate DIR/callgrind.out.*-01``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench import harness, httpload, under_callgrind
from bench.accept import POOL_SEND_S
from bench.harness import Daemon, create_key, emulated_bank, workdir
from bench.instructions import thread_counts

SUBMIT_TIMEOUT_S = 1800.0  # 1,000 sends at ~50 times native: a minute or two


def _valgrind_of(wrapper: int) -> int:
    """The pid of the callgrind process ``bench.under_callgrind`` (``wrapper``) started."""
    children = Path(f"/proc/{wrapper}/task/{wrapper}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"bench.under_callgrind {wrapper} has children {children}")
    return int(children[0])


def _control(pid: int, *args: str) -> None:
    """``callgrind_control`` of that one callgrind process (never every process's)."""
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


async def count(
    sends: int, warm_up: int, clients: int, pool: int, keep: Path | None
) -> dict[str, int]:
    """Instructions per thread of the daemon over ``sends`` accepts."""
    tmp = workdir()
    out = tempfile.mkdtemp(prefix="accept-instructions-")
    key = await create_key(tmp / "modemd.db")
    harness.DAEMON_MODULE = "bench.under_callgrind"
    os.environ[under_callgrind.OUT_ENV] = out
    try:
        async with AsyncExitStack() as stack:
            taps = []
            if pool:
                taps = await stack.enter_async_context(
                    emulated_bank(pool, send_latency_s=(POOL_SEND_S, POOL_SEND_S))
                )
            daemon = await stack.enter_async_context(
                Daemon(tmp / "modemd.db", [t.modem.port for t in taps])
            )
            counted = _valgrind_of(daemon.pid)
            urls = [f"{daemon.url}/api/v1/send"]
            async with asyncio.timeout(SUBMIT_TIMEOUT_S):
                await httpload.submit(urls, key, warm_up, clients)
                _control(counted, "--zero")  # (with devices, counting began at listening)
                _control(counted, "--instr=on")
                await httpload.submit(urls, key, sends, clients)
                _control(counted, "--instr=off")
            for tap in taps:  # the sends in flight end: the daemon stops at once
                tap.modem.unplug()
        threads = thread_counts(out)
        if keep is not None:
            shutil.copytree(out, keep, dirs_exist_ok=True)
        return threads
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--warm-up", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--pool", type=int, default=0, help="busy emulated modems in the pool")
    parser.add_argument("--keep", type=Path, help="keep the callgrind files here")
    options = parser.parse_args()
    threads = await count(
        options.sends, options.warm_up, options.clients, options.pool, options.keep
    )
    loop = threads.get("thread 01", 0)
    others = {name: n for name, n in threads.items() if name != "thread 01"}
    store = max(others.values(), default=0)
    result: dict[str, Any] = {
        "sends": options.sends,
        "clients": options.clients,
        "pool": options.pool,
        "instructions_per_accept": round(sum(threads.values()) / options.sends),
        "loop_thread": round(loop / options.sends),
        "store_thread": round(store / options.sends),  # the busiest thread after the loop
        "per_thread": {name: round(n / options.sends) for name, n in sorted(threads.items())},
        "load": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
