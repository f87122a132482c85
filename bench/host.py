"""The emulators' host: this benchmark process runs at a higher scheduling priority than the
peers it measures while its emulated modems serve.

Every emulated modem, and every stamp the rows are read on, lives on this process's loop, on
the same cores as the daemon. When the daemon and this process both want a CPU and the daemon
gets it, the emulated network answers late and the stamps time the daemon late: that wait is
counted against the daemon, as network time or as gap. Real modems are hardware with their own
CPUs, whose answers do not wait for the gateway's. While a bank serves (``raised``), this
process's threads run at ``HOST_NICE`` and each peer it starts (the daemon, smsd, the trivial
client of ``bench.emulator_alone``) at the nice this process had before (``as_peer``): when
both are runnable the host runs first, and the daemon gets LESS of the CPU than without it,
never more; nothing in the emulated timings changes.

Lowering a nice value needs root or CAP_SYS_NICE; without it the host stays where it was, and
the results say so (``nice_of``). ``MODEMD_BENCH_HOST_NICE=0`` runs the host as rounds 1-6
did (A/B runs of the same code). Linux's autogroup gives each session one share of the CPU:
the daemon, this process's child in the same session, splits that share with the host by
these nice values; against the rest of the machine the pair weighs as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

# nice -5: a task weight of 3,121 against the default 1,024 (the kernel's sched_prio_to_weight)
HOST_NICE = -5
HOST_NICE_ENV = "MODEMD_BENCH_HOST_NICE"
_outer: list[int] = []  # the nice this process had before each ``raised`` (nested: a stack)


def wanted() -> int:
    """The host's nice value: ``MODEMD_BENCH_HOST_NICE``, else ``HOST_NICE``."""
    return int(os.environ.get(HOST_NICE_ENV) or HOST_NICE)


def nice_of(pid: int = 0) -> int:
    """The nice value of ``pid``'s main thread (0: this process)."""
    return os.getpriority(os.PRIO_PROCESS, pid)


def _set_threads(nice: int) -> None:
    """Every thread of this process at ``nice`` (a nice value is a thread's, on Linux); the
    threads started later inherit it from the thread that starts them."""
    for task in os.listdir("/proc/self/task"):
        try:
            os.setpriority(os.PRIO_PROCESS, int(task), nice)
        except ProcessLookupError:  # the thread ended meanwhile
            continue


@contextmanager
def raised() -> Iterator[int]:
    """This process at ``wanted()`` meanwhile, where allowed; yields the nice in effect."""
    before = nice_of()
    try:
        _set_threads(wanted())
    except PermissionError:  # not root, no CAP_SYS_NICE: the host as before
        _set_threads(before)
    _outer.append(before)
    try:
        yield nice_of()
    finally:
        _outer.pop()
        _set_threads(before)


def as_peer() -> None:
    """``preexec_fn`` of a process the host starts: the nice the host had before ``raised``
    (its own, outside one), not the host's raised one."""
    if _outer:
        os.setpriority(os.PRIO_PROCESS, 0, _outer[0])
