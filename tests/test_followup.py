"""While a backlog waits, the write that records a send also claims the device's next job:
one commit between two sends instead of two (real store, real driver on an emulated modem)."""

from __future__ import annotations

import asyncio

from test_runtime import FAST, wait_state

from modemd.drivers import registry
from modemd.emulators.modem_bank import EmulatedBank
from modemd.errors import StoreError
from modemd.model import Job, JobState, SentPart
from modemd.runtime.bank import Bank
from modemd.runtime.followup import ClaimedLine
from modemd.runtime.outcome import OutcomeRecorder
from modemd.runtime.pool import PoolQueue
from modemd.store import dispatch, jobs, keys
from modemd.store.db import Store
from modemd.store.submits import SubmitLog

JOBS = 6
REPORT_LATER_S = 600.0  # no status report (and its commit) arrives during the test
FLIP_S = 30.0  # generous: a give-back is a commit on a loaded machine


async def _jobs(store: Store, count: int) -> list[Job]:
    key, _ = await store.write(
        keys.create_key, pin="4711", allow_ips=[], over_ip=True, ipn_url=None
    )
    return [
        await store.write(
            jobs.insert_job, key_id=key.key_id, pin="4711", to="+31612345678",
            message=f"job {n}", parts=1, encoding="gsm7",
        )
        for n in range(count)
    ]  # fmt: skip


async def _state(store: Store, job: Job) -> JobState:
    found = await store.read(jobs.get_job, job.job_id)
    assert found is not None
    return found.state


async def _sending(store: Store, first: Job) -> tuple[ClaimedLine, PoolQueue, Job]:
    """``first`` claimed by dev1 (being sent), and that device's line of claimed jobs."""
    sending = await store.write(dispatch.claim_for, first.job_id, "dev1", None)
    assert sending is not None
    pool = PoolQueue("4711")
    return ClaimedLine(OutcomeRecorder(store, pool, SubmitLog(None)), pool, "dev1"), pool, sending


async def test_a_backlog_goes_out_on_one_commit_per_send(store: Store) -> None:
    emulators = EmulatedBank.create(
        1,
        seed=5,
        profile_overrides={"send_latency_s": (0.0, 0.0), "report_delay_s": REPORT_LATER_S},
    )
    await emulators.start()
    bank = Bank(store)
    await bank.start()
    try:
        modem = emulators.modems[0]
        spec = registry.SerialModem(modem.port, "4711", timeouts=FAST)
        assert await bank.attach(registry.factory(spec))
        queued = await _jobs(store, JOBS)
        commits: list[float] = []
        store.on_commit_seconds.append(commits.append)
        for job in queued:
            bank.submit(job)
        for job in queued:
            await wait_state(store, job.job_id, JobState.SENT)
        # claim 1, then each record with the next claim, then the last record: JOBS + 1
        # (two per send without the follow-up: 2 * JOBS)
        assert len(commits) <= JOBS + 2, len(commits)
        assert [m.text for m in modem.accepted] == [f"job {n}" for n in range(JOBS)]
    finally:
        await bank.close()
        await emulators.close()


async def test_a_shutdown_during_the_record_puts_the_claimed_next_job_back(store: Store) -> None:
    first, second = await _jobs(store, 2)
    line, pool, sending = await _sending(store, first)
    line.record_sent(sending, [SentPart(part=1, mr=7)], None, [second])
    assert line.held == 1 and line.record is not None and not line.record.done()
    # The worker stops before the record commits: it waits for the record (no task of its
    # own to cancel), then what it claimed goes back
    await line.release()
    assert await _state(store, first) is JobState.SENT
    assert await _state(store, second) is JobState.QUEUED  # nothing was sent: back in line
    assert pool.job_ids() == {second.job_id}  # and in the pool: another device may take it
    assert line.held == 0


async def test_a_record_queued_at_once_is_its_write_and_its_claims_join_first(
    store: Store,
) -> None:
    """No future of its own: with no record before it in flight, the line's record is the
    store's write (its answer: the job sent and those claimed), and the write's callback has
    put the claimed job in line before anyone waiting for the record resumes."""
    first, second = await _jobs(store, 2)
    line, pool, sending = await _sending(store, first)
    line.record_sent(sending, [SentPart(part=1, mr=7)], None, [second])
    record = line.record
    assert record is not None
    sent, claimed = await asyncio.shield(record)
    assert sent.job_id == first.job_id and [job.job_id for job in claimed] == [second.job_id]
    assert [job.job_id for job in line.jobs] == [second.job_id] and line.asked == 0
    assert not pool.job_ids()  # claimed: in this line only
    assert await _state(store, second) is JobState.SENDING
    await line.settle()
    assert line.record is None and line.take().job_id == second.job_id


async def test_a_record_after_a_failed_one_is_written_and_gives_its_claims_back(
    store: Store,
) -> None:
    first, second, third = await _jobs(store, 3)
    line, pool, sending = await _sending(store, first)
    failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    line.record = failed  # the record before it, still in flight
    line.record_sent(sending, [SentPart(part=1, mr=7)], None, [second, third])
    failed.set_exception(StoreError("disk full"))  # that one failed: its claims are not made
    await line.settle()
    assert await _state(store, first) is JobState.SENT  # recorded all the same
    assert [await _state(store, job) for job in (second, third)] == [JobState.QUEUED] * 2
    assert [job.job_id for job in pool.withdraw(lambda _job: True)] == [
        second.job_id,
        third.job_id,
    ]  # first in line, in their order
    assert line.held == 0 and not line.jobs


async def test_a_device_going_idle_takes_over_a_held_job_it_may_send(store: Store) -> None:
    free, pinned = await _jobs(store, 2)
    pinned = pinned._replace(id_device="dev1")  # only dev1 may send it
    pool = PoolQueue("4711")
    outcomes = OutcomeRecorder(store, pool, SubmitLog(None))
    line = ClaimedLine(outcomes, pool, "dev1")
    for job in (free, pinned):
        held = await store.write(dispatch.claim_for, job.job_id, "dev1", None)
        assert held is not None
        line.jobs.append(held._replace(id_device=job.id_device))
    line.join()
    try:
        plain = pool.wait("dev3")  # a wait that does not take claimed jobs is offered none
        assert not plain.future.done() and len(line.jobs) == 2
        pool.leave(plain)
        waiter = pool.wait("dev2", takes_claimed=True)  # dev1 hands one over at once
        got = pool.leave(waiter)
        assert got is not None and got.job_id == free.job_id
        assert got.state is JobState.SENDING and got.device_id == "dev1"  # still dev1's claim
        assert [job.job_id for job in line.jobs] == [pinned.job_id]  # never in two lines
        assert len(pool) == 0  # never queued in the pool
        commits: list[float] = []
        store.on_commit_seconds.append(commits.append)
        taken = await outcomes.claim(got, "dev2", None)
        assert isinstance(taken, Job) and taken.device_id == "dev2"
        assert len(commits) == 1  # taken over in one commit, not given back and claimed again
        row = await store.read(jobs.get_job, free.job_id)
        assert row is not None and (row.state, row.device_id) == (JobState.SENDING, "dev2")
        assert await store.read(jobs.attempts, free.job_id) == 1  # one claim, one attempt
        third = pool.wait("dev3", takes_claimed=True)
        assert not third.future.done()  # the pinned one stays with dev1
        pool.leave(third)
    finally:
        line.leave()
    assert pool.givers == {}
    await line.release()  # dev1 stops: what it held goes back too
    assert await _state(store, pinned) is JobState.QUEUED


async def test_a_device_going_idle_asks_only_the_devices_that_hold_a_job(store: Store) -> None:
    """The pool's ``givers`` are the devices holding a job claimed ahead, not every device of
    the pool: a wait asks those (each first wait asked all, quadratic in the pool's size)."""
    (queued,) = await _jobs(store, 1)
    pool = PoolQueue("4711")
    outcomes = OutcomeRecorder(store, pool, SubmitLog(None))
    lines = [ClaimedLine(outcomes, pool, f"dev{n}") for n in range(4)]
    for line in lines:
        line.join()
    try:
        assert pool.givers == {}  # none holds a job: a device going idle asks none
        holder = lines[2]
        holder.claim_ahead([queued], None)
        await holder.settle()
        assert [job.job_id for job in holder.jobs] == [queued.job_id]
        assert list(pool.givers) == [holder.give_back]
        waiter = pool.wait("dev9", takes_claimed=True)
        handed = pool.leave(waiter)
        assert handed is not None and handed.job_id == queued.job_id
        assert not holder.jobs and pool.givers == {}  # it holds nothing more: out
        await outcomes.give_up(handed)
    finally:
        for line in lines:
            line.leave()
    assert await _state(store, queued) is JobState.QUEUED
