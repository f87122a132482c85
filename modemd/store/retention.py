"""Retention: finished jobs older than N days leave the database in small batches.

A job goes with its parts, its status reports, its IPN events and their attempts, and its
(long stale) idempotency key; a campaign's recipient row keeps the job id. Kept: the
ledger (money: its rows keep the job id), keys, prices, and every job that is not finished
(``unknown`` waits for a person) or that still has an IPN event to deliver. A SIM's and a
pool's daily counts of parts (``sim_days``, ``pool_days``) go after ``SIM_DAYS_KEPT_S``, not
with their jobs."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from modemd.model import FINAL_JOB_STATES, JobState
from modemd.store import idempotency, pacing

# Final states, but never `unknown`: for those a person decides.
PRUNED_STATES = tuple(sorted(state.value for state in FINAL_JOB_STATES - {JobState.UNKNOWN}))
# An OR of equalities, not ``state IN (...)``: each of them implies the condition of the partial
# ``jobs_state`` (migration 027), so SQLite reads each state's jobs there.
_PRUNED = "(" + " OR ".join("state = ?" for _ in PRUNED_STATES) + ")"
DEFAULT_BATCH = 500  # jobs per transaction: each commit stays in milliseconds, sends go between
# A SIM's and a pool's daily counts are kept this long whatever the jobs' retention: any
# window's month (the caps', the metrics') is in them, and its count does not drop as its jobs
# are pruned.
SIM_DAYS_KEPT_S = 62 * 86400


def prune_jobs(db: sqlite_utils.Database, older_than: float, limit: int = DEFAULT_BATCH) -> int:
    """Delete up to ``limit`` finished jobs that ended before ``older_than`` (Unix seconds),
    with everything that hangs off them; how many went. Call inside a write transaction."""
    ids = [
        row[0]
        for row in db.execute(
            f"""SELECT job_id FROM jobs
                WHERE {_PRUNED} AND coalesce(final_at, updated_at) < ?
                  AND NOT EXISTS (SELECT 1 FROM events e
                                  WHERE e.job_id = jobs.job_id AND e.state = 'pending')
                ORDER BY seq LIMIT ?""",
            (*PRUNED_STATES, older_than, limit),
        ).fetchall()
    ]
    if ids:
        _delete(db, ids)
    now = time.time()
    idempotency.forget_stale(db, now)  # a batch's key: its own 24 h, not its jobs'
    oldest = pacing.local_day(now - SIM_DAYS_KEPT_S)
    db.execute("DELETE FROM sim_days WHERE day < ?", [oldest])
    db.execute("DELETE FROM pool_days WHERE day < ?", [oldest])
    return len(ids)


def _delete(db: sqlite_utils.Database, ids: list[str]) -> None:
    marks = ",".join("?" * len(ids))
    statements = (
        f"DELETE FROM event_attempts WHERE event_id IN "
        f"(SELECT event_id FROM events WHERE job_id IN ({marks}))",
        f"DELETE FROM events WHERE job_id IN ({marks})",
        f"DELETE FROM idempotency_keys WHERE job_id IN ({marks})",  # stale: a window of 24 h
        f"DELETE FROM status_reports WHERE job_id IN ({marks})",
        f"DELETE FROM job_parts WHERE job_id IN ({marks})",
        f"DELETE FROM jobs WHERE job_id IN ({marks})",
    )
    for statement in statements:
        db.execute(statement, ids)


def count_prunable(db: sqlite_utils.Database, older_than: float) -> dict[str, Any]:
    """What a prune would remove now: {"jobs": n, "oldest": Unix seconds or None}."""
    count, oldest = db.execute(
        f"""SELECT count(*), min(coalesce(final_at, updated_at)) FROM jobs
            WHERE {_PRUNED} AND coalesce(final_at, updated_at) < ?""",
        (*PRUNED_STATES, older_than),
    ).fetchone()
    return {"jobs": count, "oldest": oldest}


def prune_all(db: sqlite_utils.Database, older_than: float, batch: int = DEFAULT_BATCH) -> int:
    """Prune in batches, one transaction each (for the CLI, beside a running daemon)."""
    total = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            pruned = prune_jobs(db, older_than, batch)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        total += pruned
        if pruned < batch:
            return total
