"""A SIM's parts are counted per local day in each send's own commit (``sim_days``): the caps
and /metrics read those counts, which agree with the parts recorded, survive the jobs'
retention, and were counted from the parts already sent when the table came (migration 024)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from builders import key_and_job

from modemd import caps
from modemd.model import DeviceInfo, DeviceKind, DeviceState, JobState, SentPart
from modemd.store import devices, jobs, pacing, retention
from modemd.store.db import Store, connect

DATABASES = Path(__file__).parent / "databases"
SIM = "89390000000000000011"
MODEM = DeviceInfo("350000000000011", "1", DeviceKind.MODEM, "/dev/ttyUSB0", iccid=SIM)
PHONE = DeviceInfo("phone-1", "1", DeviceKind.PHONE, "http://phone")


async def _send(store: Store, device: DeviceInfo, parts: int) -> None:
    await store.write(devices.upsert_device, device, DeviceState.READY)
    _, _, job = await key_and_job(store, None)
    claimed = await store.write(jobs.claim_job, job.job_id, device.device_id)
    await store.write(jobs.mark_sent, claimed, [SentPart(n + 1, n) for n in range(parts)])


def _counted_one_by_one(db, iccid: str, device_id: str, since: float) -> int:
    """The parts as the caps counted them before migration 024: one by one."""
    subject, value = ("iccid = ?", iccid) if iccid else ("device_id = ? AND iccid = ''", device_id)
    sql = f"SELECT COUNT(*) FROM job_parts WHERE {subject} AND sent_at >= ?"
    return int(db.execute(sql, [value, since]).fetchone()[0])


@pytest.mark.both_engines
async def test_each_send_counts_its_parts_in_its_commit(store: Store) -> None:
    await _send(store, MODEM, 3)
    await _send(store, MODEM, 1)
    await _send(store, PHONE, 2)
    window = caps.window()
    for device in (MODEM, PHONE):
        used = await store.read(pacing.sim_usage, device.iccid or "", device.device_id, window)
        since = [window.day_start.timestamp(), window.month_start.timestamp()]
        counted = [
            await store.read(_counted_one_by_one, device.iccid or "", device.device_id, t)
            for t in since
        ]
        assert [used.today, used.month] == counted
    assert (await store.read(pacing.sim_usage, SIM, MODEM.device_id, window)).today == 4
    rows = await store.read(
        lambda db: db.execute("SELECT iccid, device_id, parts FROM sim_days ORDER BY 1").fetchall()
    )
    assert [tuple(r) for r in rows] == [("", PHONE.device_id, 2), (SIM, "", 4)]


@pytest.mark.both_engines
async def test_a_day_and_a_month_are_the_local_calendars(store: Store) -> None:
    window = caps.window(datetime(2026, 6, 15, 12, 0).astimezone())
    day, month = window.day_start.timestamp(), window.month_start.timestamp()
    await store.write(devices.upsert_device, MODEM, DeviceState.READY)
    for at in (month - 1, month, day - 1, day):  # a second before and at each midnight
        await store.write(
            pacing.count_sent, MODEM.device_id, at, 1
        )  # May 31st, June 1st, 14th, 15th
    used = await store.read(pacing.sim_parts, SIM, "", day, month)
    assert (used.today, used.month) == (1, 3)  # the 15th; June 1st, 14th and 15th


async def test_the_counts_outlive_the_jobs_retention_but_not_two_months(store: Store) -> None:
    await _send(store, MODEM, 2)
    await store.write(
        lambda db: db.execute("UPDATE jobs SET state = ?, final_at = ?", [JobState.DELIVERED, 1])
    )
    old = time.time() - retention.SIM_DAYS_KEPT_S - 86400
    await store.write(pacing.count_sent, MODEM.device_id, old, 5)
    assert await store.write(retention.prune_jobs, time.time()) == 1
    window = caps.window()
    used = await store.read(pacing.sim_usage, SIM, MODEM.device_id, window)
    assert used.today == 2  # the job is gone, what its SIM sent today stays counted
    days = await store.read(lambda db: db.execute("SELECT day FROM sim_days").fetchall())
    assert [r[0] for r in days] == [pacing.local_day(time.time())]


def test_the_upgrade_counts_the_parts_already_sent(tmp_path: Path) -> None:
    copy = tmp_path / "modemd.db"
    shutil.copy(DATABASES / "schema_v23.db", copy)
    db = connect(copy)  # migrates
    try:
        parts = db.execute("SELECT iccid, device_id, sent_at FROM job_parts").fetchall()
        assert parts, "the old database has parts sent"
        expected: dict[tuple[str, str, str], int] = {}
        for iccid, device_id, sent_at in parts:
            key = (iccid, "" if iccid else device_id, pacing.local_day(sent_at))
            expected[key] = expected.get(key, 0) + 1
        rows = db.execute("SELECT iccid, device_id, day, parts FROM sim_days").fetchall()
        assert {(r[0], r[1], r[2]): r[3] for r in rows} == expected
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert not {"job_parts_iccid_sent", "job_parts_device_sent"} & names
    finally:
        db.conn.close()


LOCAL_DAY_CHECK = """
import time
from modemd.store import pacing
start = 1711843200 - 3 * 86400  # days around Europe's spring change (2024-03-31)
at, wrong = float(start), []
while at < start + 7 * 86400:
    if pacing.local_day(at) != time.strftime("%Y-%m-%d", time.localtime(at)):
        wrong.append(at)
    at += 419.5  # not a divisor of an hour: every minute of the hour comes up
print(len(wrong))
"""


@pytest.mark.parametrize("zone", ["Europe/Rome", "Asia/Kathmandu", "America/St_Johns", "UTC"])
def test_the_day_kept_per_hour_is_the_local_date_across_midnights_and_clock_changes(
    zone: str,
) -> None:
    # +05:45 and -03:30 put a local midnight inside a UTC hour; Rome and St John's change
    # their clocks in these days
    done = subprocess.run(
        [sys.executable, "-c", LOCAL_DAY_CHECK],
        env={**os.environ, "TZ": zone},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "0"
