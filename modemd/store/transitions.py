"""The job state machine's one door: reading a job and moving it (with its credit and its
event in the same transaction). ``store.jobs`` and ``store.reports`` both move jobs through it."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlite_utils

from modemd.errors import InvalidTransitionError
from modemd.model import (
    FINAL_JOB_STATES,
    JOB_TRANSITIONS,
    MANUAL_RETRY_FROM,
    EventType,
    Job,
    JobState,
    Lane,
)
from modemd.store import events, wallet

REPORT_WINDOW_S = 72 * 3600  # a status report older than this matches no sent part


# The columns a Job is built from, in ``job_from_tuple``'s order: the hot path reads and
# moves a job by these names (``SELECT *`` and a dict per row cost more than the statement).
JOB_COLUMNS = (
    "job_id, key_id, pin, to_number, message, state, id_device, device_id, parts, encoding, "
    "error, created_at, updated_at, lane, send_at, valid_until, campaign_id, priced"
)


_JOB_COLUMN_NAMES = tuple(JOB_COLUMNS.split(", "))

# A Job's fields in its constructor's order, and their positions.
_JOB_FIELDS = {name: at for at, name in enumerate(Job._fields)}
_STATE, _UPDATED_AT = _JOB_FIELDS["state"], _JOB_FIELDS["updated_at"]
_make_job = Job._make  # a named tuple's own fast constructor from a sequence


def job_columns(alias: str) -> str:
    """``JOB_COLUMNS`` of the table named ``alias`` in a join."""
    return ", ".join(f"{alias}.{name}" for name in _JOB_COLUMN_NAMES)


_STATES = {state.value: state for state in JobState}  # a dict is faster than JobState(value)
_LANES = {lane.value: lane for lane in Lane}


def job_from_tuple(row: Sequence[Any]) -> Job:
    """A row of ``SELECT {JOB_COLUMNS}`` (or ``RETURNING`` them) as a Job."""
    return _make_job(
        (
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            _STATES[row[5]],
            row[6],
            row[7],
            row[8],
            row[9],
            row[10],
            row[11],
            row[12],
            _LANES[row[13]],
            row[14],
            row[15],
            row[16],
            row[17] != 0,  # an INTEGER column (0 or 1) on both engines
        )
    )


def job_from_row(row: Mapping[str, Any]) -> Job:
    """A row keyed by column name (``SELECT *``, sqlite-utils' rows, an insert's values)."""
    return job_from_tuple([row[name] for name in _JOB_COLUMN_NAMES])


def known_jobs(db: sqlite_utils.Database, job_ids: list[str]) -> set[str]:
    """Those of ``job_ids`` this store has (a phone's messages are made of job ids)."""
    if not job_ids:
        return set()
    marks = ", ".join("?" * len(job_ids))
    rows = db.conn.execute(f"SELECT job_id FROM jobs WHERE job_id IN ({marks})", job_ids)
    return {row[0] for row in rows.fetchall()}


def get_job(db: sqlite_utils.Database, job_id: str) -> Job | None:
    row = db.conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?", [job_id]).fetchone()
    return None if row is None else job_from_tuple(row)


def move_job(
    db: sqlite_utils.Database,
    job: Job,
    new: JobState,
    *,
    event: EventType | None = None,
    event_data: dict[str, Any] | None = None,
    **fields: Any,
) -> Job:
    """The one place a job changes state: checks the transition, updates, writes the event.

    The transition is checked against the row's state as stored. The caller's ``job`` usually
    is the row as stored (every change of a job sets its ``updated_at``): then one ``UPDATE
    ... WHERE state = <the caller's> AND updated_at = <the caller's>`` checks and moves, and
    the moved job is the caller's with the new values (a read back of every column cost more
    than the move). When the row moved meanwhile (a report, an operator) it is read first."""
    manual = fields.pop("_manual", False)
    now = time.time()
    # ``_value_``: the plain str, one attribute read (``.value``, a C property since
    # ``model.enums``, cost 150 instructions a send more here); an enum binds through
    # sqlite3's adapters' look-up
    values: dict[str, Any] = {"state": new._value_, "updated_at": now, **fields}
    values["final_at"] = now if new in FINAL_JOB_STATES else None
    update, guarded = _update_of(tuple(values))
    previous = job.state
    moved = None
    if _allowed(previous, new, manual):
        params = [*values.values(), job.job_id, previous._value_, job.updated_at]
        if db.conn.execute(guarded, params).rowcount == 1:
            moved = as_moved(job, new, now, fields)
    if moved is None:  # the caller's copy is stale: judge the move from the row as it is
        current = get_job(db, job.job_id)
        if current is None:
            raise InvalidTransitionError(f"{job.job_id}: no such job")
        previous = current.state
        if not _allowed(previous, new, manual):
            raise InvalidTransitionError(f"{job.job_id}: {previous} -> {new} is not allowed")
        params = [*values.values(), job.job_id, previous._value_]
        row = db.conn.execute(f"{update} RETURNING {JOB_COLUMNS}", params).fetchone()
        if row is None:  # PostgreSQL: another host moved it between the two statements
            raise InvalidTransitionError(f"{job.job_id}: moved by another process meanwhile")
        moved = job_from_tuple(row)
    # Credit follows the job in the same transaction (charge when sent, refund when it failed
    # before the network); a job accepted without a wallet has no ledger rows: nothing happens.
    wallet.settle(db, moved, previous)
    if event is not None:
        events.add_event(db, moved, event, event_data or {})
    return moved


@functools.cache
def _update_of(columns: tuple[str, ...]) -> tuple[str, str]:
    """A move's UPDATE of ``columns``, and the same guarded by the caller's ``updated_at``:
    made once per set of columns (a few kinds of move), not a string a move (sqlite3 finds
    its prepared statement by the text: a new string is hashed and compared each time)."""
    update = (
        f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in columns)} WHERE job_id = ? AND state = ?"
    )
    return update, f"{update} AND updated_at = ?"


def as_moved(job: Job, state: JobState, now: float, fields: Mapping[str, Any]) -> Job:
    """``job`` as a move left its row: the new state and ``updated_at``, and whichever of the
    fields set a Job holds (``device_id``, ``error``). Built positionally: three a send, and
    ``Job._replace`` takes keywords (its fields looked up by name on each call)."""
    values = list(job)
    values[_STATE], values[_UPDATED_AT] = state, now
    for name, value in fields.items():
        at = _JOB_FIELDS.get(name)
        if at is not None:
            values[at] = value
    return _make_job(values)


def _allowed(current: JobState, new: JobState, manual: bool) -> bool:
    return new in JOB_TRANSITIONS[current] or (manual and current in MANUAL_RETRY_FROM)
