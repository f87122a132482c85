"""Devices as last seen: identity, pool, state, signal."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from modemd.model import DeviceInfo, DeviceState, RadioStatus
from modemd.store.db import replayable

RSSI_UNKNOWN = 99  # +CSQ: not known or not detectable
BAR_EDGES = (2, 10, 15, 20)  # +CSQ rssi at which each of the 4 bars lights


def upsert_device(
    db: sqlite_utils.Database, info: DeviceInfo, state: DeviceState, host_id: str | None = None
) -> None:
    now = time.time()
    existing = db.table("devices").count_where("device_id = ?", [info.device_id])
    values = {
        "device_id": info.device_id,
        "pin": info.pin,
        "kind": info.kind.value,
        "port": info.port,
        "state": state.value,
        "manufacturer": info.manufacturer,
        "model": info.model,
        "imsi": info.imsi,
        "iccid": info.iccid,
        "reports": int(info.reports),
        "last_seen": now,
        "host_id": host_id,
    }
    if existing:
        db.table("devices").update(info.device_id, values)
    else:
        db.table("devices").insert({**values, "signal": None, "first_seen": now})


@replayable
def set_identity(db: sqlite_utils.Database, info: DeviceInfo) -> None:
    """A device's maker, model and IMSI, read after its open (``runtime.bank.opened``)."""
    db.conn.execute(
        "UPDATE devices SET manufacturer = ?, model = ?, imsi = ? WHERE device_id = ?",
        [info.manufacturer, info.model, info.imsi, info.device_id],
    )


@replayable
def set_device_state(
    db: sqlite_utils.Database, device_id: str, state: DeviceState, signal: int | None = None
) -> None:
    db.conn.execute(
        "UPDATE devices SET state = ?, last_seen = ?, signal = coalesce(?, signal) "
        "WHERE device_id = ?",
        [state.value, time.time(), signal, device_id],
    )


def set_health(
    db: sqlite_utils.Database,
    device_id: str,
    state: DeviceState,
    signal: int | None,
    health: RadioStatus,
) -> None:
    """A health check's findings, with the state, in one write."""
    db.conn.execute(
        "UPDATE devices SET state = ?, last_seen = ?, signal = coalesce(?, signal), "
        "operator = ?, registration = ?, own_number = coalesce(?, own_number) "
        "WHERE device_id = ?",
        [
            state.value,
            time.time(),
            signal,
            health.operator,
            health.registration,
            health.own_number,
            device_id,
        ],
    )


@replayable
def note_error(db: sqlite_utils.Database, device_id: str, error: str) -> None:
    """Why the device last failed (a send, a probe, the ladder), in plain words."""
    db.conn.execute(
        "UPDATE devices SET last_error = ?, last_error_at = ? WHERE device_id = ?",
        [error, time.time(), device_id],
    )


def note_sent(
    db: sqlite_utils.Database, device_id: str, state: DeviceState, signal: int | None
) -> None:
    """The network took a send of this device, which is now in ``state`` (ready, or busy
    with its next job), and its last success is now: one statement."""
    now = time.time()
    db.conn.execute(
        "UPDATE devices SET state = ?, last_seen = ?, signal = coalesce(?, signal), "
        "last_success_at = ? WHERE device_id = ?",
        [state.value, now, signal, now, device_id],
    )


def note_recovered(db: sqlite_utils.Database, device_id: str, step: str) -> None:
    """The recovery ladder's ``step`` revived the device."""
    db.conn.execute("UPDATE devices SET recovered_after = ? WHERE device_id = ?", [step, device_id])


def signal_dbm(rssi: int | None) -> int | None:
    """27.007 8.5: rssi 0 -> -113 dBm ... 31 -> -51 dBm; None when unknown (99)."""
    return None if rssi is None or rssi == RSSI_UNKNOWN else -113 + 2 * rssi


def signal_bars(rssi: int | None) -> int:
    """0-4 bars, as handsets draw +CSQ: under 2 none, 2-9 one, 10-14 two, 15-19 three, 20+."""
    if rssi is None or rssi == RSSI_UNKNOWN:
        return 0
    return sum(rssi >= edge for edge in BAR_EDGES)


def list_devices(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every device as last seen, with its health (signal also as dBm and bars)."""
    rows = db.query(
        "SELECT device_id, pin, kind, state, port, signal, manufacturer, model, reports, "
        "last_seen, iccid, operator, registration, own_number, last_error, last_error_at, "
        "last_success_at, recovered_after FROM devices ORDER BY pin, device_id"
    )
    return [
        {
            **row,
            "signal_dbm": signal_dbm(row["signal"]),
            "bars": signal_bars(row["signal"]),
            "roaming": row["registration"] == "roaming",
        }
        for row in rows
    ]


def mark_all_gone(db: sqlite_utils.Database, host_id: str | None = None) -> None:
    """At start-up nothing is attached yet (with ``host_id``: to this host; another host's
    devices stay as that host keeps them)."""
    if host_id is None:
        db.execute("UPDATE devices SET state = 'gone'")
        return
    db.execute("UPDATE devices SET state = 'gone' WHERE host_id IS NULL OR host_id = ?", [host_id])
