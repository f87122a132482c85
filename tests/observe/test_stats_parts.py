"""The parts the console and /metrics show per device are its SIM's, counted as the caps count
them, on SQLite and PostgreSQL: a SIM's in whichever device it was, a phone's its own, a modem
whose SIM has no readable ICCID only what it sent without one."""

from __future__ import annotations

import pytest
import sqlite_utils
from builders import key_and_job

from modemd import caps
from modemd.model import DeviceInfo, DeviceKind, DeviceState, SentPart
from modemd.store import devices, jobs, stats
from modemd.store.db import Store

pytestmark = pytest.mark.both_engines
SIM_X, SIM_Y = "89390000000000000011", "89390000000000000029"


async def send_from(store: Store, device: DeviceInfo, count: int = 1) -> None:
    """``device`` (as it is now: its SIM) sends ``count`` one-part jobs."""
    await store.write(devices.upsert_device, device, DeviceState.READY)
    for _ in range(count):
        _, _, job = await key_and_job(store, None)
        claimed = await store.write(jobs.claim_job, job.job_id, device.device_id)
        await store.write(jobs.mark_sent, claimed, [SentPart(1, 1)])


async def test_parts_per_sim_per_phone_and_without_iccid(store: Store) -> None:
    phone = DeviceInfo("phone-1", "1", DeviceKind.PHONE, "http://phone")
    modem_a = DeviceInfo("350000000000011", "1", DeviceKind.MODEM, "/dev/ttyUSB0", iccid=SIM_X)
    modem_b = DeviceInfo("350000000000029", "1", DeviceKind.MODEM, "/dev/ttyUSB1", iccid=SIM_Y)
    await send_from(store, phone, 2)
    await send_from(store, modem_a, 1)
    await send_from(store, modem_b, 3)  # SIM Y, then it leaves modem B ...
    await send_from(store, DeviceInfo(modem_b.device_id, "1", DeviceKind.MODEM, "/dev/ttyUSB1"))
    await send_from(store, DeviceInfo(modem_a.device_id, "1", DeviceKind.MODEM, "/dev/ttyUSB0",
                                      iccid=SIM_Y))  # fmt: skip
    # ... and sends once more from modem A, whose SIM X is gone.
    window = caps.window()  # the caps' day and month: what the console and /metrics pass
    day, month = window.day_start.timestamp(), window.month_start.timestamp()
    snap = await store.read(stats.snapshot, day, month)
    assert snap.parts_today == {
        phone.device_id: 2,
        modem_a.device_id: 4,  # SIM Y: 3 in modem B, 1 here
        modem_b.device_id: 1,  # no readable ICCID now: what it sent without one
    }
    assert snap.parts_month == snap.parts_today
    later = await store.read(stats.snapshot, window.day_end.timestamp(), month)  # tomorrow
    assert set(later.parts_today.values()) == {0} and later.parts_month == snap.parts_today


@pytest.mark.sqlite_only  # the statements are seen through SQLite's trace
async def test_a_scrape_reads_every_devices_parts_in_one_statement(store: Store) -> None:
    """The parts of 3 devices and of 12 are read by as many statements (a scrape asked once
    per device: at 256 devices 3/4 of its store side)."""
    window = caps.window()
    day, month = window.day_start.timestamp(), window.month_start.timestamp()

    def traced(db: sqlite_utils.Database, seen: list[str]) -> stats.Snapshot:
        db.conn.set_trace_callback(seen.append)
        try:
            return stats.snapshot(db, day, month)
        finally:
            db.conn.set_trace_callback(None)

    counted = []
    for first, last in ((0, 3), (3, 12)):  # each device's SIM sends one part
        for n in range(first, last):
            iccid = f"893900000000{n:08d}"
            await send_from(
                store,
                DeviceInfo(f"35000000{n:07d}", "1", DeviceKind.MODEM, "/dev/null", iccid=iccid),
            )
        seen: list[str] = []
        snap = await store.read(traced, seen)
        assert snap.parts_today == {f"35000000{n:07d}": 1 for n in range(last)}
        counted.append(len(seen))
    assert counted[0] == counted[1], counted


async def test_a_snapshots_device_rows_are_the_stored_columns_by_name(store: Store) -> None:
    """Each field of a snapshot's device row (a plain tuple, built without a dict per row) is
    its column's; ``device_error`` is the device's own, ``last_error`` its jobs' latest (the
    console's, with_errors) or None (a scrape)."""
    modem = DeviceInfo(
        "350000000000037", "1", DeviceKind.MODEM, "/dev/ttyUSB3", "Quectel", "EC25", iccid=SIM_X
    )
    await store.write(devices.upsert_device, modem, DeviceState.READY)
    await store.write(devices.set_device_state, modem.device_id, DeviceState.READY, 17)
    await store.write(devices.note_error, modem.device_id, "no answer to AT")
    _, _, job = await key_and_job(store, None)
    claimed = await store.write(jobs.claim_job, job.job_id, modem.device_id)
    await store.write(jobs.mark_failed, claimed, "+CMS ERROR: 500")
    window = caps.window()
    day, month = window.day_start.timestamp(), window.month_start.timestamp()
    scrape = await store.read(stats.snapshot, day, month)
    console = await store.read(stats.snapshot, day, month, True)
    stored = (await store.read(devices.list_devices))[0]
    expected = {
        "device_id": modem.device_id,
        "pin": "1",
        "kind": "modem",
        "state": "ready",
        "port": "/dev/ttyUSB3",
        "signal": 17,
        "manufacturer": "Quectel",
        "model": "EC25",
        "last_seen": stored["last_seen"],
        "iccid": SIM_X,
        "device_error": "no answer to AT",
    }
    assert scrape.devices == [stats.DeviceRow(**expected, last_error=None)]
    assert console.devices == [stats.DeviceRow(**expected, last_error="+CMS ERROR: 500")]
