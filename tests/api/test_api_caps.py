"""A key over its daily cap is refused as GenioApi refuses a send without credit (code 9, 402),
nothing written; caps and counts are visible in GET /api/v1/devices and ``modemd devices``."""

from __future__ import annotations

from pathlib import Path

from api_harness import ADMIN_TOKEN, PIN, MakeApi
from click.testing import CliRunner

from modemd.api.auth import api_config
from modemd.caps import Caps, CapsPolicy, PoolCaps
from modemd.cli import main
from modemd.model import DeviceInfo, DeviceKind, DeviceState, Pacing, SentPart
from modemd.store import devices, jobs, keys
from modemd.store.db import connect

IMEI, ICCID = "350000000000017", "8900101000000000017"
POLICY = CapsPolicy(
    lambda _imei, _iccid: Pacing(daily_cap=400),
    PoolCaps({PIN: Caps(monthly=9000)}, {PIN: Caps(daily=3)}),
)


async def test_a_key_over_its_daily_cap_gets_balance_error_and_nothing_is_written(
    make_api: MakeApi,
) -> None:
    api = await make_api(api_config(admin_token=ADMIN_TOKEN, caps=POLICY))
    status, body = await api.send(json=api.ok(msg="x" * 200))  # 2 parts
    assert (status, body["parts"]) == (200, 2)
    before = await api.dump()
    async with api.session.post(api.url + "/api/v1/send", json=api.ok(msg="x" * 200)) as r:
        status, body, retry = r.status, await r.json(), r.headers.get("Retry-After")
    assert status == 402
    assert (body["status_code"], body["status"], body["reason"]) == (
        "9",
        "balance_error",
        "daily_cap",
    )
    assert "this key's daily cap is 3 SMS parts: 2 accepted, this send has 2" in body["message"]
    assert retry is not None and 0 < int(retry) <= 25 * 3600
    assert await api.dump() == before
    # Several recipients over the cap: the whole request is refused, as for credit.
    status, body = await api.send(json=api.ok(to=["+393331234567", "+393331234568"]))
    assert (status, body["status_code"]) == (402, "9") and await api.dump() == before
    status, _ = await api.send(json=api.ok())  # one part still fits
    assert status == 200
    status, _ = await api.send(json=api.ok("any"))  # each key has its own count
    assert status == 200


async def test_devices_route_shows_the_caps_and_the_key_s_count(make_api: MakeApi) -> None:
    api = await make_api(api_config(admin_token=ADMIN_TOKEN, caps=POLICY))
    info = DeviceInfo(IMEI, PIN, DeviceKind.MODEM, "/dev/ttyUSB0", iccid=ICCID)
    await api.store.write(devices.upsert_device, info, DeviceState.READY)
    status, body = await api.send(json=api.ok())
    assert status == 200
    job = await api.store.write(jobs.claim_job, body["job_id"], IMEI)
    await api.store.write(jobs.mark_sent, job, [SentPart(1, 7)])
    status, body = await api.get("/api/v1/devices", params={"apikey": api.keys["local"]})
    assert status == 200
    (device,) = body["devices"]
    assert device["sim_caps"] == {
        "sent_today": 1,
        "daily_cap": 400,
        "sent_month": 1,
        "monthly_cap": None,
    }
    assert device["pool_caps"]["sent_month"] == 1 and device["pool_caps"]["monthly_cap"] == 9000
    assert device["capped"] is None and device["capped_until"] is None
    assert body["key_caps"] == {
        "accepted_today": 1,
        "daily_cap": 3,
        "accepted_month": 1,
        "monthly_cap": None,
    }


def test_modemd_devices_lists_sim_and_pool_counts(tmp_path: Path) -> None:
    db_path, config_path = tmp_path / "m.db", tmp_path / "modemd.toml"
    config_path.write_text(
        f'[pacing.sims."{ICCID}"]\ndaily_cap = 1\n[pools."{PIN}"]\nmonthly_cap = 50\n'
    )
    db = connect(str(db_path))
    info = DeviceInfo(IMEI, PIN, DeviceKind.MODEM, "/dev/ttyUSB0", iccid=ICCID)
    devices.upsert_device(db, info, DeviceState.READY)
    key, _ = keys.create_key(db, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None)
    job = jobs.insert_job(
        db, key_id=key.key_id, pin=PIN, to="+393331234567", message="hi", parts=1, encoding="gsm7"
    )
    claimed = jobs.claim_job(db, job.job_id, IMEI)
    assert claimed is not None
    jobs.mark_sent(db, claimed, [SentPart(1, 9)])
    db.conn.commit()
    result = CliRunner().invoke(
        main, ["devices", "--db", str(db_path), "--config", str(config_path)]
    )
    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()
    assert header.split()[-5:] == ["SIM_TODAY", "SIM_MONTH", "POOL_TODAY", "POOL_MONTH", "CAPPED"]
    assert row.split()[-11:] == [
        "1/1",
        "1",
        "1",
        "1/50",
        "SIM",
        "daily",
        "cap",
        "of",
        "1",
        "SMS",
        "reached",
    ]
