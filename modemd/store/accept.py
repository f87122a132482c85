"""A send's accept transaction: the job and the reserve of its cost, together or not at all.

Takes plain values (the API splits the text and normalises the number before); runs inside the
store's write transaction, so a refusal raised here (no credit, an idempotency conflict, a
destination over its limit) drops the job with its savepoint. Checks that count earlier sends
run here too, so two concurrent requests cannot both pass them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlite_utils

from modemd import caps
from modemd.caps import NO_CAPS, Caps
from modemd.errors import ModemdError
from modemd.model import Job, Lane
from modemd.store import jobs, optouts, pacing, queue, wallet

IDEMPOTENCY_WINDOW_S = 24 * 3600  # an Idempotency-Key is remembered this long (issue 18)
LIMIT_WINDOW_S = 3600  # destination limits count the sends of the last hour


class IdempotencyConflictError(ModemdError):
    """The Idempotency-Key was used in the window with a different request (code 12)."""


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
class Idempotency:
    key: str  # the client's Idempotency-Key
    request_hash: str  # sha256 of the normalised request


@dataclass(frozen=True, slots=True)
class DestinationLimits:
    """SMS pumping guard: sends per key per hour to one number prefix and to one recipient."""

    prefix_digits: int = 5  # '+39333...' counts under '+39333'
    per_prefix_per_hour: int | None = None
    per_recipient_per_hour: int | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    job: Job
    cost: int | None  # reserved, in 1/10000 units; None: the key has no wallet
    replayed: bool = False  # True: the Idempotency-Key's first job, nothing new was written


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
        first = _first_of(db, key_id, idempotency, now)
        if first is not None:
            return first
    optouts.refuse_opted_out(db, pin, to, transactional)  # STOP holds (code 10)
    if limits is not None:
        _check_limits(db, key_id, to, limits, now)
    if key_caps.any:
        _check_key_caps(db, key_id, parts, key_caps)
    job = jobs.insert_job(
        db,
        key_id=key_id,
        pin=pin,
        to=to,
        message=message,
        parts=parts,
        encoding=encoding,
        id_device=id_device,
        lane=lane or queue.key_lane(db, key_id),
        send_at=send_at,
        valid_until=valid_until or queue.default_valid_until(db, key_id, now, send_at),
        now=now,
    )
    cost = wallet.reserve(db, job, country)
    if idempotency is not None:
        db.execute(
            "INSERT INTO idempotency_keys (key_id, idempotency_key, request_hash, job_id, "
            "created_at) VALUES (?, ?, ?, ?, ?)",
            [key_id, idempotency.key, idempotency.request_hash, job.job_id, now],
        )
    return Accepted(job, cost)


def _first_of(
    db: sqlite_utils.Database, key_id: int, idempotency: Idempotency, now: float
) -> Accepted | None:
    """The first job sent with this Idempotency-Key, or None (a stale key is forgotten)."""
    db.execute(
        "DELETE FROM idempotency_keys WHERE key_id = ? AND idempotency_key = ? AND created_at < ?",
        [key_id, idempotency.key, now - IDEMPOTENCY_WINDOW_S],
    )
    row = db.execute(
        "SELECT request_hash, job_id FROM idempotency_keys WHERE key_id = ? "
        "AND idempotency_key = ?",
        [key_id, idempotency.key],
    ).fetchone()
    if row is None:
        return None
    if row[0] != idempotency.request_hash:
        raise IdempotencyConflictError(
            f"Idempotency-Key {idempotency.key[:64]!r} was used for a different request"
        )
    job = jobs.get_job(db, row[1])
    assert job is not None
    return Accepted(job, wallet.reserved_for(db, job), replayed=True)


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
) -> list[Outcome]:
    """A send to several recipients ``(to, country, blocked detail or None)``: one job each,
    except an opted-out number (not for a transactional key) or a blocked destination, which
    get their refusal. Too little credit for all of them raises ``InsufficientCreditError``,
    too many parts for the key's cap ``KeyCapError``: the caller's savepoint then drops every
    job of the request."""
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
    return outcomes
