"""A send's accept transaction: the job and the reserve of its cost, together or not at all.

Takes plain values (the API splits the text and normalises the number before); runs inside the
store's write transaction, so an ``InsufficientCreditError`` drops the job with its savepoint."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from modemd.model import Job
from modemd.store import jobs, wallet


@dataclass(frozen=True, slots=True)
class Accepted:
    job: Job
    cost: int | None  # reserved, in 1/10000 units; None: the key has no wallet


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
) -> Accepted:
    """Insert the queued job and reserve its cost (no credit: neither happens)."""
    job = jobs.insert_job(
        db,
        key_id=key_id,
        pin=pin,
        to=to,
        message=message,
        parts=parts,
        encoding=encoding,
        id_device=id_device,
    )
    return Accepted(job, wallet.reserve(db, job, country))
