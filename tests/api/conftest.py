"""Fixtures: ``make_api`` builds the API with the harness's keys; ``api`` is the default one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from api_harness import ADMIN_TOKEN, KEYS, PIN, Api, MakeApi

from modemd.api.app import create_app, start_site
from modemd.api.auth import ApiConfig, api_config
from modemd.runtime.bank import Bank
from modemd.store import keys
from modemd.store.db import Store


@pytest.fixture
async def make_api(store: Store) -> AsyncIterator[MakeApi]:
    """Build the API (optionally with a config); everything is closed after the test."""
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def build(config: ApiConfig | None = None, **app_options: Any) -> Api:
        bank = Bank(store)
        await bank.start()
        cleanups.append(bank.close)
        made, ids = {}, {}
        for name, settings in KEYS.items():
            wanted = {"pin": PIN, "allow_ips": [], "over_ip": False, "ipn_url": None, **settings}
            key, secret = await store.write(lambda db, w=wanted: keys.create_key(db, **w))
            made[name], ids[name] = secret, key.key_id
        config = config or api_config(admin_token=ADMIN_TOKEN)
        app = create_app(store, bank, config, **app_options)
        runner, port = await start_site(app, "127.0.0.1", 0)
        cleanups.append(runner.cleanup)
        session = aiohttp.ClientSession()
        cleanups.append(session.close)
        return Api(f"http://127.0.0.1:{port}", session, store, bank, made, ids, runner)

    yield build
    for cleanup in reversed(cleanups):
        await cleanup()


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()
