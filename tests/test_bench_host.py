"""bench.host: while an emulated bank serves, every thread of the benchmark process runs in the
host's set-up (SCHED_RR, or a nice value) and the peers it starts as it ran before; afterwards
all is as before.

Each check runs in a subprocess started at nice 3. The ``nice`` set-up is checked at nice 8
(raising a nice value needs no privilege, so the check holds for root and for anyone else) and
at 0 (a lowering: root may, others keep their nice); SCHED_RR needs the same privilege as a
lowering. Nothing timed."""

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
        seen["setup"] = host.setup()
        policy = [sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"]
        peer = subprocess.run(policy, preexec_fn=host.as_peer, capture_output=True, text=True)
        seen["peer_policy"] = int(peer.stdout)
        if sys.argv[1] == "daemon":
            async with Daemon(Path(tempfile.mkdtemp()) / "modemd.db", []) as daemon:
                seen["daemon"] = host.nice_of(daemon.pid)
        seen["ports"] = [t.modem.port for t in taps]
    seen["after"] = threads()
    seen["setup_after"] = host.setup()
    return seen

print(json.dumps(asyncio.run(main())))
"""


def _run(setup: str, host_nice: str = "8", *, daemon: bool = False) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, "daemon" if daemon else "-"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MODEMD_BENCH_HOST": setup, "MODEMD_BENCH_HOST_NICE": host_nice},
        preexec_fn=lambda: os.nice(3),
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _may(step: str) -> bool:
    """Whether a process here, at nice 3, may take this step (root with CAP_SYS_NICE, or
    the rlimits RLIMIT_NICE and RLIMIT_RTPRIO allow it)."""
    done = subprocess.run(
        [sys.executable, "-c", f"import os; {step}"], preexec_fn=lambda: os.nice(3)
    )
    return done.returncode == 0


LOWER = "os.setpriority(os.PRIO_PROCESS, 0, 0)"
REAL_TIME = "os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))"


def test_the_host_runs_at_its_nice_and_its_peers_at_the_one_before() -> None:
    seen = _run("nice", daemon=True)
    assert seen["before"] == 3
    assert seen["daemon"] == 3  # modemd serve, started by bench.harness.Daemon
    assert seen["inside"] == [8]  # every thread, the one started before the bank too
    assert seen["new_thread"] == [8]
    assert seen["peer"] == 3  # the daemon's preexec: not the host's nice
    assert seen["after"] == [3]
    assert len(seen["ports"]) == 1  # type: ignore[arg-type]
    assert seen["setup"] == {"host_nice": 8, "host_policy": "other"}
    assert seen["peer_policy"] == os.SCHED_OTHER


def test_by_default_the_host_alone_runs_in_sched_rr() -> None:
    seen = _run("", daemon=True)  # unset: rr
    if _may(REAL_TIME):
        assert seen["setup"] == {"host_nice": 3, "host_policy": "rr"}
    else:
        assert seen["setup"] == {"host_nice": 3, "host_policy": "other"}
    assert seen["peer_policy"] == os.SCHED_OTHER  # the daemon is never real-time
    assert seen["peer"] == 3
    assert seen["daemon"] == 3
    assert seen["setup_after"] == {"host_nice": 3, "host_policy": "other"}


def test_a_host_nice_it_may_not_take_leaves_the_host_as_it_was() -> None:
    seen = _run("nice", "0")  # from 3 to 0 is a lowering: root may, others may not
    expected = 0 if _may(LOWER) else 3
    assert seen["inside"] == [expected]
    assert seen["peer"] == 3
    assert seen["after"] == [3]
