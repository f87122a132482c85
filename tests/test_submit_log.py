"""The submit log (store.submits): which jobs a crashed run claimed and never wrote to a device;
trusted only from the same boot and when whole; read by the start-up recovery (real files, a
real store)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from test_store import new_job

from modemd.model import EventType, JobState
from modemd.runtime.outcome import recover_interrupted
from modemd.store import dispatch, events, jobs
from modemd.store.db import Store
from modemd.store.submits import COMPACT_AT_BYTES, SubmitLog

BOOT = "0f3c7a52-6f0e-4e57-9d1c-2b8e4f6a1d90"
OTHER_BOOT = "7d1e2c3b-0000-4a4a-8b8b-123456789abc"


def _log(path: Path, boot: str = BOOT) -> SubmitLog:
    return SubmitLog(path, boot)


def _running(tmp_path: Path, *claimed: str) -> tuple[Path, SubmitLog]:
    """A run's log, started, with ``claimed`` claimed."""
    path = tmp_path / "modemd.db-submits"
    run = _log(path)
    run.start()
    for job_id in claimed:
        run.claim(job_id)
    return path, run


def _descriptor(path: Path) -> int:
    """This process's open descriptor of ``path`` (the log a run holds)."""
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                return int(fd)
    raise AssertionError(f"{path} is not open")


def _die(path: Path) -> None:
    """What kill -9 does to a run's log: its descriptor closed (the lock goes), the file and
    what was written stay."""
    os.close(_descriptor(path))


def test_claimed_but_never_written_is_all_a_restart_may_requeue(tmp_path: Path) -> None:
    path, run = _running(tmp_path)
    for job_id in ("job_a", "job_b", "job_c"):
        run.claim(job_id)
    run.submit("job_a")
    run.submit("job_a")  # a second part: said once
    run.settled("job_c")  # recorded: its lines may stay until a rewrite
    assert _log(path).never_written() is None  # the run lives: its claims are its own
    _die(path)  # kill -9: the next run reads what the kernel holds
    assert path.read_text().count("submit job_a") == 1
    assert _log(path).never_written() == {"job_b", "job_c"}


def test_another_boot_or_a_torn_line_trusts_nothing(tmp_path: Path) -> None:
    path, _run = _running(tmp_path, "job_a")
    _die(path)
    assert _log(path, OTHER_BOOT).never_written() is None  # lines may be lost with the kernel
    with path.open("a") as torn:
        torn.write("submit job_")  # cut in the middle of a write
    assert _log(path).never_written() is None
    assert _log(tmp_path / "none").never_written() is None  # no log: a run without one
    path.write_text(f"modemd-submits 1 {BOOT}\nsent job_a\n")
    assert _log(path).never_written() is None  # a line it does not know


def test_a_clean_stop_removes_the_log_and_an_off_log_calls_everything_submitted(
    tmp_path: Path,
) -> None:
    path, run = _running(tmp_path, "job_a")
    assert not run.submitted("job_a")
    run.close()
    assert not path.exists()
    off = SubmitLog(None)
    off.start()
    off.claim("job_a")
    assert off.submitted("job_a") and off.never_written() is None
    assert SubmitLog.beside("postgresql://host/db").path is None  # shared by hosts: off


def test_the_log_is_rewritten_with_its_open_jobs_only(tmp_path: Path) -> None:
    path, run = _running(tmp_path, "job_open", "job_sent")
    run.submit("job_sent")
    line = "claim job_" + "x" * 40 + "\n"
    for n in range(COMPACT_AT_BYTES // len(line) + 1):
        job_id = f"job_{n:040d}"
        run.claim(job_id)
        run.settled(job_id)
    assert path.stat().st_size < 1024  # rewritten: the open jobs and the few claimed since
    run.claim("job_after")  # appends to the new file
    _die(path)
    unwritten = _log(path).never_written()
    assert unwritten is not None and {"job_open", "job_after"} <= unwritten
    assert "job_sent" not in unwritten and len(unwritten) < 10


def _break_writes(path: Path) -> None:
    """Every later write to the open log fails as on a full disk (ENOSPC): /dev/full is put
    in the place of its descriptor."""
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, _descriptor(path))
    os.close(full)


def test_a_failed_write_leaves_no_file_that_could_requeue_a_written_job(tmp_path: Path) -> None:
    path, run = _running(tmp_path, "job_x")
    _break_writes(path)
    assert run.submit("job_x") is True  # the file is gone: sending may go on, unlogged
    assert not path.exists() and _log(path).never_written() is None
    assert run.submitted("job_x")  # a shutdown now calls it unknown, never requeues it
    run.claim("job_y")  # the log stays off: nothing is written again this run
    assert not path.exists()


def test_a_failed_start_removes_the_last_runs_log(tmp_path: Path) -> None:
    path = tmp_path / "modemd.db-submits"
    crashed = _log(path)
    crashed.start()
    crashed.claim("job_x")  # queued again at the next start, then claimed by that run
    _die(path)
    (tmp_path / "modemd.db-submits.new").mkdir()  # the new file cannot be written
    restarted = _log(path)
    assert restarted.never_written() == {"job_x"}
    restarted.start()
    assert not path.exists()  # else a crash would requeue job_x again, even once written
    assert restarted.submit("job_x") is True and _log(path).never_written() is None


async def test_recovery_requeues_only_what_the_log_proves_unwritten(
    tmp_path: Path, store: Store
) -> None:
    written, unwritten, unlogged = [await new_job(store) for _ in range(3)]
    path = tmp_path / "modemd.db-submits"
    crashed = _log(path)
    crashed.start()
    for job in (written, unwritten):
        crashed.claim(job.job_id)
    crashed.submit(written.job_id)
    _die(path)
    for job in (written, unwritten, unlogged):  # unlogged: claimed by a run without the log
        await store.write(jobs.claim_job, job.job_id, "imei-1")
    restarted = _log(path)
    await recover_interrupted(store, restarted)
    states = {
        job.job_id: (await store.read(jobs.get_job, job.job_id)).state  # type: ignore[union-attr]
        for job in (written, unwritten, unlogged)
    }
    assert states == {
        written.job_id: JobState.UNKNOWN,
        unwritten.job_id: JobState.QUEUED,
        unlogged.job_id: JobState.UNKNOWN,
    }
    assert [r["type"] for r in await store.read(events.list_events, unwritten.job_id)] == []
    assert [r["type"] for r in await store.read(events.list_events, written.job_id)] == [
        EventType.SMS_UNKNOWN
    ]
    # This run's log began afresh (the crashed run's lines are gone), held by this run.
    assert _log(path).never_written() is None
    _die(path)
    assert _log(path).never_written() == set()


async def test_a_crash_around_a_take_over_leaves_the_job_queued_after_the_restart(
    tmp_path: Path, store: Store
) -> None:
    # A job claimed ahead by one device is handed to an idle one, which takes the claim over
    # in one commit: a kill -9 before that commit or after it (before the send) leaves it
    # claimed by one device and never written, so the restart queues it again.
    taken, handed = [await new_job(store) for _ in range(2)]
    path, _run = _running(tmp_path, taken.job_id, handed.job_id)  # claimed by the first
    for job in (taken, handed):
        assert await store.write(jobs.claim_job, job.job_id, "imei-1", job) is not None
    held = await store.read(jobs.get_job, taken.job_id)
    assert held is not None
    await store.write(dispatch.take_over, held, "imei-2", None)  # committed, then the kill
    _die(path)  # ``handed`` was in the idle device's hands, its take-over not yet written
    await recover_interrupted(store, _log(path))
    for job in (taken, handed):
        row = await store.read(jobs.get_job, job.job_id)
        assert row is not None and (row.state, row.device_id) == (JobState.QUEUED, None)
