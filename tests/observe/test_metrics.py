"""/metrics against the database after a known batch; /healthz; /readyz flipping when the store
cannot write and, per pool, when its last modem leaves and comes back."""

from __future__ import annotations

import asyncio
import gc
import re
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from builders import key_and_job
from prometheus_client.parser import text_string_to_metric_families

from modemd.drivers import registry
from modemd.model import DeviceInfo, DeviceKind, DeviceState, JobState, Pacing, SentPart
from modemd.store import devices, jobs

from .gateway import ADMIN_TOKEN, DELIVERING, FAILING, METRICS_TOKEN, Gateway, running_gateway
from .test_console_http import sign_in

BATCH = {DELIVERING: 160, FAILING: 40}  # 200 jobs, as issue 17 asks
FAST_RADIO_S = (0.001, 0.005)  # per send: 200 jobs through 3 modems in seconds
FLIP_TIMEOUT_S = 30.0


async def scrape(gw: Gateway, token: str = METRICS_TOKEN) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics (parsed by Prometheus' own text parser) by name and labels."""
    status, content_type, text = await gw.text(
        "/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def labelled(samples: dict[tuple[str, tuple], float], name: str) -> dict[tuple, float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


async def ipn_quiet(gw: Gateway) -> None:
    """Wait until no IPN event is pending."""
    async with asyncio.timeout(FLIP_TIMEOUT_S):
        while await gw.store.read(
            lambda db: db.execute("SELECT COUNT(*) FROM events WHERE state = 'pending'").fetchone()[
                0
            ]
        ):
            await asyncio.sleep(0.05)


async def test_counters_match_the_database_after_a_batch(tmp_path: Path) -> None:
    async with running_gateway(tmp_path, FAST_RADIO_S) as gw:
        before = await scrape(gw)
        assert labelled(before, "modemd_jobs_accepted_total") == {
            (("pin", DELIVERING),): 0,
            (("pin", FAILING),): 0,
        }
        sends = [
            gw.send(pin, f"+393330{pin}{n:03d}")
            for pin, n_jobs in BATCH.items()
            for n in range(n_jobs)
        ]
        job_ids = list(await asyncio.gather(*sends))
        await gw.settled(job_ids, {JobState.DELIVERED, JobState.FAILED})
        await ipn_quiet(gw)
        samples = await scrape(gw)

        def rows(sql: str) -> list[tuple]:
            return gw.store.read(lambda db: [tuple(r) for r in db.execute(sql)])

        by_pin = dict(await rows("SELECT pin, COUNT(*) FROM jobs GROUP BY pin"))
        by_state = {
            (pin, state): n
            for pin, state, n in await rows("SELECT pin, state, COUNT(*) FROM jobs GROUP BY 1, 2")
        }
        attempts = (await rows("SELECT COUNT(*) FROM event_attempts"))[0][0]
        parts = dict(await rows("SELECT device_id, COUNT(*) FROM job_parts GROUP BY device_id"))

    assert by_pin == BATCH
    assert by_state == {(DELIVERING, "delivered"): 160, (FAILING, "failed"): 40}
    accepted = labelled(samples, "modemd_jobs_accepted_total")
    assert {dict(k)["pin"]: v for k, v in accepted.items()} == by_pin
    finished = labelled(samples, "modemd_jobs_finished_total")
    assert {(dict(k)["pin"], dict(k)["state"]): v for k, v in finished.items()} == by_state
    assert samples[("modemd_ipn_attempts_total", ())] == attempts == 2 * sum(BATCH.values())
    assert samples[("modemd_ipn_failures_total", ())] == 0
    assert samples[("modemd_ipn_dead_letters", ())] == 0
    up = labelled(samples, "modemd_device_up")
    assert Counter(dict(k)["pin"] for k, v in up.items() if v == 1) == {DELIVERING: 2, FAILING: 1}
    assert {dict(k)["kind"] for k in up} == {"modem"}
    ready = labelled(samples, "modemd_pool_ready_devices")
    assert ready == {(("pin", DELIVERING),): 2, (("pin", FAILING),): 1}
    queue = labelled(samples, "modemd_queue_depth")
    assert set(queue.values()) == {0}
    assert {(dict(k)["pin"], dict(k)["lane"]) for k in queue} == {
        (pin, lane) for pin in BATCH for lane in ("high", "bulk")
    }
    today = {
        dict(k)["device_id"]: v
        for k, v in labelled(samples, "modemd_device_parts").items()
        if dict(k)["period"] == "day"
    }
    assert today == parts
    assert set(labelled(samples, "modemd_device_signal_dbm").values()) == {-113 + 2 * 20}
    assert samples[("modemd_store_commit_seconds_count", ())] > 0
    total = sum(BATCH.values())  # every job was sent once (failures come later, by report)
    assert samples[("modemd_dispatch_seconds_count", ())] == total
    assert samples[("modemd_send_seconds_count", ())] == total
    sends = labelled(samples, "modemd_sends_total")
    assert {dict(k)["result"] for k in sends} == {"ok"} and sum(sends.values()) == total
    assert {dict(k)["device_id"]: v for k, v in sends.items()} == parts
    # Labels stay bounded: no phone number, no job id anywhere.
    flat = repr(samples)
    assert "+39333" not in flat and "job_" not in flat


async def test_metrics_need_the_metrics_or_admin_token(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        assert (await gw.get("/metrics"))[0] == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await gw.get("/metrics", headers=wrong))[0] == 401
        key = {"Authorization": f"Bearer {gw.keys[DELIVERING]}"}  # an API key is not enough
        assert (await gw.get("/metrics", headers=key))[0] == 401
        assert ("modemd_start_time_seconds", ()) in await scrape(gw, ADMIN_TOKEN)


async def test_readyz_flips_when_the_store_cannot_write(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        status, body = await gw.get("/healthz")
        assert status == 200 and body["status"] == "ok"
        status, body = await gw.get("/readyz")
        assert status == 200 and body["pools"][DELIVERING]["ready_devices"] == 2
        await gw.store.write(lambda db: db.execute("PRAGMA query_only = ON"))
        try:
            body = await until_status(gw, "/readyz", 503)
            assert "cannot write" in body["reasons"][0]
            assert (await gw.get("/healthz"))[0] == 200  # alive, only not ready
        finally:
            await gw.store.read(lambda db: db.execute("PRAGMA query_only = OFF"))
        await until_status(gw, "/readyz", 200)


async def until_status(gw: Gateway, path: str, status: int) -> dict[str, Any]:
    async with asyncio.timeout(FLIP_TIMEOUT_S):
        while True:
            got, body = await gw.get(path)
            if got == status:
                return body
            await asyncio.sleep(0.2)


async def test_a_pool_without_modems_shows_but_does_not_make_the_daemon_unready(
    tmp_path: Path,
) -> None:
    async with running_gateway(tmp_path) as gw:
        assert (await gw.get(f"/readyz?pin={FAILING}"))[0] == 200
        last = gw.modems[-1]
        await gw.bank.detach(last.profile.imei, "unplugged (test)")
        body = await until_status(gw, f"/readyz?pin={FAILING}", 503)
        assert body["reasons"] == [f"pool {FAILING} has no ready device"]
        assert (await gw.get("/readyz"))[0] == 200  # its jobs are still accepted
        samples = await scrape(gw)
        assert labelled(samples, "modemd_pool_ready_devices")[(("pin", FAILING),)] == 0
        waiting = await gw.send(FAILING, "+393331000000")  # accepted: it queues in its lane
        samples = await scrape(gw)
        assert samples[("modemd_queue_depth", (("lane", "high"), ("pin", FAILING)))] == 1
        assert (await gw.get("/readyz"))[1]["pools"][FAILING]["queued"] == 1
        assert await gw.bank.attach(registry.factory(registry.SerialModem(last.port, FAILING)))
        await until_status(gw, f"/readyz?pin={FAILING}", 200)
        ready = labelled(await scrape(gw), "modemd_pool_ready_devices")
        assert ready[(("pin", FAILING),)] == 1
        await gw.settled([waiting], {JobState.FAILED})  # sent by the modem that came back


async def test_received_counter_matches_the_database(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        before = labelled(await scrape(gw), "modemd_received_total")
        devices = {m.profile.imei: DELIVERING for m in gw.modems[:2]}
        devices[gw.modems[-1].profile.imei] = FAILING
        assert before == {
            (("device_id", imei), ("pin", pin)): 0 for imei, pin in devices.items()
        }  # every device shows, at 0
        first, second, failing = gw.modems
        first.network.send("+393334440001", "one")
        first.network.send("+393334440002", "two")
        long_text = "three parts, whatever their order. " * 12
        second.network.send("+393334440003", long_text, out_of_order=True, repeat_part=True)
        failing.network.send("BANK", "a pool of its own")

        def stored(db: Any) -> dict[tuple, int]:
            rows = db.execute("SELECT pin, device_id, COUNT(*) FROM inbound GROUP BY 1, 2")
            return {(("device_id", d), ("pin", p)): n for p, d, n in rows}

        async with asyncio.timeout(FLIP_TIMEOUT_S):
            while sum((in_db := await gw.store.read(stored)).values()) < 4:
                await asyncio.sleep(0.05)
        counted = labelled(await scrape(gw), "modemd_received_total")
    assert in_db == {
        (("device_id", first.profile.imei), ("pin", DELIVERING)): 2,
        (("device_id", second.profile.imei), ("pin", DELIVERING)): 1,  # 3 parts, one message
        (("device_id", failing.profile.imei), ("pin", FAILING)): 1,
    }
    assert counted == in_db
    assert "+39333" not in repr(counted) and "BANK" not in repr(counted)  # no sender in labels


OLD_MODEM = "350000990000990"  # the SIM was in this modem earlier today
SIM_CAPS = Pacing(daily_cap=5, monthly_cap=50)


async def sent_before_in(store: Any, iccid: str, count: int) -> None:
    """``count`` one-part jobs sent today by ``OLD_MODEM`` holding the SIM ``iccid``; then
    another SIM goes into that modem."""
    old = DeviceInfo(OLD_MODEM, "9999", DeviceKind.MODEM, "/dev/ttyUSB9", iccid=iccid)
    await store.write(devices.upsert_device, old, DeviceState.READY)
    for n in range(count):
        _, _, job = await key_and_job(store, None, pin="9999", to=f"+3933355{n:05d}")
        claimed = await store.write(jobs.claim_job, job.job_id, OLD_MODEM)
        await store.write(jobs.mark_sent, claimed, [SentPart(1, n)])
    other = DeviceInfo(OLD_MODEM, "9999", DeviceKind.MODEM, "/dev/ttyUSB9", iccid="8939" + "0" * 15)
    await store.write(devices.upsert_device, other, DeviceState.GONE)


async def test_parts_and_caps_follow_the_sim(tmp_path: Path) -> None:
    """/metrics and the console's device table count what the SIM sent today, in this modem
    and in the one it was in before, against the SIM's caps."""
    holder = None

    def pacing(device_id: str, iccid: str) -> Pacing:
        return SIM_CAPS if iccid == holder else Pacing()

    async with (
        running_gateway(tmp_path, FAST_RADIO_S, pacing) as gw,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
    ):
        modem = gw.modems[-1]  # the only modem of its pool: it sends the pool's jobs
        holder = modem.profile.iccid
        await sent_before_in(gw.store, holder, 3)
        job_ids = [await gw.send(FAILING, f"+3933366{n:05d}") for n in range(2)]
        await gw.settled(job_ids, {JobState.FAILED})
        samples = await scrape(gw)
        assert await sign_in(gw, browser, ADMIN_TOKEN) == 303
        async with browser.get(gw.url + "/console/") as r:
            page = await r.text()

    def of(name: str, device_id: str) -> dict[str, float]:
        found = labelled(samples, name).items()
        return {dict(k)["period"]: v for k, v in found if dict(k)["device_id"] == device_id}

    imei = modem.profile.imei
    assert of("modemd_device_parts", imei) == {"day": 5, "month": 5}  # 3 before + 2 here
    assert of("modemd_device_cap_parts", imei) == {"day": 5, "month": 50}
    assert of("modemd_device_parts", OLD_MODEM) == {"day": 0, "month": 0}  # another SIM now
    assert of("modemd_device_cap_parts", OLD_MODEM) == {}  # not capped
    row = page[page.index(f'data-device-id="{imei}"') :]
    row = row[: row.index("</tr>")]
    assert re.search(r'<td class="today error"[^>]*>5 / 5 <strong>cap reached</strong></td>', row)
    old_row = page[page.index(f'data-device-id="{OLD_MODEM}"') :]
    assert re.search(r'<td class="today"[^>]*>0</td>', old_row[: old_row.index("</tr>")])


async def test_garbage_collector_passes_are_timed_and_counted_by_generation(tmp_path: Path) -> None:
    async with running_gateway(tmp_path, FAST_RADIO_S) as gw:
        gw.metrics.gc.install()  # as ``serve`` does once started
        try:
            gc.collect(0)
            gc.collect(2)
            samples = await scrape(gw)
        finally:
            gw.metrics.gc.remove()
    spent = {
        dict(k)["generation"]: v for k, v in labelled(samples, "modemd_gc_seconds_total").items()
    }
    assert set(spent) == {"0", "1", "2"}
    assert spent["0"] > 0 and spent["2"] > 0
    longest = samples[("modemd_gc_pause_max_seconds", ())]
    assert 0 < longest <= sum(spent.values())
    passes = {
        dict(k)["generation"]: v for k, v in labelled(samples, "modemd_gc_passes_total").items()
    }
    assert set(passes) == {"0", "1", "2"}
    assert passes["0"] >= 1 and passes["2"] >= 1  # the two collections above, at least
