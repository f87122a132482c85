"""A send's accept transaction: the job and the reserve of its cost, together or not at all.

Takes plain values (the API splits the text and normalises the number before); runs inside the
store's write transaction, so a refusal raised here (no credit, an idempotency conflict, a
destination over its limit) drops the job and nothing else: accepts are ``replayable``, so a
batch of them shares a commit without a savepoint each, and one refused makes the store roll
the batch back and run it again with savepoints. Checks that count earlier sends run here
too, so two concurrent requests cannot both pass them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlite_utils

from modemd import caps
from modemd.caps import NO_CAPS, Caps
from modemd.errors import ModemdError
from modemd.model import Job, Lane
from modemd.store import idempotency as keys_seen
from modemd.store import jobs, optouts, pacing, queue, wallet
from modemd.store.db import replayable
from modemd.store.idempotency import Idempotency, IdempotencyConflictError

__all__ = [
    "Accepted",
    "Batch",
    "BlockedDestinationError",
    "DestinationLimits",
    "Idempotency",
    "IdempotencyConflictError",
    "KeyCapError",
    "Outcome",
    "accept_many",
    "accept_send",
]

LIMIT_WINDOW_S = 3600  # destination limits count the sends of the last hour


class BlockedDestinationError(ModemdError):
    """A destination this key may not send to now (code 11); ``reason`` is a short word."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class KeyCapError(ModemdError):
    """The key's daily or monthly cap would be passed (code 9, as no credit: nothing is
    accepted); ``retry_after_s`` says when the cap lifts."""

    def __init__(self, reason: str, detail: str, retry_after_s: float) -> None:
        super().__init__(detail)
        self.reason = reason  # daily_cap | monthly_cap
        self.detail = detail
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class DestinationLimits:
    """SMS pumping guard: sends per key per hour to one number prefix and to one recipient."""

    prefix_digits: int = 5  # '+39333...' counts under '+39333'
    per_prefix_per_hour: int | None = None
    per_recipient_per_hour: int | None = None


class Accepted(NamedTuple):
    """An accept's result (a named tuple: a frozen dataclass's fields are each set through
    ``object.__setattr__``, ~1,400 instructions apiece on the store's thread per accept)."""

    job: Job
    cost: int | None  # reserved, in 1/10000 units; None: the key has no wallet
    replayed: bool = False  # True: the Idempotency-Key's first job, nothing new was written


@replayable  # nothing but rows of the transaction: run again after a rollback, as if once
def accept_send(
    db: sqlite_utils.Database,
    *,
    key_id: int,
    pin: str,
    to: str,
    message: str,
    parts: int,
    encoding: str,
    id_device: str | None,
    country: str | None,
    idempotency: Idempotency | None = None,
    limits: DestinationLimits | None = None,
    lane: Lane | None = None,
    send_at: float | None = None,
    valid_until: float | None = None,
    transactional: bool = False,
    key_caps: Caps = NO_CAPS,
) -> Accepted:
    """Insert the queued job and reserve its cost (no credit: neither happens). ``lane``
    None: the key's; ``valid_until`` None: max(now, send_at) + the key's max queue age."""
    now = time.time()
    if idempotency is not None:
        first = keys_seen.first_job(db, key_id, idempotency, now)
        if first is not None:
            job = jobs.get_job(db, first)
            assert job is not None  # retention removes the key with its job
            return Accepted(job, wallet.reserved_for(db, job), replayed=True)
    context = _read_context(db, key_id, pin, to)
    if context.opted_out and not transactional:  # STOP holds (code 10)
        raise optouts.OptedOutError(pin, to)
    if limits is not None:
        _check_limits(db, key_id, to, limits, now)
    if key_caps.any:
        _check_key_caps(db, key_id, parts, key_caps)
    lane = lane or context.lane
    valid_until = valid_until or queue.valid_until_after(now, send_at, context.max_queue_age)
    job = jobs.insert_job(
        db,
        key_id=key_id,
        pin=pin,
        to=to,
        message=message,
        parts=parts,
        encoding=encoding,
        id_device=id_device,
        lane=lane,
        send_at=send_at,
        valid_until=valid_until,
        now=now,
        priced=context.wallet,
    )
    cost = wallet.reserve(db, job, country) if context.wallet else None
    if idempotency is not None:
        keys_seen.remember_job(db, key_id, idempotency, job.job_id, now)
    return Accepted(job, cost)


class _Context(NamedTuple):
    """What an accept reads before its insert: the recipient's opt-out, the key's queue
    defaults, whether the key has a wallet (a named tuple, as ``Accepted``)."""

    opted_out: bool
    lane: Lane
    max_queue_age: float
    wallet: bool


# One statement instead of three (each a trip through sqlite3 on the store's thread, which
# gives the event loop the GIL and waits to take it back): the same reads as
# optouts.is_opted_out, queue.key_queue_settings and wallet.has_wallet. The key's row is
# read once (two subqueries of it cost ~2,900 instructions more). No row: the defaults (keys
# are revoked, never deleted; the job's insert would then fail on its foreign key anyway).
_CONTEXT = (
    "SELECT (SELECT opted_out FROM optout_changes WHERE pin = ? AND number = ? "
    "ORDER BY change_id DESC LIMIT 1), lane, max_queue_age_s, "
    "EXISTS (SELECT 1 FROM wallets WHERE key_id = ?) FROM api_keys WHERE key_id = ?"
)
_NO_KEY_ROW = (None, None, None, False)


def _read_context(db: sqlite_utils.Database, key_id: int, pin: str, to: str) -> _Context:
    opted_out, lane, max_age, has_wallet = (
        db.conn.execute(_CONTEXT, [pin, to, key_id, key_id]).fetchone()  # (not sqlite-utils')
        or _NO_KEY_ROW
    )
    return _Context(bool(opted_out), *queue.queue_settings(lane, max_age), bool(has_wallet))


def _check_limits(
    db: sqlite_utils.Database, key_id: int, to: str, limits: DestinationLimits, now: float
) -> None:
    since = now - LIMIT_WINDOW_S
    prefix = to[: limits.prefix_digits + (1 if to.startswith("+") else 0)]
    for limit, where, value, reason in (
        (limits.per_recipient_per_hour, "to_number = ?", to, "recipient_limit"),
        (limits.per_prefix_per_hour, "substr(to_number, 1, ?) = ?", prefix, "prefix_limit"),
    ):
        if limit is None:
            continue
        params = [len(prefix), prefix] if reason == "prefix_limit" else [value]
        count = db.execute(
            f"SELECT count(*) FROM jobs WHERE key_id = ? AND created_at >= ? AND {where}",
            [key_id, since, *params],
        ).fetchone()[0]
        if count >= limit:
            raise BlockedDestinationError(
                reason, f"{count} sends to {value} in the last hour; this key's limit is {limit}"
            )


def _check_key_caps(db: sqlite_utils.Database, key_id: int, parts: int, limit: Caps) -> None:
    window = caps.window()
    usage = pacing.key_usage(db, key_id, window)
    hit = caps.reached(limit, usage, window, adding=parts)
    if hit is not None:
        used = usage.today if hit.period == "daily" else usage.month
        raise KeyCapError(
            f"{hit.period}_cap",
            f"this key's {hit.period} cap is {hit.cap} SMS parts: {used} accepted, this send "
            f"has {parts}; the cap lifts at {hit.until.isoformat(timespec='seconds')}",
            hit.seconds(window),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """One recipient of a send to several: its job, or why it was refused."""

    to: str
    job: Job | None
    refusal: str | None  # opted_out | blocked_destination (None: accepted)
    detail: str = ""
    cost: int | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    outcomes: list[Outcome]
    replayed: bool = False  # the Idempotency-Key's first outcomes: nothing new was written


@replayable
def accept_many(
    db: sqlite_utils.Database,
    *,
    key_id: int,
    pin: str,
    recipients: list[tuple[str, str | None, str | None]],
    message: str,
    parts: int,
    encoding: str,
    id_device: str | None,
    transactional: bool,
    limits: DestinationLimits | None = None,
    lane: Lane | None = None,
    send_at: float | None = None,
    valid_until: float | None = None,
    key_caps: Caps = NO_CAPS,
    idempotency: Idempotency | None = None,
) -> Batch:
    """A send to several recipients ``(to, country, blocked detail or None)``: one job each,
    except an opted-out number (not for a transactional key) or a blocked destination, which
    get their refusal. Too little credit for all of them raises ``InsufficientCreditError``,
    too many parts for the key's cap ``KeyCapError``: the caller's savepoint then drops every
    job of the request. With an Idempotency-Key seen before for the same request: its first
    outcomes again, nothing new written."""
    now = time.time()
    if idempotency is not None:
        first = keys_seen.first_batch(db, key_id, idempotency, now)
        if first is not None:
            return Batch([_outcome_again(db, seen) for seen in first], replayed=True)
    outcomes = []
    for to, country, blocked in recipients:
        if blocked is not None:
            outcomes.append(Outcome(to, None, "blocked_destination", blocked))
            continue
        if not transactional and optouts.is_opted_out(db, pin, to):
            outcomes.append(Outcome(to, None, "opted_out", f"{to} opted out of pool {pin}"))
            continue
        try:
            accepted = accept_send(
                db,
                key_id=key_id,
                pin=pin,
                to=to,
                message=message,
                parts=parts,
                encoding=encoding,
                id_device=id_device,
                country=country,
                limits=limits,
                lane=lane,
                send_at=send_at,
                valid_until=valid_until,
                key_caps=key_caps,
            )
        except BlockedDestinationError as exc:  # over a destination limit (nothing written)
            outcomes.append(Outcome(to, None, "blocked_destination", exc.detail))
            continue
        outcomes.append(Outcome(to, accepted.job, None, cost=accepted.cost))
    if idempotency is not None:
        kept = [
            {"to": o.to, "job_id": o.job.job_id if o.job else None, "refusal": o.refusal,
             "detail": o.detail}
            for o in outcomes
        ]  # fmt: skip
        keys_seen.remember_batch(db, key_id, idempotency, kept, now)
    return Batch(outcomes)


def _outcome_again(db: sqlite_utils.Database, seen: dict[str, Any]) -> Outcome:
    """A recipient's outcome as the first answer gave it; its job as it is now."""
    if seen["job_id"] is None:
        return Outcome(seen["to"], None, seen["refusal"], seen["detail"])
    job = jobs.get_job(db, seen["job_id"])
    assert job is not None  # retention keeps jobs at least a day, the key 24 h
    return Outcome(seen["to"], job, None, cost=wallet.reserved_for(db, job))
