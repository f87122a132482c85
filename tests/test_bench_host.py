"""bench.host: while an emulated bank serves, every thread of the benchmark process runs at the
host's nice value and the peers it starts at the one it had before; afterwards all is as before.

Each check runs in a subprocess started at nice 3 with the host's nice set to 8 (raising a nice
value needs no privilege, so the same checks hold for root and for anyone else); with a host
nice of 0 it is a lowering, allowed only to root: then the host keeps its nice. Nothing timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHECK = """
import asyncio, json, os, subprocess, sys, tempfile, threading
from pathlib import Path
from bench import host
from bench.harness import Daemon, emulated_bank

PEEK = [sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"]

def threads():
    return sorted({os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir("/proc/self/task")})

async def main():
    early = threading.Thread(target=threading.Event().wait, args=(30,), daemon=True)
    early.start()  # a thread started before the bank: raised with the others
    seen = {"before": host.nice_of()}
    async with emulated_bank(1) as taps:
        seen["inside"] = threads()
        later = []
        thread = threading.Thread(target=lambda: later.append(host.nice_of(0)))
        thread.start(); thread.join()  # a nice value is per thread: a new one inherits it
        seen["new_thread"] = later
        peer = subprocess.run(PEEK, preexec_fn=host.as_peer, capture_output=True, text=True)
        seen["peer"] = int(peer.stdout)
        if sys.argv[1] == "daemon":
            async with Daemon(Path(tempfile.mkdtemp()) / "modemd.db", []) as daemon:
                seen["daemon"] = host.nice_of(daemon.pid)
        seen["ports"] = [t.modem.port for t in taps]
    seen["after"] = threads()
    return seen

print(json.dumps(asyncio.run(main())))
"""


def _run(host_nice: str, *, daemon: bool = False) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, "daemon" if daemon else "-"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MODEMD_BENCH_HOST_NICE": host_nice},
        preexec_fn=lambda: os.nice(3),
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _may_lower() -> bool:
    """Whether a process here may lower its nice value (root with CAP_SYS_NICE)."""
    lower = "import os; os.setpriority(os.PRIO_PROCESS, 0, 0)"
    done = subprocess.run([sys.executable, "-c", lower], preexec_fn=lambda: os.nice(3))
    return done.returncode == 0


def test_the_host_runs_at_its_nice_and_its_peers_at_the_one_before() -> None:
    seen = _run("8", daemon=True)
    assert seen["before"] == 3
    assert seen["daemon"] == 3  # modemd serve, started by bench.harness.Daemon
    assert seen["inside"] == [8]  # every thread, the one started before the bank too
    assert seen["new_thread"] == [8]
    assert seen["peer"] == 3  # the daemon's preexec: not the host's nice
    assert seen["after"] == [3]
    assert len(seen["ports"]) == 1  # type: ignore[arg-type]


def test_a_host_nice_it_may_not_take_leaves_the_host_as_it_was() -> None:
    seen = _run("0")  # from 3 to 0 is a lowering: root may, others may not
    expected = 0 if _may_lower() else 3
    assert seen["inside"] == [expected]
    assert seen["peer"] == 3
    assert seen["after"] == [3]
