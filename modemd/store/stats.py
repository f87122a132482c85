"""Figures for the operator console and ``/metrics``: activity since a watermark, queue depths,
device rows, daily charts. Reads only, except ``probe_write`` (the readiness check)."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlite_utils

from modemd.caps import Usage
from modemd.model import FINAL_JOB_STATES, EventState
from modemd.store import pacing
from modemd.store.filters import created_within

__all__ = [
    "Activity",
    "DayCounts",
    "DeviceRow",
    "Snapshot",
    "Watermark",
    "activity_since",
    "daily_counts",
    "device_counts",
    "probe_write",
    "received_since",
    "snapshot",
    "watermark",
]

PROBE_PAD_BYTES = 2048  # more than fits in a page's free space: the probe needs the file to grow
LAST_ERROR_DAYS = 2  # the console's "last error" of a device: from today's and yesterday's jobs
FINAL_STATES = frozenset(s.value for s in FINAL_JOB_STATES)
NOTHING_USED = Usage(0, 0)  # a device whose SIM sent nothing this month


@dataclass(frozen=True, slots=True)
class Watermark:
    """The newest row seen of each growing table (counters count rows after it)."""

    jobs_seq: int = 0
    events_seq: int = 0
    attempts_rowid: int = 0
    inbound_id: int = 0


@dataclass(frozen=True, slots=True)
class Activity:
    """What was committed after a watermark, and the watermark to use next time."""

    mark: Watermark
    accepted: dict[str, int] = field(default_factory=dict)  # pin -> jobs
    finished: dict[tuple[str, str], int] = field(default_factory=dict)  # (pin, state) -> jobs
    ipn_attempts: int = 0
    ipn_failures: int = 0  # attempts not answered 2xx (error, timeout, other status)
    received: dict[tuple[str, str], int] = field(default_factory=dict)  # (pin, device) -> SMS


class DeviceRow(NamedTuple):
    """A device as stored (``devices``), with its last send error: a plain tuple, read with no
    dict built per row (a 256-device scrape built 256 through sqlite-utils' ``query``)."""

    device_id: str
    pin: str
    kind: str
    state: str
    port: str | None
    signal: int | None
    manufacturer: str | None
    model: str | None
    last_seen: float | None
    iccid: str | None
    device_error: str | None  # the recovery's (``devices.last_error``: why it gave up)
    last_error: str | None  # the latest send error of its jobs (``with_errors``), else None


_DEVICES = (
    "SELECT device_id, pin, kind, state, port, signal, manufacturer, model, last_seen, iccid, "
    "last_error, NULL FROM devices ORDER BY pin, device_id"
)
# DeviceRow._make without its Python frame per row (nor its count of the fields: _DEVICES
# selects each of them, tests/observe/test_stats_parts.py reads them back by name)
_device_row = functools.partial(tuple.__new__, DeviceRow)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Current levels: queue depth per pin, devices as stored, dead letters, parts per device."""

    queued: dict[str, int]  # pin -> jobs queued in any lane
    lanes: dict[tuple[str, str], int]  # (pin, lane) -> jobs queued
    devices: list[DeviceRow]
    dead_letters: int
    # device_id -> SMS parts sent since the start of the day (month) by the SIM (ICCID) last seen
    # in the device, in whichever device it was then; a device without an ICCID: its own parts
    parts_today: dict[str, int]
    parts_month: dict[str, int]
    disabled_endpoints: int


@dataclass(frozen=True, slots=True)
class DayCounts:
    """Jobs accepted in one bucket (a day, a device) and how far they got."""

    label: str
    accepted: int
    sent: int  # reached the network (+CMGS or the phone's Processed)
    delivered: int
    failed: int


def _one(db: sqlite_utils.Database, sql: str, params: list[Any] | None = None) -> int:
    row = db.execute(sql, params or []).fetchone()
    return int(row[0] or 0) if row else 0


def watermark(db: sqlite_utils.Database) -> Watermark:
    """The current end of the jobs, events, attempts and inbound tables (counting starts after
    it)."""
    return Watermark(
        _one(db, "SELECT max(seq) FROM jobs"),
        _one(db, "SELECT max(seq) FROM events"),
        _one(db, "SELECT max(rowid) FROM event_attempts"),
        _one(db, "SELECT max(inbound_id) FROM inbound"),
    )


def activity_since(db: sqlite_utils.Database, mark: Watermark) -> Activity:
    """Jobs accepted, jobs finished (a final event written), IPN attempts and received SMS (a
    long one once, joined) after ``mark``.

    A job settled twice (``unknown``, then ``delivered`` by a late report) counts in both."""
    new = watermark(db)
    accepted = {
        str(pin): int(n)
        for pin, n in db.execute(
            "SELECT pin, COUNT(*) FROM jobs WHERE seq > ? AND seq <= ? GROUP BY pin",
            [mark.jobs_seq, new.jobs_seq],
        )
    }
    finished: dict[tuple[str, str], int] = {}
    for pin, type_, n in db.execute(
        "SELECT j.pin, e.type, COUNT(*) FROM events e JOIN jobs j ON j.job_id = e.job_id "
        "WHERE e.seq > ? AND e.seq <= ? GROUP BY j.pin, e.type",
        [mark.events_seq, new.events_seq],
    ):
        state = str(type_).removeprefix("sms.")
        if state in FINAL_STATES:
            finished[(str(pin), state)] = int(n)
    row = db.execute(
        "SELECT COUNT(*), "
        "COUNT(*) FILTER (WHERE http_status IS NULL OR http_status < 200 OR http_status > 299) "
        "FROM event_attempts WHERE rowid > ? AND rowid <= ?",
        [mark.attempts_rowid, new.attempts_rowid],
    ).fetchone()
    received = {
        (str(pin), str(device_id)): int(n)
        for pin, device_id, n in db.execute(
            "SELECT pin, device_id, COUNT(*) FROM inbound WHERE inbound_id > ? AND inbound_id <= ? "
            "GROUP BY pin, device_id",
            [mark.inbound_id, new.inbound_id],
        )
    }
    return Activity(new, accepted, finished, int(row[0] or 0), int(row[1] or 0), received)


def snapshot(
    db: sqlite_utils.Database, day_start: float, month_start: float, with_errors: bool = False
) -> Snapshot:
    """Levels now; ``day_start``/``month_start`` (Unix seconds) bound the parts counted (each
    device's SIM's, as its caps count them);
    ``with_errors``: each device's last send error (the console; a scrape needs none)."""
    lanes = {
        (str(pin), str(lane)): int(n)
        for pin, lane, n in db.execute(
            "SELECT pin, lane, COUNT(*) FROM jobs WHERE state = 'queued' GROUP BY pin, lane"
        )
    }
    queued: dict[str, int] = {}
    for (pin, _), n in lanes.items():
        queued[pin] = queued.get(pin, 0) + n
    devices: list[DeviceRow] = list(map(_device_row, db.execute(_DEVICES)))
    if with_errors:
        errors = _last_errors(db, day_start - LAST_ERROR_DAYS * 86400)
        devices = [d._replace(last_error=errors.get(d.device_id)) for d in devices]
    parts_today, parts_month = {}, {}
    sims = pacing.sims_parts(db, day_start, month_start)
    for device in devices:
        used = sims.get(device.device_id, NOTHING_USED)
        parts_today[device.device_id], parts_month[device.device_id] = used.today, used.month
    return Snapshot(
        queued=queued,
        lanes=lanes,
        devices=devices,
        # The state written out: the partial index of dead letters serves only that (021.sql).
        dead_letters=_one(db, f"SELECT COUNT(*) FROM events WHERE state = '{EventState.FAILED}'"),
        parts_today=parts_today,
        parts_month=parts_month,
        disabled_endpoints=_one(
            db, "SELECT COUNT(*) FROM ipn_endpoints WHERE disabled_at IS NOT NULL"
        ),
    )


def _last_errors(db: sqlite_utils.Database, since: float) -> dict[str, str]:
    """Each device's latest send error among the jobs accepted since ``since`` (one pass)."""
    latest: dict[str, str] = {}
    window, values = created_within(since, None)
    for device_id, error in db.execute(
        f"SELECT device_id, error FROM jobs WHERE {window} AND error IS NOT NULL "
        "AND device_id IS NOT NULL ORDER BY updated_at",
        values,
    ):
        latest[str(device_id)] = str(error)
    return latest


# Counts by condition, not sums of booleans: PostgreSQL has no sum() of a boolean (both
# engines have ``FILTER``: SQLite since 3.30; on SQLite no slower than the sums were).
_FUNNEL = (
    "COUNT(*), COUNT(*) FILTER (WHERE sent_at IS NOT NULL OR state IN ('sent', 'delivered')), "
    "COUNT(*) FILTER (WHERE state = 'delivered'), COUNT(*) FILTER (WHERE state = 'failed')"
)


def daily_counts(db: sqlite_utils.Database, days: list[tuple[float, float]]) -> list[DayCounts]:
    """For each local day ``(start, end)`` (Unix seconds), the jobs accepted that day: how many
    reached the network, were delivered, failed (a statement a day: one statement for all,
    grouped by day, sorts the window's every job in a temporary b-tree, 1.5-2 x slower)."""
    out = []
    for start, end in days:
        window, values = created_within(start, end)
        row = db.execute(f"SELECT {_FUNNEL} FROM jobs WHERE {window}", values).fetchone()
        label = time.strftime("%Y-%m-%d", time.localtime(start))
        out.append(DayCounts(label, *(int(v or 0) for v in row)))
    return out


def device_counts(db: sqlite_utils.Database, since: float) -> list[DayCounts]:
    """Jobs accepted since ``since`` by the device that took them (labels are device ids)."""
    window, values = created_within(since, None)
    return [
        DayCounts(str(device_id), *(int(v or 0) for v in rest))
        for device_id, *rest in db.execute(
            f"SELECT device_id, {_FUNNEL} FROM jobs WHERE {window} "
            "AND device_id IS NOT NULL GROUP BY device_id ORDER BY device_id",
            values,
        )
    ]


def received_since(db: sqlite_utils.Database, since: float) -> dict[str, int]:
    """SMS received (stored) since ``since`` per pool."""
    return {
        str(pin): int(n)
        for pin, n in db.execute(
            "SELECT pin, COUNT(*) FROM inbound WHERE received_at >= ? GROUP BY pin", [since]
        )
    }


def probe_write(db: sqlite_utils.Database) -> None:
    """Write (and remove) a row that needs a fresh page: fails as a job insert would when the
    disk is full, the file read-only or the database locked."""
    db.execute(
        "INSERT INTO health_probe (at, pad) VALUES (?, zeroblob(?))", [time.time(), PROBE_PAD_BYTES]
    )
    db.execute("DELETE FROM health_probe")
