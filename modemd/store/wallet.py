"""Credit: a wallet per key, a price list, and a ledger that is only ever appended to.

Amounts are integers in 1/10000 of the currency unit (``SCALE``), so sums never round. A key
without a ``wallets`` row has no credit check and writes no ledger rows (the default). A send's
cost is reserved when it is accepted, then, as its job moves (``settle``, called by the one
place a job changes state): charged when sent (or when the outcome is unknown: the network may
have it), refunded when it failed before reaching the network. The balance is the sum of the
rows; nothing is ever updated or deleted."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlite_utils

from modemd.errors import ModemdError
from modemd.model import NEVER_SENT_STATES, Job, JobState

SCALE = 10_000  # ledger amounts are in 1/10000 of the currency unit
MAX_AMOUNT = 10**12  # 100 million units: a larger top-up or price is a typo


class InsufficientCreditError(ModemdError):
    """The wallet cannot cover the cost of a send (GenioApi code 9)."""

    def __init__(self, available: int, cost: int) -> None:
        super().__init__(f"credit {format_amount(available)} < cost {format_amount(cost)}")
        self.available = available
        self.cost = cost


@dataclass(frozen=True, slots=True)
class Balance:
    enabled: bool  # False: the key has no wallet, sends are not priced
    available: int  # what can be spent now (the sum of every row)
    reserved: int  # held for accepted sends not yet sent or refunded
    spent: int  # charged for sends


def parse_amount(text: str | int | float) -> int:
    """``"1.25"`` -> 12500; at most 4 decimals; refuses NaN, infinities and absurd sizes."""
    try:
        value = Decimal(str(text).strip()) * SCALE
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not an amount") from exc
    if not value.is_finite() or value != value.to_integral_value() or abs(value) > MAX_AMOUNT:
        raise ValueError(f"{text!r} is not an amount with at most 4 decimals")
    return int(value)


def format_amount(amount: int) -> str:
    """12500 -> ``"1.2500"``."""
    sign, whole = ("-" if amount < 0 else ""), abs(amount)
    return f"{sign}{whole // SCALE}.{whole % SCALE:04d}"


def _add(db: sqlite_utils.Database, key_id: int, kind: str, amount: int, **extra: Any) -> None:
    db.table("ledger").insert(
        {"key_id": key_id, "kind": kind, "amount": amount, "created_at": time.time(), **extra}
    )


def has_wallet(db: sqlite_utils.Database, key_id: int) -> bool:
    # plain SQL: every accept asks, and sqlite-utils' table() looks up the schema each time
    return db.execute("SELECT 1 FROM wallets WHERE key_id = ?", [key_id]).fetchone() is not None


def topup(db: sqlite_utils.Database, key_id: int, amount: int, note: str = "") -> Balance:
    """Add credit (the first top-up turns the key's wallet on)."""
    if amount <= 0:
        raise ValueError("a top-up must be positive")
    if not has_wallet(db, key_id):
        db.table("wallets").insert({"key_id": key_id, "created_at": time.time()})
    _add(db, key_id, "topup", amount, note=note)
    return balance(db, key_id)


def balance(db: sqlite_utils.Database, key_id: int) -> Balance:
    """Derived from the ledger rows, never stored."""
    row = db.execute(
        "SELECT coalesce(sum(amount), 0), "
        "coalesce(-sum(CASE WHEN kind IN ('reserve', 'release', 'refund') THEN amount END), 0), "
        "coalesce(-sum(CASE WHEN kind = 'charge' THEN amount END), 0) "
        "FROM ledger WHERE key_id = ?",
        [key_id],
    ).fetchone()
    return Balance(has_wallet(db, key_id), int(row[0]), int(row[1]), int(row[2]))


def ledger_rows(db: sqlite_utils.Database, key_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The newest movements first."""
    return list(
        db.query(
            "SELECT entry_id, kind, amount, job_id, note, created_at FROM ledger "
            "WHERE key_id = ? ORDER BY entry_id DESC LIMIT ?",
            [key_id, limit],
        )
    )


def set_price(db: sqlite_utils.Database, destination: str, per_part: int) -> str:
    """Price of one part to ``+<prefix>``, a country ``IT``, or ``*`` (everything else);
    returns the destination."""
    if per_part < 0:
        raise ValueError("a price cannot be negative")
    db.table("prices").upsert(
        {"destination": destination, "per_part": per_part, "updated_at": time.time()},
        pk="destination",
    )
    return destination


def list_prices(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT destination, per_part FROM prices ORDER BY destination"))


def price_per_part(db: sqlite_utils.Database, number: str, country: str | None) -> int:
    """The longest matching ``+prefix``, else the country, else ``*``, else 0 (free)."""
    candidates = [number[:n] for n in range(len(number), 1, -1)] if number.startswith("+") else []
    candidates += [c for c in (country, "*") if c]
    found = {
        r[0]: int(r[1])
        for r in db.execute(
            "SELECT destination, per_part FROM prices WHERE destination IN "
            f"({', '.join('?' * len(candidates))})",
            candidates,
        )
    }
    return next((found[c] for c in candidates if c in found), 0)


def reserve(db: sqlite_utils.Database, job: Job, country: str | None) -> int | None:
    """Hold the cost of a just-inserted job; None when the key has no wallet.

    Raises ``InsufficientCreditError`` (the caller's savepoint then drops the job too)."""
    if not has_wallet(db, job.key_id):
        return None
    cost = price_per_part(db, job.to, country) * job.parts
    if cost == 0:
        return 0
    available = balance(db, job.key_id).available
    if available < cost:
        raise InsufficientCreditError(available, cost)
    _add(db, job.key_id, "reserve", -cost, job_id=job.job_id)
    return cost


def reserved_for(db: sqlite_utils.Database, job: Job) -> int | None:
    """What was reserved when ``job`` was accepted; None when its key had no wallet then."""
    row = db.execute(
        "SELECT -sum(amount) FROM ledger WHERE job_id = ? AND kind = 'reserve'", [job.job_id]
    ).fetchone()
    if row[0] is not None:
        return int(row[0])
    return 0 if has_wallet(db, job.key_id) else None


# The states whose move settles a job's credit (charge, or refund).
_SETTLED_BY = frozenset({JobState.SENT, JobState.UNKNOWN, JobState.FAILED, *NEVER_SENT_STATES})


def settle(db: sqlite_utils.Database, job: Job, previous: JobState) -> None:
    """Move the credit held for ``job`` after it went ``previous`` -> ``job.state``. A job
    accepted while its key had no wallet (``job.priced`` False) holds nothing: no ledger read,
    even when the wallet came after (it was accepted free: it is never charged)."""
    if not job.priced or job.state not in _SETTLED_BY:
        return
    row = db.execute(
        "SELECT coalesce(-sum(amount), 0), "
        "coalesce(-sum(CASE WHEN kind = 'reserve' THEN amount END), 0), "
        "count(CASE WHEN kind = 'reserve' THEN 1 END) "
        "FROM ledger WHERE job_id = ? AND kind IN ('reserve', 'release', 'refund')",
        [job.job_id],
    ).fetchone()
    held, reserves = int(row[0]), int(row[2])
    if reserves == 0:  # no wallet at accept, or a free destination
        return
    cost = int(row[1]) // reserves  # what one send of this job costs
    if job.state in NEVER_SENT_STATES:
        if held:
            _add(db, job.key_id, "refund", held, job_id=job.job_id, note=job.state.value)
        return
    if job.state is JobState.FAILED:
        if previous in (JobState.QUEUED, JobState.SENDING) and held:
            _add(db, job.key_id, "refund", held, job_id=job.job_id, note="not sent")
        return
    if held:
        _add(db, job.key_id, "release", held, job_id=job.job_id)
    _add(db, job.key_id, "charge", -cost, job_id=job.job_id, note=job.state.value)


def reserve_within(db: sqlite_utils.Database, job: Job, country: str | None, available: int) -> int:
    """``reserve`` for one job of a batch whose balance the caller read once (``available``);
    returns what is left. Raises ``InsufficientCreditError`` when the job's cost exceeds it."""
    cost = price_per_part(db, job.to, country) * job.parts
    if cost == 0:
        return available
    if available < cost:
        raise InsufficientCreditError(available, cost)
    _add(db, job.key_id, "reserve", -cost, job_id=job.job_id)
    return available - cost


def reserve_costs(db: sqlite_utils.Database, key_id: int, costs: list[tuple[str, int]]) -> None:
    """Hold each ``(job_id, cost)`` of a batch the caller checked against the balance."""
    now = time.time()
    db.conn.executemany(
        "INSERT INTO ledger (key_id, job_id, kind, amount, note, created_at) "
        "VALUES (?, ?, 'reserve', ?, '', ?)",
        [(key_id, job_id, -cost, now) for job_id, cost in costs if cost],
    )
