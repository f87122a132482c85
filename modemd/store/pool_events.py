"""IPN events about a pool rather than a job (``contact.opted_out``, ``survey.answered`` ...).

Written in the outbox (``events``) in the transaction of the change they report, one row per
live key of the pool that has an IPN URL. The outbox orders events by their ``job_id`` column:
here it carries a group (``contact:<pin>:<number>``, ``survey:<session_id>``) so that one
person's opt-out and opt-in, or one session's answers, arrive in order."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from modemd.model import EventState
from modemd.store.endpoints import ensure_endpoint
from modemd.store.event_body import event_body
from modemd.store.ids import new_event_id

CONTACT_OPTED_OUT = "contact.opted_out"
CONTACT_OPTED_IN = "contact.opted_in"
SURVEY_ANSWERED = "survey.answered"
SURVEY_COMPLETED = "survey.completed"
POOL_EVENT_TYPES = (CONTACT_OPTED_OUT, CONTACT_OPTED_IN, SURVEY_ANSWERED, SURVEY_COMPLETED)


def add_pool_event(
    db: sqlite_utils.Database, pin: str, type_: str, group: str, data: dict[str, Any]
) -> list[str]:
    """One event per live key of ``pin`` with an IPN URL; returns their ids."""
    now = time.time()
    ids = []
    keys = db.execute(
        "SELECT key_id FROM api_keys WHERE pin = ? AND revoked_at IS NULL "
        "AND ipn_url IS NOT NULL AND ipn_url != '' ORDER BY key_id",
        [pin],
    ).fetchall()
    for (key_id,) in keys:
        event_id = new_event_id()
        endpoint = ensure_endpoint(db, key_id)  # a write: its secret exists before the post
        state = EventState.FAILED if endpoint.disabled_at else EventState.PENDING
        db.execute(
            "INSERT INTO events (event_id, job_id, key_id, type, payload, state, attempts, "
            "next_attempt_at, last_error, created_at, delivered_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, ?, NULL, ?, NULL)",
            [
                event_id,
                group,
                key_id,
                type_,
                event_body(type_, event_id, now, {"pin": pin, **data}),
                state.value,
                now,
                now,
            ],
        )
        ids.append(event_id)
    return ids
