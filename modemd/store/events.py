"""The outbox: one row per IPN event, written in the transaction of the change it reports.

The IPN sender reads only committed rows, retries by ``next_attempt_at``, records every attempt,
and delivers a job's events in order (an event waits while an older one of its job is pending).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from modemd.errors import StoreError
from modemd.model import EventState, EventType, Job
from modemd.store import batches, keys
from modemd.store.batches import lazy
from modemd.store.db import replayable
from modemd.store.endpoints import (
    Endpoint,
    disable,
    ensure_endpoint,
    ensure_pending_endpoints,
)
from modemd.store.event_body import event_body
from modemd.store.ids import new_event_id


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    event_id: str
    job_id: str
    key_id: int
    type: str
    payload: str  # the exact JSON body, fixed at creation (signed as is, or form-encoded)
    attempts: int  # attempts so far, replays included
    retries: int  # attempts since the last replay: the position in the retry schedule
    url: str
    created_at: float
    endpoint: Endpoint


def add_event(
    db: sqlite_utils.Database, job: Job, type_: EventType, extra: dict[str, Any]
) -> str | None:
    """Write the event for ``job``'s new state; its id (None: the key does not take it)."""
    data = {
        "job_id": job.job_id,
        "pin": job.pin,
        "to": job.to,
        "device_id": job.device_id,
        "parts": job.parts,
        "status": job.state._value_,  # (the plain str: ``.value`` is a property, ~1,600
        **extra,  # instructions a call, and an enum member binds after an adapter look-up)
    }
    return add_subject_event(db, job.key_id, job.job_id, type_, data)


def add_device_event(
    db: sqlite_utils.Database, pin: str, device_id: str, type_: EventType, data: dict[str, Any]
) -> list[str]:
    """A device's event (``device.failed``, ``device.recovered``) for every live key of its
    pool that has an IPN URL; their ids. A device's events keep their order like a job's."""
    keys = db.execute(
        "SELECT key_id FROM api_keys WHERE pin = ? AND revoked_at IS NULL "
        "AND ipn_url IS NOT NULL AND ipn_url != '' ORDER BY key_id",
        [pin],
    ).fetchall()
    body = {"device_id": device_id, "pin": pin, **data}
    ids = (add_subject_event(db, key_id, f"device:{device_id}", type_, body) for (key_id,) in keys)
    return [event_id for event_id in ids if event_id is not None]


def add_subject_event(
    db: sqlite_utils.Database, key_id: int, subject_id: str, type_: EventType, data: dict[str, Any]
) -> str | None:
    """Write an event about ``subject_id`` (a job, or a campaign: its events keep their order
    like a job's); return its id, or None when the key does not take events of that type.
    While the IPN sender takes them (``batches.staging``), a pending event first in line for
    its subject is staged: posted once committed, without a read of the outbox."""
    # The key and its endpoint in one read, and while staging whether an older event of the
    # subject is pending (each statement of a write waits for the GIL back from the loop).
    staging = batches.staging()
    if staging:
        key = db.conn.execute(_KEY_ENDPOINT_AND_OLDER, [subject_id, key_id]).fetchone()
    else:
        key = db.conn.execute(_KEY_AND_ENDPOINT, [key_id]).fetchone()
    name = type_._value_  # (the plain str, as ``status`` in ``add_event``)
    if key is not None and name not in keys.key_events(key[1]):
        return None
    now = time.time()
    event_id = new_event_id()
    state = EventState.NO_ENDPOINT
    endpoint = None
    if key is not None and key[0]:
        # its secret exists before the first post
        columns = key[2:_OLDER]
        endpoint = ensure_endpoint(db, key_id) if columns[0] is None else Endpoint(*columns)
        state = EventState.FAILED if endpoint.disabled_at else EventState.PENDING
    first = state is EventState.PENDING and staging and key[_OLDER] is None
    payload = event_body(name, event_id, now, data)
    db.conn.execute(_INSERT, [event_id, subject_id, key_id, name, payload, state._value_, now, now])
    if first:
        assert key is not None and endpoint is not None
        batches.stage(
            OutboxEvent(event_id, subject_id, key_id, name, payload, 0, 0, key[0], now,
                        endpoint)
        )  # fmt: skip
    return event_id


# The endpoint's columns in ``Endpoint``'s order, from ``ipn_endpoints p``.
_ENDPOINT_COLUMNS = ", ".join(f"p.{f.name}" for f in dataclasses.fields(Endpoint))
_KEY_AND_ENDPOINT = (
    f"SELECT k.ipn_url, k.events, {_ENDPOINT_COLUMNS} FROM api_keys k "
    "LEFT JOIN ipn_endpoints p USING (key_id) WHERE k.key_id = ?"
)
# The same, then an older pending event of the subject (1, or NULL: the new one is first in line
# and posted once committed, without a read of the outbox). SQLite only (staging is): the
# subject's few events, not every pending one (the planner picks the partial index of pending
# events otherwise: a scan of the outbox's backlog).
_OLDER = 2 + len(dataclasses.fields(Endpoint))  # its column
_KEY_ENDPOINT_AND_OLDER = (
    f"SELECT k.ipn_url, k.events, {_ENDPOINT_COLUMNS}, (SELECT 1 FROM events INDEXED BY "
    "events_job WHERE job_id = ? AND state = 'pending' LIMIT 1) FROM api_keys k "
    "LEFT JOIN ipn_endpoints p USING (key_id) WHERE k.key_id = ?"
)

# Plain SQL: every state change writes one (sqlite-utils' insert reads the schema each time).
_INSERT = (
    "INSERT INTO events (event_id, job_id, key_id, type, payload, state, attempts, "
    "next_attempt_at, last_error, created_at, delivered_at) "
    "VALUES (?, ?, ?, ?, ?, ?, 0, ?, NULL, ?, NULL)"
)


def due_events(
    db: sqlite_utils.Database, now: float, limit: int = 100, *, leased_to: str | None = None
) -> list[OutboxEvent]:
    """Pending events whose time has come and that are the oldest pending one of their job
    (a read: every pending event's endpoint exists, see ``ensure_pending_endpoints``).

    ``leased_to`` (hosts sharing the database): only events no other host holds a live lease
    on, skipping rows another host is taking at this moment; the caller leases them."""
    lease = ""
    params: list[Any] = [now, limit]
    if leased_to is not None:
        lease = "AND (e.lease_until IS NULL OR e.lease_until < ? OR e.lease_host = ?) "
        params = [now, now, leased_to, limit]
    # Plain SQL, rows as tuples: it runs after every commit that left an event to post
    # (sqlite-utils' query wraps each in a savepoint and makes a dict of each row).
    rows = db.conn.execute(
        "SELECT e.event_id, e.job_id, e.type, e.payload, e.attempts, e.schedule_base, "
        f"e.created_at, k.ipn_url, {_ENDPOINT_COLUMNS} "
        "FROM events e JOIN api_keys k USING (key_id) JOIN ipn_endpoints p USING (key_id) "
        "WHERE e.state = 'pending' AND e.next_attempt_at <= ? AND k.ipn_url IS NOT NULL "
        f"{lease}AND NOT EXISTS (SELECT 1 FROM events o WHERE o.job_id = e.job_id "
        "  AND o.state = 'pending' AND o.seq < e.seq) "
        f"ORDER BY e.seq LIMIT ? {'FOR UPDATE OF e SKIP LOCKED' if leased_to else ''}",
        params,
    ).fetchall()
    return [
        OutboxEvent(
            event_id=r[0],
            job_id=r[1],
            key_id=r[8],  # the endpoint's, the event's by the join
            type=r[2],
            payload=r[3],
            attempts=r[4],
            retries=r[4] - r[5],
            url=r[7],
            created_at=r[6],
            endpoint=Endpoint(*r[8:]),
        )
        for r in rows
    ]


FREE_LEASE = "lease_host = NULL, lease_until = NULL, "  # an attempt was recorded


def take_due_events(
    db: sqlite_utils.Database, now: float, host_id: str, lease_s: float, limit: int = 100
) -> list[OutboxEvent]:
    """``due_events`` leased to ``host_id`` for ``lease_s``: no other host posts them meanwhile
    (a host that dies holding a lease: another posts them after it, same ``webhook-id``)."""
    due = due_events(db, now, limit, leased_to=host_id)
    if due:
        marks = ", ".join("?" * len(due))
        db.execute(
            f"UPDATE events SET lease_host = ?, lease_until = ? WHERE event_id IN ({marks})",
            [host_id, now + lease_s, *(event.event_id for event in due)],
        )
    return due


def next_due_at(db: sqlite_utils.Database, host_id: str | None = None) -> float | None:
    """When the earliest pending event is due, None when there is none (with ``host_id``: an
    event another host holds a lease on is due for this one when the lease ends)."""
    due = "e.next_attempt_at"
    if host_id is not None:
        due = (
            "CASE WHEN e.lease_host != ? AND e.lease_until > e.next_attempt_at "
            "THEN e.lease_until ELSE e.next_attempt_at END"
        )
    row = db.execute(
        f"SELECT min({due}) FROM events e JOIN api_keys k USING (key_id) "
        "WHERE e.state = 'pending' AND k.ipn_url IS NOT NULL",
        [host_id] if host_id is not None else [],
    ).fetchone()
    return row[0] if row and row[0] is not None else None


@lazy
@replayable
def record_attempt(
    db: sqlite_utils.Database,
    event_id: str,
    *,
    http_status: int | None,
    error: str | None,
    delivered: bool,
    next_attempt_at: float | None,
    gone: bool = False,
) -> None:
    """Log one POST and move the event on: delivered; due again at ``next_attempt_at``; a dead
    letter when that is None; or, ``gone`` (410), the key's endpoint disabled. Plain SQL, the
    attempt's number taken in it: sqlite-utils' insert read the schema and wrapped the row in a
    savepoint (seven statements an attempt, now two; two posts a send)."""
    now = time.time()
    logged = db.execute(
        "INSERT INTO event_attempts (event_id, attempt, at, http_status, error) "
        "SELECT event_id, attempts + 1, ?, ?, ? FROM events WHERE event_id = ?",
        [now, http_status, error, event_id],
    )
    if logged.rowcount != 1:
        raise StoreError(f"no event {event_id} to record an attempt of")
    if delivered:
        db.execute(
            f"UPDATE events SET {FREE_LEASE}state = 'delivered', attempts = attempts + 1, "
            "delivered_at = ?, last_error = NULL WHERE event_id = ?",
            [now, event_id],
        )
    elif next_attempt_at is not None and not gone:
        db.execute(
            f"UPDATE events SET {FREE_LEASE}attempts = attempts + 1, next_attempt_at = ?, "
            "last_error = ? WHERE event_id = ?",
            [next_attempt_at, error, event_id],
        )
    else:
        db.execute(
            f"UPDATE events SET {FREE_LEASE}state = 'failed', attempts = attempts + 1, "
            "last_error = ? WHERE event_id = ?",
            [error, event_id],
        )
        if gone:
            key_id = db.execute("SELECT key_id FROM events WHERE event_id = ?", [event_id])
            disable(db, int(key_id.fetchone()[0]), error or "410 Gone")


def replay(
    db: sqlite_utils.Database,
    *,
    key_id: int | None = None,
    event_id: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[str]:
    """Make dead letters (one, or those created in a time range) due again now; their retry
    schedule starts over. Returns the ids replayed."""
    where, params = ["state = 'failed'"], []
    for clause, value in (
        ("key_id = ?", key_id),
        ("event_id = ?", event_id),
        ("created_at >= ?", since),
        ("created_at < ?", until),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    ids = [
        r[0]
        for r in db.execute(
            f"SELECT event_id FROM events WHERE {' AND '.join(where)} ORDER BY seq", params
        )
    ]
    for event in ids:
        db.execute(
            "UPDATE events SET state = 'pending', next_attempt_at = ?, schedule_base = attempts "
            "WHERE event_id = ?",
            [time.time(), event],
        )
    ensure_pending_endpoints(db)  # dead letters from before schema 3 had no endpoint row
    return ids


def list_by_state(
    db: sqlite_utils.Database, state: str, key_id: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Events in ``state`` (e.g. the dead letters), oldest first."""
    # The state written out (one of EventState's): the partial indexes of pending events and
    # of dead letters serve a query only when it names their state (021.sql).
    where = f"state = '{EventState(state).value}'"
    params: list[Any] = []
    if key_id is not None:
        where += " AND key_id = ?"
        params.append(key_id)
    return list(
        db.query(
            "SELECT event_id, job_id, key_id, type, state, attempts, last_error, created_at, "
            f"delivered_at FROM events WHERE {where} ORDER BY seq LIMIT ?",
            [*params, limit],
        )
    )


def event_state(db: sqlite_utils.Database, event_id: str) -> str | None:
    """The event's state, None when there is no such event."""
    row = db.execute("SELECT state FROM events WHERE event_id = ?", [event_id]).fetchone()
    return None if row is None else str(row[0])


def list_events(db: sqlite_utils.Database, job_id: str) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT event_id, type, state, attempts, last_error, created_at, delivered_at "
            "FROM events WHERE job_id = ? ORDER BY seq",
            [job_id],
        )
    )
