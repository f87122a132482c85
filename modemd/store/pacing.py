"""What caps need to know: SMS parts sent by a SIM or a pool, and accepted for a key, in the
day and month of a window (``modemd.caps``); a SIM's and a pool's are kept counted per local
day (``sim_days`` and ``pool_days``, written by ``count_sent`` and ``count_pool_sent`` in each
send's commit)."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from modemd.caps import Usage, Window
from modemd.model import NEVER_SENT_STATES

# Parts of the day and of the month in one pass over the month's rows (plain SQL).
_TODAY_AND_MONTH = "COALESCE(SUM(CASE WHEN {t} >= ? THEN {n} ELSE 0 END), 0), COALESCE(SUM({n}), 0)"


def _usage(db: sqlite_utils.Database, sql: str, params: list[Any]) -> Usage:
    today, month = db.execute(sql, params).fetchone()
    return Usage(int(today), int(month))


def sim_usage(db: sqlite_utils.Database, iccid: str, device_id: str, window: Window) -> Usage:
    """Parts the SIM ``iccid`` sent, in whichever device it was; a device without an ICCID
    (a phone) counts its own parts."""
    return sim_parts(
        db, iccid, device_id, window.day_start.timestamp(), window.month_start.timestamp()
    )


def sim_parts(
    db: sqlite_utils.Database,
    iccid: str,
    device_id: str,
    day_start: float,
    month_start: float,
) -> Usage:
    """``sim_usage`` from Unix-second bounds (local midnights: a window's), parts sent on the
    days from ``day_start``'s and from ``month_start``'s on: at most a month of ``sim_days``
    rows, however many parts (the month's parts counted one by one took 170 ms a scrape at
    16 SIMs x 87,000 parts). A device without an ICCID (a phone) counts its own."""
    row = db.execute(
        f"SELECT {_TODAY_AND_MONTH.format(t='day', n='parts')} FROM sim_days "
        "WHERE iccid = ? AND device_id = ? AND day >= ?",
        [local_day(day_start), iccid, "" if iccid else device_id, local_day(month_start)],
    ).fetchone()
    return Usage(int(row[0]), int(row[1]))


# A device's rows of ``sim_days`` from day ``?`` on, inside a statement over ``devices AS d``.
_DEVICE_SIM_DAYS = (
    "FROM sim_days AS s WHERE s.iccid = d.iccid "
    "AND s.device_id = CASE WHEN d.iccid = '' THEN d.device_id ELSE '' END AND s.day >= ?"
)


def sims_parts(db: sqlite_utils.Database, day_start: float, month_start: float) -> dict[str, Usage]:
    """``sim_parts`` of each device's SIM (a device without an ICCID: its own), by device id:
    one statement (a /metrics scrape asked once per device: at 256 devices 256 statements,
    3/4 of its store side), each device's rows found through the table's key as ``sim_parts``
    finds them, the day's apart (one row) from the month's, so that nothing is sorted."""
    return {
        str(device_id): Usage(int(today), int(month))
        for device_id, today, month in db.execute(
            f"SELECT d.device_id, (SELECT COALESCE(SUM(s.parts), 0) {_DEVICE_SIM_DAYS}), "
            f"(SELECT COALESCE(SUM(s.parts), 0) {_DEVICE_SIM_DAYS}) FROM devices AS d",
            [local_day(day_start), local_day(month_start)],
        )
    }


# The ICCID of the SIM in device ``?`` now ('' without one), inside a statement.
DEVICE_ICCID = "COALESCE((SELECT iccid FROM devices WHERE device_id = ?), '')"
# One statement (no read of the ICCID of its own: 7 us a send, bench.store_alone).
_COUNT_SENT = (
    "INSERT INTO sim_days (iccid, device_id, day, parts) "
    "SELECT s.iccid, CASE WHEN s.iccid = '' THEN ? ELSE '' END, ?, ? "
    f"FROM (SELECT {DEVICE_ICCID} AS iccid) AS s WHERE true "
    "ON CONFLICT (iccid, device_id, day) DO UPDATE SET parts = sim_days.parts + excluded.parts"
)


def count_sent(db: sqlite_utils.Database, device_id: str, now: float, parts: int) -> None:
    """Add ``parts`` that ``device_id`` sent at ``now`` to its SIM's count of that day
    (``sim_parts``), in the transaction that records them."""
    db.conn.execute(_COUNT_SENT, [device_id, local_day(now), parts, device_id])


# The last hour ``local_day`` was asked about (Unix hours) and its date, when the whole hour
# lies in one local day (an offset of :30 or :45 puts a midnight inside some hour: not kept)
_HOUR_DAY: tuple[int, str] = (-1, "")


def local_day(at: float) -> str:
    """The local date of ``at`` (Unix seconds), as ``sim_days`` keeps it: YYYY-MM-DD. Kept per
    hour (each send's record asks: strftime and localtime were 2.5 us of it)."""
    global _HOUR_DAY
    hour = int(at // 3600)
    if _HOUR_DAY[0] == hour:
        return _HOUR_DAY[1]
    day = time.strftime("%Y-%m-%d", time.localtime(at))
    if (
        day
        == time.strftime("%Y-%m-%d", time.localtime(hour * 3600))
        == time.strftime("%Y-%m-%d", time.localtime(hour * 3600 + 3599))
    ):
        _HOUR_DAY = (hour, day)
    return day


def pool_usage(db: sqlite_utils.Database, pin: str, window: Window) -> Usage:
    """Parts the devices of pool ``pin`` sent: at most a month of ``pool_days`` rows (every
    claim of a pool with caps asks, before its ``AT+CMGS``; the month's jobs were summed)."""
    return _usage(
        db,
        f"SELECT {_TODAY_AND_MONTH.format(t='day', n='parts')} FROM pool_days "
        "WHERE pin = ? AND day >= ?",
        [
            local_day(window.day_start.timestamp()),
            pin,
            local_day(window.month_start.timestamp()),
        ],
    )


_COUNT_POOL_SENT = (
    "INSERT INTO pool_days (pin, day, parts) VALUES (?, ?, ?) "
    "ON CONFLICT (pin, day) DO UPDATE SET parts = pool_days.parts + excluded.parts"
)


def count_pool_sent(db: sqlite_utils.Database, pin: str, now: float, parts: int) -> None:
    """Add a job's ``parts`` of pool ``pin`` sent at ``now`` to the pool's count of that day
    (``pool_usage``), in the transaction that records them."""
    db.conn.execute(_COUNT_POOL_SENT, [pin, local_day(now), parts])


def key_usage(db: sqlite_utils.Database, key_id: int, window: Window) -> Usage:
    """Parts accepted for API key ``key_id`` (jobs that ended never sent do not count)."""
    never = sorted(s.value for s in NEVER_SENT_STATES)
    marks = ", ".join("?" for _ in never)
    return _usage(
        db,
        f"SELECT {_TODAY_AND_MONTH.format(t='created_at', n='parts')} FROM jobs "
        f"WHERE key_id = ? AND created_at >= ? AND state NOT IN ({marks})",
        [window.day_start.timestamp(), key_id, window.month_start.timestamp(), *never],
    )


def device_usage(
    db: sqlite_utils.Database, devices: list[dict[str, Any]], window: Window
) -> dict[str, dict[str, Usage]]:
    """For each device row (``device_id``, ``iccid``, ``pin``): its SIM's and its pool's usage
    (``{"sim": ..., "pool": ...}``), each pool counted once."""
    pools: dict[str, Usage] = {}
    found = {}
    for d in devices:
        if d["pin"] not in pools:
            pools[d["pin"]] = pool_usage(db, d["pin"], window)
        found[d["device_id"]] = {
            "sim": sim_usage(db, d["iccid"] or "", d["device_id"], window),
            "pool": pools[d["pin"]],
        }
    return found
