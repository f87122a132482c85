"""Commands a send takes along in its own hold of the port (``AtPort.exchange``): a *lead* just
before its ``AT+CMGS=`` line, a *trail* just after its final result. Each is written from the
callback that reads the previous command's final result, with no loop turn between: a stored
report read in the send's turn costs no wait of its own.

A trail is written when the send's ``+CMGS`` (or its error) is read, before the worker that
sent it has even woken: the report it reads goes to the store at the earliest moment after the
send, and its round trip runs while the worker records the send and takes its next job. It is
still one command in flight: whoever takes the port next waits for the trail's final result
(the next send's line is written from that callback too; any other command waits for it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from modemd.at.transaction import Command, Transaction


@dataclass(slots=True)
class Lead:
    """A command run on a send's hold of the port, before its line (a lead) or after its final
    result (a trail). ``build`` makes it when its turn comes (None: nothing to do);
    ``on_final`` takes its answer in the callback that read it; ``on_lost``: it was written and
    no final result came (the port closed, or the wait for it timed out); ``tx`` is its
    transaction once written (``answered``: its final result came)."""

    build: Callable[[], Command | None]
    on_final: Callable[[Transaction], None]
    on_lost: Callable[[], None]
    tx: Transaction | None = None
    answered: bool = False
    lost: bool = False


class Sides:
    """The leads and trails of one port: the one in flight (written, not answered) and those
    queued behind it, in order; each is built when the one before it has its answer."""

    def __init__(self) -> None:
        self.flight: Lead | None = None
        self._queued: deque[Lead] = deque()

    def queue(self, leads: Iterable[Lead]) -> None:
        self._queued.extend(leads)

    def start(self) -> Lead | None:
        """The next queued one that builds a command, now in flight (``tx`` set); None when
        none does (the queue is empty then)."""
        while self._queued:
            lead = self._queued.popleft()
            command = lead.build()
            if command is not None:
                lead.tx = Transaction(command)
                self.flight = lead
                return lead
        return None

    def answered(self) -> Lead:
        """The one in flight got its final result: it is over."""
        lead = self.flight
        assert lead is not None
        self.flight, lead.answered = None, True
        return lead

    @property
    def queued(self) -> bool:
        return bool(self._queued)

    def drop(self) -> None:
        """Nothing more is written: the one in flight is lost (``on_lost``, once), the queued
        ones are never built."""
        lead, self.flight = self.flight, None
        self._queued.clear()
        if lead is not None and not lead.answered and not lead.lost:
            lead.lost = True
            lead.on_lost()
