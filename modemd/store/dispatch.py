"""A send's two writes, each with the device's state in the same transaction: claiming a job
makes its device busy; recording it sent makes the device ready. Two commits per send, not four;
while a backlog waits, one: the record of a send also claims the device's next jobs
(``runtime.followup``); a job claimed ahead by one device goes to an idle one in one commit
(``take_over``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlite_utils

from modemd import caps
from modemd.caps import Caps, Reached, Usage, Window
from modemd.model import DeviceState, Job, JobState, Lane, SentPart
from modemd.store import devices, dialect, jobs, pacing
from modemd.store.db import replayable
from modemd.store.transitions import as_moved


@replayable
def claim_for(
    db: sqlite_utils.Database,
    job_id: str,
    device_id: str,
    signal: int | None,
    queued: Job | None = None,
) -> Job | None:
    """``jobs.claim_job`` (``queued``: the caller's copy of the job), and the device is
    ``busy`` when it got the job. On a database shared by hosts, a high-lane job another host
    took first is replaced by the next one this device may send (every host's pools hold every
    such job: no claim is wasted)."""
    claimed = _claim(db, job_id, device_id, queued)
    if claimed is not None:
        devices.set_device_state(db, device_id, DeviceState.BUSY, signal)
    return claimed


def _claim(
    db: sqlite_utils.Database, job_id: str, device_id: str, queued: Job | None = None
) -> Job | None:
    claimed = jobs.claim_job(db, job_id, device_id, queued)
    if claimed is None and dialect.is_postgres(db):
        taken = jobs.get_job(db, job_id)
        if taken is not None and taken.lane is Lane.HIGH:
            claimed = jobs.claim_next_high(db, taken.pin, device_id)
    return claimed


@replayable
def take_over(
    db: sqlite_utils.Database, held: Job, device_id: str, signal: int | None
) -> Job | None:
    """``held``, claimed by another device (``held.device_id``) that has not begun it, becomes
    ``device_id``'s claim, and that device ``busy``, in one transaction: the job never goes
    back to the queue in between, so a crash leaves it claimed by exactly one of them (and
    never written to a modem: the submit log queues it again at the next start). Its attempt
    stays the one the first claim counted. None when the row is no longer that claim."""
    now = time.time()
    moved = db.conn.execute(
        "UPDATE jobs SET device_id = ?, updated_at = ? "
        "WHERE job_id = ? AND state = 'sending' AND device_id = ?",
        [device_id, now, held.job_id, held.device_id],
    )
    if moved.rowcount != 1:
        return None
    devices.set_device_state(db, device_id, DeviceState.BUSY, signal)
    return as_moved(held, JobState.SENDING, now, {"device_id": device_id})


@replayable
def claim_within_cap(
    db: sqlite_utils.Database,
    job_id: str,
    device_id: str,
    signal: int | None,
    pin: str,
    limit: Caps,
    window: Window,
    queued: Job | None = None,
) -> Job | Reached | None:
    """``claim_for``, unless the job's parts would pass its pool's cap (``limit``), counting
    what the pool's devices sent in ``window`` and what they are sending now: checked in the
    claim's own transaction, so two devices never both take the cap's last part. The cap
    reached (nothing claimed), the claimed job, or None (no longer queued)."""
    row = db.execute("SELECT parts FROM jobs WHERE job_id = ?", [job_id]).fetchone()
    if row is None:
        return None
    sent = pacing.pool_usage(db, pin, window)
    (sending,) = db.execute(
        "SELECT coalesce(sum(parts), 0) FROM jobs WHERE pin = ? AND state = 'sending'", [pin]
    ).fetchone()
    usage = Usage(sent.today + int(sending), sent.month + int(sending))
    hit = caps.reached(limit, usage, window, adding=int(row[0]))
    return hit if hit is not None else claim_for(db, job_id, device_id, signal, queued)


@replayable
def record_sent_and_claim(
    db: sqlite_utils.Database,
    job: Job,
    parts: list[SentPart],
    signal: int | None,
    nxt: Sequence[Job],
    *,
    busy: bool = False,
) -> tuple[Job, list[Job]]:
    """``jobs.mark_sent``, then ``claim_for`` each of the device's next jobs (the caller's
    queued copies) in the same transaction: the device goes from one send to the next on one
    commit, and its row is written once: busy when it got a job or goes on with one it holds
    (``busy``), else ready again. The claimed jobs in order; one no longer queued is left out."""
    sent = jobs.mark_sent(db, job, parts)
    device_id = job.device_id
    assert device_id is not None
    taken = (_claim(db, one.job_id, device_id, one) for one in nxt)
    claimed = [one for one in taken if one is not None]
    state = DeviceState.BUSY if claimed or busy else DeviceState.READY
    devices.note_sent(db, device_id, state, signal)
    return sent, claimed
