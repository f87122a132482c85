"""A backlog's waits as the ptys saw them: each time a modem waited between one send's end (the
network's ``+CMGS``) and its next ``AT+CMGS=``. One reading for ``bench.backlog`` (the largest
gap and where it lay), ``bench.stall_table`` (what overlapped the largest) and ``bench.gaps``
(a timeline around them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from bench.harness import CMGS


class Sends(Protocol):
    """One modem's sends as the pty saw them: starts (AT+CMGS=) and ends (the network's accept)."""

    @property
    def cmgs_at(self) -> list[float]: ...

    @property
    def accepted_at(self) -> list[float]: ...

    @property
    def command_heads(self) -> list[tuple[float, bytes]]: ...


class Wait(NamedTuple):
    """One wait, its length first: waits sort by it."""

    s: float  # its length
    end: float  # the send's end
    next: float  # the next AT+CMGS=
    modem: int  # the tap's index
    k: int  # which of the modem's waits, from 1 (the last: before its final send)
    of: int  # the modem's waits in all


def waits(taps: Sequence[Sends]) -> list[Wait]:
    """Every modem's waits, modem by modem and in order."""
    found: list[Wait] = []
    for n, tap in enumerate(taps):
        of = len(tap.cmgs_at) - 1
        pairs = zip(tap.accepted_at, tap.cmgs_at[1:], strict=False)
        found += [Wait(nxt - end, end, nxt, n, k, of) for k, (end, nxt) in enumerate(pairs, 1)]
    return found


def dry_at(taps: Sequence[Sends]) -> float:
    """When the first modem's last send ended: from then on the pool's line was empty, and
    what a modem waits for is the backlog's end (infinity without a send)."""
    return min((t.accepted_at[-1] for t in taps if t.accepted_at), default=float("inf"))


def written(tap: Sends, wait: Wait) -> list[str]:
    """What the host wrote to ``tap`` during ``wait`` (a stored report's read, a free, a
    listing), its own next ``AT+CMGS=`` left out."""
    return [
        head.decode(errors="replace")
        for at, head in tap.command_heads
        if wait.end < at < wait.next and not head.startswith(CMGS)
    ]
