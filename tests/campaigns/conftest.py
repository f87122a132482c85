"""A campaign rig: emulated modems on ptys, the bank, the feeder and the campaign runner
running, the HTTP API on a real socket, one key; the emulated network's record as the judge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from api_docs.contract import Contract

from modemd.api.app import create_app, start_site
from modemd.drivers import registry
from modemd.drivers.serial_at import Timeouts
from modemd.emulators.modem_bank import EmulatedBank
from modemd.emulators.profile import SendRecorder
from modemd.runtime.bank import Bank
from modemd.runtime.campaigns import CampaignRunner
from modemd.runtime.feeder import Feeder
from modemd.store import keys
from modemd.store.db import Store

SPEC = Contract(yaml.safe_load((Path(__file__).parents[2] / "api" / "openapi.yaml").read_text()))
PIN = "4711"
MODEMS = 4
FAST = Timeouts(command_s=2.0, prompt_s=1.0, cmgs_s=10.0, registration_s=2.0)
SEND_S = 0.02  # emulated time from Ctrl-Z to +CMGS


@dataclass
class Rig:
    url: str
    session: aiohttp.ClientSession
    store: Store
    bank: Bank
    feeder: Feeder
    runner: CampaignRunner
    apikey: str
    key_id: int
    record: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.apikey}"}

    async def post(self, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """POST with the key; the answer is checked against api/openapi.yaml."""
        kwargs.setdefault("headers", self.auth)
        async with self.session.post(self.url + path, **kwargs) as r:
            answer = await r.json()
        SPEC.check(_route(path), "post", r.status, "application/json", answer)
        return r.status, answer

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        async with self.session.get(self.url + path, headers=self.auth) as r:
            answer = await r.json()
        SPEC.check(_route(path), "get", r.status, "application/json", answer)
        return r.status, answer

    def sent_numbers(self) -> list[str]:
        """What the emulated network accepted, in order."""
        return [m.to for m in SendRecorder.read(self.record)]

    async def campaign_until(self, campaign_id: str, *states: str, timeout: float = 60) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                _, shown = await self.get(f"/api/v1/campaigns/{campaign_id}")
                if shown["campaign"]["state"] in states:
                    return shown["campaign"]
                await asyncio.sleep(0.05)


def _route(path: str) -> str:
    """``/api/v1/campaigns/cmp_1/start?x`` -> ``/api/v1/campaigns/{campaign_id}/start``."""
    parts = path.split("?")[0].split("/")
    if len(parts) > 4 and parts[3] == "campaigns":
        parts[4] = "{campaign_id}"
    if len(parts) > 4 and parts[3] == "jobs":
        parts[4] = "{job_id}"
    return "/".join(parts)


@pytest.fixture
async def rig(store: Store, tmp_path: Path) -> AsyncIterator[Rig]:
    record = tmp_path / "network.jsonl"
    emulators = EmulatedBank.create(
        MODEMS,
        seed=16,
        record=record,
        profile_overrides={"send_latency_s": (SEND_S, SEND_S), "report_delay_s": 0.01},
    )
    await emulators.start()
    bank = Bank(store)
    await bank.start()
    feeder = Feeder(store, bank)
    runner = CampaignRunner(store, feeder)
    tasks = [
        asyncio.create_task(feeder.run(), name="feeder"),
        asyncio.create_task(runner.run(), name="campaign progress"),
    ]

    def factory(port: str) -> Any:
        return registry.factory(registry.SerialModem(port, PIN, timeouts=FAST))

    for modem in emulators.modems:
        assert await bank.attach(factory(modem.port)) is not None
    key, secret = await store.write(
        keys.create_key, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None
    )
    web_runner, port = await start_site(create_app(store, bank, runner=runner), "127.0.0.1", 0)
    session = aiohttp.ClientSession()
    try:
        yield Rig(
            f"http://127.0.0.1:{port}",
            session,
            store,
            bank,
            feeder,
            runner,
            secret,
            key.key_id,
            record,
        )
    finally:
        await session.close()
        await web_runner.cleanup()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, runner.close(), return_exceptions=True)
        await bank.close()
        await emulators.close()
