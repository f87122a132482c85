"""When a stored message announced while the modem sends is read (``drivers.read_turns``): on
a clock of the test's own, so each answer is exact (nothing is timed)."""

from __future__ import annotations

from modemd.drivers.read_turns import ReadTurns


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _turns() -> tuple[ReadTurns, Clock]:
    clock = Clock()
    return ReadTurns(defer_s=0.2, clock=clock), clock


def test_a_read_its_sends_end_put_off_is_not_due_before_the_next_send() -> None:
    """Announced 50 ms into a 100 ms send: at its end, read after the next send it waits 150
    ms, under the 200 ms budget: put off. The next send starts 60 ms later (a loaded daemon):
    judged as of the end, it is still put off, not read in that send's lead (where it was due
    when judged at that moment: 110 + 100 ms)."""
    turns, clock = _turns()
    turns.started()
    clock.now = 0.05
    turns.note(True)
    clock.now = 0.1
    assert not turns.due(at_end=True)
    turns.ended(0.1)
    clock.now = 0.16
    turns.started()
    assert not turns.due()


def test_a_read_due_at_a_sends_end_is_due_before_the_next_send() -> None:
    turns, clock = _turns()
    turns.started()
    clock.now = 0.01
    turns.note(True)
    clock.now = 0.15
    assert turns.due(at_end=True)  # 140 ms waited + 150 ms for the next send
    turns.ended(0.15)
    clock.now = 0.151
    turns.started()
    assert turns.due()


def test_what_comes_after_a_sends_end_is_read_first_only_when_sends_are_long() -> None:
    """Announced between two sends: read in the next send's lead only when that send (taken
    to be as long as the last) would make it wait past the budget: a real modem's 3 s."""
    for send_s, due in ((0.1, False), (3.0, True)):
        turns, clock = _turns()
        turns.started()
        clock.now = send_s
        turns.ended(send_s)
        clock.now = send_s + 0.005
        turns.note(True)
        clock.now = send_s + 0.01
        turns.started()
        assert turns.due() is due
