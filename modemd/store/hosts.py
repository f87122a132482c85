"""Hosts sharing one database (PostgreSQL): each registers and beats; one that stays silent
past the lease timeout is dead, and the first live host to notice takes over after it: its
``sending`` jobs become ``unknown`` (never resent), its devices leave their pools. Its queued
jobs need nothing: they are in the database, and every host feeds from there."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from modemd.model import JobState
from modemd.store import dialect, jobs
from modemd.store.transitions import get_job

DEFAULT_LEASE_S = 30.0  # issue 20: a host silent this long is dead (server.host_lease_s)


def beat(db: sqlite_utils.Database, host_id: str, device_ids: list[str]) -> None:
    """This host is alive now and holds ``device_ids`` (registers it the first time; a host
    that comes back after a takeover is live again)."""
    now = time.time()
    db.execute(
        "INSERT INTO hosts (host_id, started_at, heartbeat_at) VALUES (?, ?, ?) "
        "ON CONFLICT (host_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, "
        "down_at = NULL",
        [host_id, now, now],
    )
    if device_ids:
        marks = ", ".join("?" * len(device_ids))
        db.execute(
            f"UPDATE devices SET host_id = ? WHERE device_id IN ({marks}) "
            "AND (host_id IS NULL OR host_id != ?)",
            [host_id, *device_ids, host_id],
        )


def live_hosts(db: sqlite_utils.Database, lease_s: float) -> list[dict[str, Any]]:
    """Hosts heard from within the lease, with how many devices each holds (not gone)."""
    return list(
        db.query(
            "SELECT h.host_id, h.started_at, h.heartbeat_at, (SELECT count(*) FROM devices d "
            "WHERE d.host_id = h.host_id AND d.state != 'gone') AS devices FROM hosts h "
            "WHERE h.heartbeat_at >= ? ORDER BY h.host_id",
            [time.time() - lease_s],
        )
    )


def remote_devices(db: sqlite_utils.Database, host_id: str, lease_s: float) -> list[dict[str, Any]]:
    """The devices other live hosts hold (not gone): device_id, pin, kind, host_id."""
    return list(
        db.query(
            "SELECT d.device_id, d.pin, d.kind, d.host_id FROM devices d JOIN hosts h "
            "USING (host_id) WHERE d.host_id != ? AND d.state != 'gone' AND h.heartbeat_at >= ? "
            "AND h.down_at IS NULL ORDER BY d.pin, d.device_id",
            [host_id, time.time() - lease_s],
        )
    )


def all_hosts(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM hosts ORDER BY host_id"))


def take_over_dead(db: sqlite_utils.Database, host_id: str, lease_s: float) -> list[str]:
    """Every host silent past the lease and not yet taken over: its sending jobs become
    ``unknown``, its devices ``gone``; the ids of the hosts taken over. Row locks taken with
    SKIP LOCKED: two live hosts noticing at once take over each dead host once."""
    now = time.time()
    dead = [
        row[0]
        for row in db.execute(
            "SELECT host_id FROM hosts WHERE heartbeat_at < ? AND down_at IS NULL "
            f"AND host_id != ? ORDER BY host_id {dialect.skip_locked(db)}",
            [now - lease_s, host_id],
        ).fetchall()
    ]
    for gone in dead:
        stuck = db.execute(
            "SELECT j.job_id FROM jobs j JOIN devices d USING (device_id) "
            "WHERE j.state = ? AND d.host_id = ? ORDER BY j.seq",
            [JobState.SENDING.value, gone],
        ).fetchall()
        for (job_id,) in stuck:
            job = get_job(db, job_id)
            assert job is not None
            jobs.mark_unknown(db, job, f"host {gone} stopped while sending (lease timed out)")
        db.execute("UPDATE devices SET state = 'gone' WHERE host_id = ?", [gone])
        db.execute("UPDATE hosts SET down_at = ? WHERE host_id = ?", [now, gone])
    return dead
