"""The simulator API and CLI on a running ``modemd serve --simulate`` daemon: a fault given to
an emulated modem over HTTP, the recovery ladder reviving it, the IPNs a pool's key gets."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from e2e.daemon import MODEMD, create_key, ipn_listener, running_daemon
from modemd.api.app import create_app
from modemd.runtime.bank import Bank
from modemd.store.db import Store

IPN_TIMEOUT_S = 60.0
METRICS_TOKEN = "metrics-token-for-the-simulator-test"
FAST_RECOVERY = f"""
[server]
metrics_token = "{METRICS_TOKEN}"
[recovery]
probe_interval_s = 0.5
step_pause_s = 0.05
cfun_timeout_s = 1
module_boot_s = 0.1
retry_failed_s = 1
"""


async def post_fault(
    port: int, device_id: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/simulator/v1/devices/{device_id}/fault"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers or {}) as answer,
    ):
        return answer.status, dict(await answer.json())


async def devices(port: int, key: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/api/v1/devices", params={"apikey": key}) as answer,
    ):
        return list((await answer.json())["devices"])


async def failed_gauge(port: int) -> dict[tuple[str, str], float]:
    """``modemd_device_failed`` by (device_id, pin), scraped from /metrics."""
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as answer,
    ):
        text = await answer.text()
    return {
        (s.labels["device_id"], s.labels["pin"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "modemd_device_failed"
    }


async def test_a_fault_over_http_is_healed_by_the_ladder_and_told_by_ipn(tmp_path: Path) -> None:
    db = tmp_path / "modemd.db"
    config = tmp_path / "modemd.toml"
    config.write_text(FAST_RECOVERY)
    async with ipn_listener() as (ipns, ipn_url):
        key = create_key(db, ipn_url)
        other_pool = create_key(db, ipn_url, pin="9999")
        args = ("--simulate", "2", "--pin", "4711", "--db", str(db), "--config", str(config))
        async with running_daemon(*args) as port:
            device_id = (await devices(port, key))[0]["device_id"]
            bearer = {"Authorization": f"Bearer {other_pool}"}
            status, answer = await post_fault(port, device_id, {"kind": "clear"}, bearer)
            assert (status, answer["response"]) == (404, "404")  # another pool's device
            bearer["Authorization"] = f"Bearer {key}"
            status, answer = await post_fault(port, device_id, {"kind": "melt"}, bearer)
            assert status == 400 and "hang_until_cfun" in answer["message"]
            status, answer = await post_fault(port, device_id, {"kind": "hang_until_cfun"}, bearer)
            assert (status, answer["active"]) == (200, ["hang_until_cfun"])
            await ipns.wait(1, IPN_TIMEOUT_S)
            (event,) = ipns.received
            assert event["type"] == "device.recovered"
            assert event["data"]["device_id"] == device_id
            assert event["data"]["step"] == "radio_reset"
            cli = await asyncio.to_thread(
                subprocess.run,
                [*MODEMD, "simulate", "fault", device_id, "never_recover", "--url",
                 f"http://127.0.0.1:{port}", "--key", key],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert cli.returncode == 0, cli.stdout + cli.stderr
            await ipns.wait(2, IPN_TIMEOUT_S)
            assert ipns.received[1]["type"] == "device.failed"
            async with asyncio.timeout(IPN_TIMEOUT_S):  # the state is written right after
                while {d["device_id"]: d["state"] for d in await devices(port, key)}[
                    device_id
                ] != "failed":
                    await asyncio.sleep(0.05)
            failed = await failed_gauge(port)  # a metric besides the IPN
            assert failed[(device_id, "4711")] == 1 and sorted(failed.values()) == [0, 1]


async def test_without_simulate_there_is_no_simulator_route(store: Store) -> None:
    app = create_app(store, Bank(store))
    assert not [r for r in app.router.routes() if r.resource is not None
                and r.resource.canonical.startswith("/simulator")]  # fmt: skip
