"""What the API and the console show of campaigns: a campaign's detail (counts by job state,
rate, ETA), the list of campaigns, and how fast a pool's devices really send."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlite_utils

from modemd.model import CampaignState, JobState

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


def measured_send_s(db: sqlite_utils.Database, pin: str, now: float) -> dict[str, float]:
    """Per device of ``pin``: the median time between its consecutive sends of the last hour
    (a send and its pacing, while it had work; longer gaps were idle time and are left out)."""
    gaps: dict[str, list[float]] = {}
    last: dict[str, float] = {}
    for device_id, sent_at in db.execute(
        "SELECT device_id, sent_at FROM jobs WHERE pin = ? AND sent_at > ? "
        "ORDER BY device_id, sent_at",
        [pin, now - 3600],
    ):
        if device_id in last and sent_at - last[device_id] < IDLE_GAP_S:
            gaps.setdefault(device_id, []).append(sent_at - last[device_id])
        last[device_id] = sent_at
    return {d: sorted(g)[len(g) // 2] for d, g in gaps.items()}
