"""Campaigns: a validated list of recipients that becomes bulk-lane jobs, with pause, resume,
cancel, progress counts and their IPNs (``campaign.progress``, ``campaign.done``).

Recipients are stored when the file is validated (``add_recipients``, in batches) and become
jobs when the campaign runs (``queue_batch``): credit is reserved per job as it is queued, and
a campaign that runs out of credit pauses with the reason. Every state change goes through
``_move`` (checked against ``CAMPAIGN_TRANSITIONS``)."""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from modemd.caps import NO_CAPS, Caps
from modemd.errors import InvalidTransitionError
from modemd.model import (
    CAMPAIGN_TRANSITIONS,
    CampaignState,
    EventType,
    Lane,
)
from modemd.store import campaign_limits as limiting
from modemd.store import events, jobs, optouts, queue, wallet
from modemd.store.accept import DestinationLimits
from modemd.store.campaign_views import detail, row_of

log = logging.getLogger(__name__)

EVENT_FIELDS = (
    *("campaign_id", "pin", "name", "state", "reason", "total", "counts"),
    *("rate_per_s", "eta_s", "schedule_id", "slot"),
)  # the ``data`` of campaign.progress and campaign.done


@dataclass(frozen=True, slots=True)
class Recipient:
    """One valid row of a campaign's file."""

    row: int  # line of the file (1: the header)
    to: str  # E.164
    country: str | None
    message: str  # the template filled in
    parts: int
    encoding: str


def new_campaign_id() -> str:
    return f"cmp_{int(time.time() * 1000):x}{secrets.token_hex(4)}"


def create(
    db: sqlite_utils.Database,
    *,
    key_id: int,
    pin: str,
    template: str,
    name: str = "",
    lane: Lane = Lane.BULK,
    rate_per_min: int | None = None,
    send_at: float | None = None,
    ttl_s: float | None = None,
    progress_every_s: float = 10.0,
    schedule_id: str | None = None,
    slot: float | None = None,
) -> str:
    """A new campaign, ``validating`` until ``finish_validation``; returns its id."""
    campaign_id = new_campaign_id()
    db.table("campaigns").insert(
        {
            "campaign_id": campaign_id,
            "key_id": key_id,
            "pin": pin,
            "name": name,
            "template": template,
            "state": CampaignState.VALIDATING.value,
            "lane": lane.value,
            "rate_per_min": rate_per_min,
            "send_at": send_at,
            "ttl_s": ttl_s,
            "report": "{}",
            "schedule_id": schedule_id,
            "slot": slot,
            "progress_every_s": progress_every_s,
            "created_at": time.time(),
        }
    )
    return campaign_id


def add_recipients(db: sqlite_utils.Database, campaign_id: str, batch: list[Recipient]) -> int:
    """Store a batch of valid rows; returns their estimated cost (0 without a wallet)."""
    db.conn.executemany(
        "INSERT INTO campaign_recipients (campaign_id, row, to_number, country, message, parts, "
        "encoding) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(campaign_id, r.row, r.to, r.country, r.message, r.parts, r.encoding) for r in batch],
    )
    db.execute(
        "UPDATE campaigns SET total = total + ? WHERE campaign_id = ?", [len(batch), campaign_id]
    )
    return batch_cost(db, row_of(db, campaign_id)["key_id"], batch)


def finish_validation(db: sqlite_utils.Database, campaign_id: str, report: dict[str, Any]) -> None:
    """The file is read: the campaign is a ``draft`` with its report."""
    db.execute(
        "UPDATE campaigns SET report = ? WHERE campaign_id = ?",
        [json.dumps(report), campaign_id],
    )
    _move(db, campaign_id, CampaignState.DRAFT)


def discard(db: sqlite_utils.Database, campaign_id: str) -> None:
    """Remove a campaign that never got past validation (nothing of it is kept)."""
    row = row_of(db, campaign_id)
    if row["state"] != CampaignState.VALIDATING.value:
        raise InvalidTransitionError(f"{campaign_id} is {row['state']}: not discarded")
    db.execute("DELETE FROM campaign_recipients WHERE campaign_id = ?", [campaign_id])
    db.execute("DELETE FROM campaigns WHERE campaign_id = ?", [campaign_id])


def discard_unfinished(db: sqlite_utils.Database) -> int:
    """At start-up: campaigns whose validation a crash interrupted are removed."""
    ids = [r[0] for r in db.execute("SELECT campaign_id FROM campaigns WHERE state = 'validating'")]
    for campaign_id in ids:
        discard(db, campaign_id)
    return len(ids)


def start(db: sqlite_utils.Database, campaign_id: str, pin: str) -> dict[str, Any]:
    """A draft starts running (its jobs are queued by ``queue_batch``)."""
    _own(db, campaign_id, pin)
    _move(db, campaign_id, CampaignState.RUNNING, started_at=time.time())
    return detail(db, campaign_id)


def pause(db: sqlite_utils.Database, campaign_id: str, pin: str, reason: str) -> dict[str, Any]:
    """No job of it starts from now on (claims check the campaign's state)."""
    _own(db, campaign_id, pin)
    _move(db, campaign_id, CampaignState.PAUSED, reason=reason)
    return detail(db, campaign_id)


def resume(db: sqlite_utils.Database, campaign_id: str, pin: str) -> dict[str, Any]:
    _own(db, campaign_id, pin)
    _move(db, campaign_id, CampaignState.RUNNING, reason=None)
    return detail(db, campaign_id)


def cancel(db: sqlite_utils.Database, campaign_id: str, pin: str) -> dict[str, Any]:
    """Its queued jobs end ``cancelled`` and never leave; jobs in flight finish."""
    _own(db, campaign_id, pin)
    _move(db, campaign_id, CampaignState.CANCELLED, reason="cancelled by the client")
    queue.cancel_campaign_jobs(db, campaign_id, "campaign cancelled")
    _finish_event(db, campaign_id)
    return detail(db, campaign_id)


def queue_batch(
    db: sqlite_utils.Database,
    campaign_id: str,
    limit: int,
    *,
    limits: DestinationLimits | None = None,
    key_caps: Caps = NO_CAPS,
) -> int:
    """Make jobs of up to ``limit`` recipients not yet queued, reserving each one's credit, and
    skip those who opted out since the validation or who are over the key's hourly ``limits``
    (kept as refusals, as ``/send`` refuses them); returns how many rows were dealt with. Out
    of credit, or at the key's daily or monthly cap: the campaign pauses with the reason."""
    row = row_of(db, campaign_id)
    if row["state"] != CampaignState.RUNNING.value:
        return 0
    rows = db.execute(
        "SELECT row, to_number, country, message, parts, encoding FROM campaign_recipients "
        "WHERE campaign_id = ? AND row > ? ORDER BY row LIMIT ?",  # the PK's order
        [campaign_id, row["queued_row"], limit],
    ).fetchall()
    if not rows:
        return 0
    now = time.time()
    excluded = optouts.opted_out_numbers(db, row["pin"])  # who opted out since validation
    priced = wallet.has_wallet(db, row["key_id"])
    available = wallet.balance(db, row["key_id"]).available if priced else 0
    hourly = (
        limiting.hourly_counts(db, row["key_id"], [r[1] for r in rows], limits, now)
        if limits is not None and limiting.limited(limits)
        else None
    )
    room = limiting.cap_room(db, row["key_id"], key_caps)
    take: list[Any] = []
    costs: list[int] = []
    skipped = limited = 0
    last = row["queued_row"]  # the last row dealt with (made a job, or skipped)
    for recipient in rows:
        line, to, country, _, parts, _ = recipient
        over = hourly.over(to) if hourly is not None else None
        if to in excluded or over is not None:
            if over is not None:
                limiting.refuse_row(db, row["key_id"], campaign_id, to, over)
                limited += 1
            else:
                skipped += 1
            last = line
            continue
        capped = room.over(parts) if room is not None else None
        if capped is not None:
            _move(db, campaign_id, CampaignState.PAUSED, reason=capped)
            break
        cost = wallet.price_per_part(db, to, country) * parts if priced else 0
        if cost > available:
            short = wallet.InsufficientCreditError(available, cost)
            _move(db, campaign_id, CampaignState.PAUSED, reason=f"out of credit: {short}")
            break
        if hourly is not None:
            hourly.add(to)
        if room is not None:
            room.add(parts)
        available -= cost
        costs.append(cost)
        take.append(recipient)
        last = line
    shared = {
        "key_id": row["key_id"],
        "pin": row["pin"],
        "lane": row["lane"],
        "send_at": row["send_at"],
        "valid_until": _valid_until(db, row, now),
        "campaign_id": campaign_id,
        "priced": 1 if priced else 0,  # no wallet: its sends read no ledger (wallet.settle)
    }
    ids = [jobs.new_job_id() for _ in take]
    jobs.insert_many(
        db,
        shared,
        [
            {
                "job_id": job_id,
                "to_number": to,
                "message": message,
                "parts": parts,
                "encoding": encoding,
                "created_at": now + n * 1e-6,  # distinct and ordered within the batch
            }
            for n, (job_id, (_, to, _, message, parts, encoding)) in enumerate(
                zip(ids, take, strict=True)
            )
        ],
    )
    wallet.reserve_costs(db, row["key_id"], list(zip(ids, costs, strict=False)))
    db.conn.executemany(
        "UPDATE campaign_recipients SET job_id = ? WHERE campaign_id = ? AND row = ?",
        [(job_id, campaign_id, line) for job_id, (line, *_) in zip(ids, take, strict=True)],
    )
    made = len(take)
    db.execute(
        "UPDATE campaigns SET queued = queued + ?, opted_out = opted_out + ?, "
        "limited = limited + ?, queued_row = ? WHERE campaign_id = ?",
        [made, skipped, limited, last, campaign_id],
    )
    if limited:
        log.warning(
            "campaign %s: %d recipients over the key's hourly [limits], refused (not queued)",
            campaign_id,
            limited,
        )
    return made + skipped + limited


def _valid_until(db: sqlite_utils.Database, row: dict[str, Any], now: float) -> float:
    if row["ttl_s"]:
        return max(now, row["send_at"] or now) + float(row["ttl_s"])
    return queue.default_valid_until(db, row["key_id"], now, row["send_at"])


def unqueued_running(db: sqlite_utils.Database) -> list[str]:
    """Running campaigns with recipients not yet made jobs (start-up, after a crash)."""
    return [
        r[0]
        for r in db.execute(
            "SELECT campaign_id FROM campaigns WHERE state = 'running' "
            "AND queued + opted_out + limited < total"
        )
    ]


def rate_limits(db: sqlite_utils.Database) -> dict[str, int]:
    """Messages per minute of the running campaigns that have a limit."""
    return {
        r[0]: int(r[1])
        for r in db.execute(
            "SELECT campaign_id, rate_per_min FROM campaigns "
            "WHERE state = 'running' AND rate_per_min IS NOT NULL"
        )
    }


def get_pin(db: sqlite_utils.Database, campaign_id: str) -> str | None:
    row = db.execute("SELECT pin FROM campaigns WHERE campaign_id = ?", [campaign_id]).fetchone()
    return row[0] if row else None


def tick(db: sqlite_utils.Database, now: float) -> list[str]:
    """Running campaigns whose last job left the queue are ``done`` (``campaign.done``); the
    others get a ``campaign.progress`` when theirs is due. Returns the campaigns now done."""
    done = []
    for row in list(db.query("SELECT * FROM campaigns WHERE state = 'running'")):
        campaign_id = row["campaign_id"]
        in_queue = db.execute(
            "SELECT count(*) FROM jobs WHERE campaign_id = ? AND state IN ('queued', 'sending')",
            [campaign_id],
        ).fetchone()[0]
        if row["queued"] + row["opted_out"] + row["limited"] == row["total"] and in_queue == 0:
            _move(db, campaign_id, CampaignState.DONE)
            _finish_event(db, campaign_id)
            done.append(campaign_id)
        elif now - (row["progress_at"] or row["started_at"] or 0) >= row["progress_every_s"]:
            _event(db, campaign_id, EventType.CAMPAIGN_PROGRESS, now)
            db.execute(
                "UPDATE campaigns SET progress_at = ? WHERE campaign_id = ?", [now, campaign_id]
            )
    return done


def next_check_at(db: sqlite_utils.Database, now: float, done_check_s: float) -> float | None:
    """When ``tick`` has something to look at: a running campaign's next progress event, its
    ``send_at`` if its jobs wait for it, else ``now + done_check_s`` (its last job may leave
    the queue any time); None when no campaign runs."""
    row = db.execute(
        "SELECT min(coalesce(progress_at, started_at, ?) + progress_every_s), "
        "min(CASE WHEN send_at > ? THEN send_at ELSE ? END) FROM campaigns "
        "WHERE state = 'running'",
        [now, now, now + done_check_s],
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return float(min(row[0], row[1]))


def _finish_event(db: sqlite_utils.Database, campaign_id: str) -> None:
    db.execute(
        "UPDATE campaigns SET finished_at = ? WHERE campaign_id = ?", [time.time(), campaign_id]
    )
    _event(db, campaign_id, EventType.CAMPAIGN_DONE, time.time())


def _event(db: sqlite_utils.Database, campaign_id: str, type_: EventType, now: float) -> None:
    shown = detail(db, campaign_id, now)
    data = {k: shown[k] for k in EVENT_FIELDS}
    events.add_subject_event(db, row_of(db, campaign_id)["key_id"], campaign_id, type_, data)


def _own(db: sqlite_utils.Database, campaign_id: str, pin: str) -> None:
    """``LookupError`` unless the campaign exists and is of ``pin`` (others' look absent)."""
    if get_pin(db, campaign_id) != pin:
        raise LookupError(f"no campaign {campaign_id}")


def _move(db: sqlite_utils.Database, campaign_id: str, new: CampaignState, **fields: Any) -> None:
    """The one place a campaign changes state."""
    current = CampaignState(row_of(db, campaign_id)["state"])
    if new not in CAMPAIGN_TRANSITIONS[current]:
        raise InvalidTransitionError(
            f"campaign {campaign_id} is {current.value}: it cannot become {new.value}"
        )
    values = {"state": new.value, **fields}
    db.execute(
        f"UPDATE campaigns SET {', '.join(f'{k} = ?' for k in values)} WHERE campaign_id = ?",
        [*values.values(), campaign_id],
    )


def batch_cost(db: sqlite_utils.Database, key_id: int, batch: list[Recipient]) -> int:
    """What a batch of recipients would cost (0 without a wallet); nothing is written."""
    if not wallet.has_wallet(db, key_id):
        return 0
    return sum(wallet.price_per_part(db, r.to, r.country) * r.parts for r in batch)
