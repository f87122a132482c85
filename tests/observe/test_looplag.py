"""The loop-lag probe: a stall on the loop is seen, and put down to its cause from the loop
thread's own scheduler statistics (real stalls: a blocking sleep, a CPU-bound callback)."""

from __future__ import annotations

import asyncio
import time

import pytest

from modemd.observe import looplag

STALL_S = looplag.PROBE_S  # begun half-way through the probe's timer: it runs ~PROBE_S / 2 late
DEADLINE_S = 30.0


def test_attribute_splits_lateness_by_what_the_thread_did() -> None:
    late = 0.1
    assert looplag.attribute(late, 0.0, 0.1)["machine"] == pytest.approx(0.1)
    assert looplag.attribute(late, 0.3, 0.0)["computing"] == pytest.approx(0.1)
    blocked = looplag.attribute(late, 0.001, 0.0)
    assert blocked["blocked"] == pytest.approx(0.099) and blocked["computing"] == 0.001


def test_a_busy_callback_keeps_its_share_on_a_loaded_host() -> None:
    """150 ms late after a 100 ms callback, the thread having waited 500 ms for a CPU in the
    interval: the wait no longer takes it all (it did: computing 0), each gets its share."""
    causes = looplag.attribute(0.15, 0.1, 0.5)
    assert causes["computing"] == pytest.approx(0.15 * 0.1 / 0.6)
    assert causes["machine"] == pytest.approx(0.15 * 0.5 / 0.6)
    assert causes["blocked"] == 0.0


@pytest.mark.parametrize("late", [0.011, 0.1, 2.0])
@pytest.mark.parametrize("ran", [0.0, 0.004, 0.3, 1.5])
@pytest.mark.parametrize("waited", [0.0, 0.02, 0.5, 3.0])
def test_the_shares_add_up_to_the_lateness(late: float, ran: float, waited: float) -> None:
    causes = looplag.attribute(late, ran, waited)
    assert set(causes) == set(looplag.CAUSES)
    assert all(share >= 0 for share in causes.values()), causes
    assert sum(causes.values()) == pytest.approx(late)


def test_no_lateness_has_no_cause() -> None:
    assert looplag.attribute(0.0, 0.2, 0.3) == dict.fromkeys(looplag.CAUSES, 0.0)


async def _stalled(stall: object) -> dict[str, float]:
    """Run the probe, stall the loop once with ``stall()``; the causes of the late wake-up."""
    seen: list[dict[str, float]] = []
    task = asyncio.create_task(
        looplag.probe(lambda _lag, causes: seen.append(causes)), name="probe"
    )
    try:
        await asyncio.sleep(looplag.PROBE_S / 2)  # the probe is asleep in its timer
        stall()  # type: ignore[operator]
        async with asyncio.timeout(DEADLINE_S):
            while not any(seen):
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return next(c for c in seen if c)


async def test_a_blocking_call_on_the_loop_counts_as_blocked() -> None:
    if looplag.thread_times() is None:
        pytest.fail("/proc/thread-self/schedstat is missing: Linux with schedstats is required")
    causes = await _stalled(lambda: time.sleep(STALL_S))
    assert_put_down_to("blocked", causes)


async def test_a_cpu_bound_callback_counts_as_computing() -> None:
    def spin() -> None:
        until = time.thread_time() + STALL_S  # CPU time: the same work however loaded the host
        while time.thread_time() < until:
            pass

    causes = await _stalled(spin)
    assert_put_down_to("computing", causes)


def assert_put_down_to(cause: str, causes: dict[str, float]) -> None:
    """The stall is put down to ``cause`` however loaded the host: its share is at least a
    quarter of the stall, the other cause of the loop's own gets little. On a loaded host the
    loop thread also waits for a CPU (before the stall, and during a busy one), and that share
    goes to ``machine``; it no longer swallows the stall's."""
    other = ({"computing", "blocked"} - {cause}).pop()
    assert causes[cause] >= STALL_S / 4, causes
    assert causes[other] < STALL_S / 4, causes
