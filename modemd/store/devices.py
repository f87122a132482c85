"""Devices as last seen: identity, pool, state, signal."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from modemd.model import DeviceInfo, DeviceState


def upsert_device(db: sqlite_utils.Database, info: DeviceInfo, state: DeviceState) -> None:
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
    }
    if existing:
        db.table("devices").update(info.device_id, values)
    else:
        db.table("devices").insert({**values, "signal": None, "first_seen": now})


def set_device_state(
    db: sqlite_utils.Database, device_id: str, state: DeviceState, signal: int | None = None
) -> None:
    db.conn.execute(
        "UPDATE devices SET state = ?, last_seen = ?, signal = coalesce(?, signal) "
        "WHERE device_id = ?",
        [state.value, time.time(), signal, device_id],
    )


def list_devices(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT device_id, pin, kind, state, port, signal, manufacturer, model, reports, "
            "last_seen FROM devices ORDER BY pin, device_id"
        )
    )


def mark_all_gone(db: sqlite_utils.Database) -> None:
    """At start-up nothing is attached yet."""
    db.execute("UPDATE devices SET state = 'gone'")
