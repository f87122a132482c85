"""What the API and the console show of campaigns: a campaign's detail (counts by job state,
rate, ETA), the list of campaigns, and how fast a pool's devices really send."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import sqlite_utils

from modemd.model import CampaignState, JobState
from modemd.store import dialect

IDLE_GAP_S = 600.0  # a device's sends further apart than this had idle time between them
# Job states that have left the queue (the campaign is done when every job is in one of them).
LEFT_QUEUE = tuple(s.value for s in JobState if s not in (JobState.QUEUED, JobState.SENDING))


def row_of(db: sqlite_utils.Database, campaign_id: str) -> dict[str, Any]:
    """The campaign's row; ``LookupError`` when there is none."""
    cursor = db.execute("SELECT * FROM campaigns WHERE campaign_id = ?", [campaign_id])
    row = cursor.fetchone()
    if row is None:
        raise LookupError(f"no campaign {campaign_id}")
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def counts(db: sqlite_utils.Database, campaign_id: str) -> dict[str, int]:
    """Jobs by state; ``opted_out``: recipients skipped when queued (they opted out after the
    validation); ``limited``: refused when queued (the key's hourly limits); ``not_queued``:
    valid recipients not dealt with yet."""
    found = {s.value: 0 for s in JobState}
    for state, count in db.execute(
        "SELECT state, count(*) FROM jobs WHERE campaign_id = ? GROUP BY state", [campaign_id]
    ):
        found[state] = count
    row = row_of(db, campaign_id)
    found["opted_out"] = row["opted_out"]  # skipped when queued: they opted out meanwhile
    found["limited"] = row["limited"]  # refused when queued: over the key's hourly [limits]
    found["not_queued"] = row["total"] - row["queued"] - row["opted_out"] - row["limited"]
    return found


def detail(db: sqlite_utils.Database, campaign_id: str, now: float | None = None) -> dict[str, Any]:
    """A campaign as the API shows it: settings, report, counts, rate and ETA."""
    row = row_of(db, campaign_id)
    now = time.time() if now is None else now
    by_state = counts(db, campaign_id)
    left = sum(by_state[s] for s in LEFT_QUEUE) + by_state["opted_out"] + by_state["limited"]
    waiting = row["total"] - left
    rate = None
    if row["started_at"] and left:
        rate = left / max(now - row["started_at"], 1e-3)  # jobs per second since the start
    running = row["state"] == CampaignState.RUNNING.value
    return {
        "campaign_id": row["campaign_id"],
        "pin": row["pin"],
        "name": row["name"],
        "state": row["state"],
        "reason": row["reason"],
        "template": row["template"],
        "lane": row["lane"],
        "rate_per_min": row["rate_per_min"],
        "send_at": row["send_at"],
        "ttl_s": row["ttl_s"],
        "schedule_id": row["schedule_id"],
        "slot": row["slot"],
        "total": row["total"],
        "counts": by_state,
        "rate_per_s": round(rate, 3) if rate is not None else None,
        "eta_s": round(waiting / rate, 1) if rate and running and waiting else None,
        "report": json.loads(row["report"]),
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }


def list_campaigns(
    db: sqlite_utils.Database, pin: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Newest first, without the reports."""
    where, params = ("pin = ?", [pin]) if pin is not None else ("1 = 1", [])
    return list(
        db.query(
            "SELECT campaign_id, pin, name, state, reason, total, queued, created_at, started_at, "
            f"finished_at FROM campaigns WHERE {where} AND state != 'validating' "
            "ORDER BY created_at DESC LIMIT ?",
            [*params, limit],
        )
    )


# A part's ``sent_at`` may precede an older row's by this much (the wall clock stepped back):
# the walk from the newest part stops at the first one older than the hour by more.
CLOCK_STEP_S = 60.0
# The parts of every pool from the newest (rowid: the order the records committed in).
_NEWEST_PARTS = (
    "SELECT p.device_id, p.sent_at, j.pin FROM job_parts AS p JOIN jobs AS j "
    "ON j.job_id = p.job_id ORDER BY p.rowid DESC"
)
# PostgreSQL, without a rowid: the parts of the pool sent since ``?``, by job_parts_sent.
_PARTS_SINCE = (
    "SELECT p.device_id, p.sent_at FROM job_parts AS p JOIN jobs AS j ON j.job_id = p.job_id "
    "WHERE j.pin = ? AND p.sent_at > ?"
)


def measured_send_s(db: sqlite_utils.Database, pin: str, now: float) -> dict[str, float]:
    """Per device of ``pin``: the median time between its consecutive sends of the last hour
    (a send and its pacing, while it had work; longer gaps were idle time and are left out).
    A send is a job's parts, recorded at one time. Read from the newest parts (no index of
    the jobs' ``sent_at``: each send's record wrote one, for this view alone)."""
    since = now - 3600
    sends: dict[str, set[float]] = {}
    if dialect.is_postgres(db):
        for device_id, sent_at in db.execute(_PARTS_SINCE, [pin, since]):
            sends.setdefault(device_id, set()).add(sent_at)
    else:
        for device_id, sent_at, of_pin in db.execute(_NEWEST_PARTS):
            if sent_at <= since:
                if sent_at <= since - CLOCK_STEP_S:
                    break
                continue
            if of_pin == pin:
                sends.setdefault(device_id, set()).add(sent_at)
    measured = {}
    for device_id, times in sends.items():
        ordered = sorted(times)
        gaps = sorted(b - a for a, b in itertools.pairwise(ordered) if b - a < IDLE_GAP_S)
        if gaps:
            measured[device_id] = gaps[len(gaps) // 2]
    return measured
