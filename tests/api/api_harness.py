"""The API under test (real socket on 127.0.0.1, real store) and its keys; a snapshot of the
whole database proves that a refused request wrote nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from builders import dump

from modemd.runtime.bank import Bank
from modemd.store import jobs
from modemd.store.db import Store

PIN = "4711"
ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # the admin API over TCP needs the token
KEYS: dict[str, dict[str, Any]] = {
    "local": {"allow_ips": ["127.0.0.0/8"]},
    "any": {"over_ip": True},
    "remote": {"allow_ips": ["192.0.2.0/24", "2001:db8::/32"]},
    "web": {"over_ip": True, "cors_origins": ["https://app.example.com", "*.shop.example"]},
    "italy": {"over_ip": True, "default_country": "IT", "allow_premium": True},
    "slow": {"over_ip": True, "rate_limit": 2},
    "other_pin": {"over_ip": True, "pin": "9999"},
}


@dataclass
class Api:
    url: str
    session: aiohttp.ClientSession
    store: Store
    bank: Bank
    keys: dict[str, str]
    key_ids: dict[str, int] = field(default_factory=dict)
    runner: web.AppRunner | None = None  # the API's runner (the admin socket test serves it too)

    async def send(self, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        async with self.session.post(self.url + "/api/v1/send", **kwargs) as r:
            return r.status, await r.json()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        async with self.session.get(self.url + path, **kwargs) as r:
            return r.status, await r.json()

    async def dump(self) -> list[str]:
        """Every row of every table, as SQL: equal before and after means nothing was written."""
        return await self.store.read(dump)

    async def job_count(self) -> int:
        return len(await self.store.read(jobs.list_jobs))

    def ok(self, key: str = "local", **extra: Any) -> dict[str, Any]:
        base = {"apikey": self.keys[key], "pin": PIN, "to": "+39 333 1234567", "msg": "ciao"}
        return {**base, **extra}


MakeApi = Callable[..., Awaitable[Api]]  # the make_api fixture: (ApiConfig | None) -> Api
