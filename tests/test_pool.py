"""The pool queue: first idle device takes the job, FIFO, exactly once, no polling."""

from __future__ import annotations

import asyncio

from modemd.model import Job, JobState
from modemd.runtime.pool import PoolQueue


def job(n: int, id_device: str | None = None) -> Job:
    return Job(
        job_id=f"job{n}",
        key_id=1,
        pin="1",
        to="+1",
        message="m",
        state=JobState.QUEUED,
        id_device=id_device,
    )


async def test_jobs_wait_in_order_then_go_to_whoever_asks() -> None:
    pool = PoolQueue("1")
    for n in range(3):
        pool.put(job(n))
    assert [(await pool.take("a")).job_id for _ in range(3)] == ["job0", "job1", "job2"]


async def test_first_idle_device_gets_the_job_and_only_it() -> None:
    pool = PoolQueue("1")
    takers = [asyncio.create_task(pool.take(d), name=f"take {d}") for d in ("a", "b", "c")]
    await asyncio.sleep(0)
    assert pool.idle_devices() == ["a", "b", "c"]
    pool.put(job(1))
    await asyncio.sleep(0)
    done = [t for t in takers if t.done()]
    assert len(done) == 1 and done[0] is takers[0]
    assert done[0].result().job_id == "job1"
    assert pool.idle_devices() == ["b", "c"]
    for t in takers[1:]:
        t.cancel()
    await asyncio.gather(*takers[1:], return_exceptions=True)
    assert pool.idle_devices() == []


async def test_job_for_one_device_skips_the_others() -> None:
    pool = PoolQueue("1")
    pool.put(job(1, id_device="b"))
    pool.put(job(2))
    assert (await pool.take("a")).job_id == "job2"
    waiter = asyncio.create_task(pool.take("a"), name="take a")
    await asyncio.sleep(0)
    assert not waiter.done()  # job1 is for b only
    assert (await pool.take("b")).job_id == "job1"
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)


async def test_job_handed_to_a_cancelled_taker_is_not_lost() -> None:
    pool = PoolQueue("1")
    taker = asyncio.create_task(pool.take("a"), name="take a")
    await asyncio.sleep(0)
    pool.put(job(1))  # handed to a's future ...
    taker.cancel()  # ... but a is cancelled in the same tick
    await asyncio.gather(taker, return_exceptions=True)
    assert taker.cancelled()
    assert len(pool) == 1
    assert (await pool.take("b")).job_id == "job1"


async def test_a_woken_waiter_has_no_job_and_the_next_job_goes_to_the_next_one() -> None:
    pool = PoolQueue("1")
    first, second = pool.wait("a"), pool.wait("b")
    pool.wake(first)  # its health interval is over, or its registration changed
    pool.put(job(1))
    assert await first.future is None and pool.leave(first) is None
    assert (await second.future) is not None and pool.leave(second) == job(1)
    assert pool.idle_devices() == [] and len(pool) == 0


async def test_a_job_handed_over_before_a_wake_is_kept() -> None:
    pool = PoolQueue("1")
    waiter = pool.wait("a")
    pool.put(job(1))
    pool.wake(waiter)  # too late: it has a job
    assert pool.leave(waiter) == job(1)


async def test_a_job_handed_to_a_waiter_that_gives_it_back_is_first_in_line() -> None:
    pool = PoolQueue("1")
    waiter = pool.wait("a")
    pool.put(job(1))  # handed to a ...
    pool.put(job(2))
    assert pool.leave(waiter, give_back=True) is None  # ... whose worker was cancelled
    assert [(await pool.take("b")).job_id for _ in range(2)] == ["job1", "job2"]
