"""The emulators' host: while its emulated modems serve, this benchmark process is scheduled
before the peers it measures, as modems on hardware of their own would be.

Every emulated modem, and every stamp the rows are read on, lives on this process's loop, on
the same 2 cores as the daemon. When the daemon (or anything else) has the CPU this process
wants, the emulated network answers late and the stamps time the daemon late: that wait was
counted against the daemon, as network time or as gap (README, "Round 6: the emulators'
host"). Real modems answer on their own CPUs, whatever the gateway's host is doing.

Set-ups (``MODEMD_BENCH_HOST``), each only while a bank serves (``raised``):

- ``rr`` (default): every thread of this process in SCHED_RR at the lowest real-time priority:
  it runs before any ordinary process of the machine, the daemon included, and never waits
  for a CPU an ordinary process holds. Its children start back in SCHED_OTHER.
- ``nice``: nice ``MODEMD_BENCH_HOST_NICE`` (-5). Measured, not kept as the default: Linux's
  autogroup gives one session one share of the CPU, and the daemon (this process's child, in
  its session) then lost part of that share to the host under other load.
- ``none``: as in rounds 1-6.

Each peer the host starts (the daemon, smsd, the trivial client of ``bench.emulator_alone``)
runs as this process did before (``as_peer``): in SCHED_OTHER at its nice. Both set-ups need
root or CAP_SYS_NICE; without it the host stays as it was, and the results say so (``setup``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

HOST_ENV = "MODEMD_BENCH_HOST"
SETUPS = ("rr", "nice", "none")
RR_PRIORITY = 1  # the lowest real-time priority: above every SCHED_OTHER task, below the rest
# nice -5: a task weight of 3,121 against the default 1,024 (the kernel's sched_prio_to_weight)
HOST_NICE = -5
HOST_NICE_ENV = "MODEMD_BENCH_HOST_NICE"
_outer: list[int] = []  # the nice this process had before each ``raised`` (nested: a stack)


def wanted() -> str:
    """The host's set-up: ``MODEMD_BENCH_HOST``, else ``rr``."""
    chosen = os.environ.get(HOST_ENV) or "rr"
    if chosen not in SETUPS:
        raise ValueError(f"{HOST_ENV}={chosen!r}: one of {', '.join(SETUPS)}")
    return chosen


def nice_of(pid: int = 0) -> int:
    """The nice value of ``pid``'s main thread (0: this process)."""
    return os.getpriority(os.PRIO_PROCESS, pid)


def setup(daemon: int | None = None) -> dict[str, int | str]:
    """What the results record: the host's policy and nice (and the daemon's nice)."""
    policy = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
    found: dict[str, int | str] = {
        "host_policy": "rr" if policy == os.SCHED_RR else "other",
        "host_nice": nice_of(),
    }
    return found | ({} if daemon is None else {"daemon_nice": nice_of(daemon)})


def _set_threads(nice: int, realtime: bool = False) -> None:
    """Every thread of this process at ``nice`` (a thread's own, on Linux) and, with
    ``realtime``, in SCHED_RR (children reset to SCHED_OTHER); threads started later inherit
    both from the thread that starts them."""
    policy = os.SCHED_RR | os.SCHED_RESET_ON_FORK if realtime else os.SCHED_OTHER
    param = os.sched_param(RR_PRIORITY if realtime else 0)
    for task in os.listdir("/proc/self/task"):
        try:
            os.setpriority(os.PRIO_PROCESS, int(task), nice)
            os.sched_setscheduler(int(task), policy, param)
        except ProcessLookupError:  # the thread ended meanwhile
            continue


@contextmanager
def raised() -> Iterator[dict[str, int | str]]:
    """This process in the host's set-up meanwhile, where allowed; yields ``setup()``."""
    before, chosen = nice_of(), wanted()
    was_rr = setup()["host_policy"] == "rr"  # inside another ``raised``: restored as it was
    try:
        if chosen == "rr":
            _set_threads(before, realtime=True)
        elif chosen == "nice":
            _set_threads(int(os.environ.get(HOST_NICE_ENV) or HOST_NICE))
    except PermissionError:  # not root, no CAP_SYS_NICE: the host as before
        _set_threads(before)
    _outer.append(before)
    try:
        yield setup()
    finally:
        _outer.pop()
        _set_threads(before, realtime=was_rr)


def as_peer() -> None:
    """``preexec_fn`` of a process the host starts: scheduled as the host was before
    ``raised`` (as it is, outside one), not as the host is."""
    if _outer:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        os.setpriority(os.PRIO_PROCESS, 0, _outer[0])
