"""The HTTP API (aiohttp): the send endpoint of the GenioApi contract, jobs, devices, balance."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web

from modemd import caps
from modemd.api import (
    admin,
    campaigns,
    console,
    conversations,
    docs,
    health,
    inbox,
    ipn_routes,
    phone_hooks,
    schedules,
    simulator,
)
from modemd.api.answers import answer
from modemd.api.auth import (
    CONFIG,
    KEYS,
    STORE,
    ApiConfig,
    authenticate,
    caller_ip,
)
from modemd.api.cors import cors_headers
from modemd.api.failures import failure_answer
from modemd.api.fastsend import FastSends
from modemd.api.guard import GuardedSite, Limits
from modemd.api.send import BANK, MAX_BODY_BYTES, send
from modemd.api.validation import RequestError
from modemd.model import ApiKey, Pacing
from modemd.observe.metrics import Metrics
from modemd.runtime.alarm import Alarm
from modemd.runtime.bank import Bank
from modemd.runtime.campaigns import CampaignRunner
from modemd.runtime.feeder import Feeder
from modemd.store import Store, wallet
from modemd.store import devices as device_rows
from modemd.store import jobs as job_rows
from modemd.store import keys as key_rows
from modemd.store import pacing as pacing_rows

log = logging.getLogger(__name__)


@web.middleware
async def errors_as_json(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every failure answers JSON with ``response`` and ``status_code``; the log has the why."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return failure_answer(request, exc)
    except Exception as exc:
        return failure_answer(request, exc)


async def _key_of(request: web.Request) -> ApiKey | web.Response:
    """The key of a GET route (``?apikey=`` or Bearer), or the answer refusing it."""
    try:
        key, _ = await authenticate(request, dict(request.query))
    except RequestError as exc:
        log.info("%s from %s refused: %s", request.path, caller_ip(request), exc.message)
        return answer(exc.code, exc.message)
    return key


async def get_job(request: web.Request) -> web.Response:
    """GET /api/v1/jobs/{job_id}: state, device, parts, timestamps (own jobs only)."""
    key = await _key_of(request)
    if isinstance(key, web.Response):
        return key
    detail = await request.app[STORE].read(job_rows.get_job_detail, request.match_info["job_id"])
    if detail is None or detail["pin"] != key.pin:
        return answer(404, "no such job")
    return web.json_response({"response": "200", "job": detail})


async def list_devices(request: web.Request) -> web.Response:
    """GET /api/v1/devices: the devices of the key's pool."""
    key = await _key_of(request)
    if isinstance(key, web.Response):
        return key
    store, policy = request.app[STORE], request.app[CONFIG].caps
    rows = [r for r in await store.read(device_rows.list_devices) if r["pin"] == key.pin]
    window = caps.window()
    usage = await store.read(pacing_rows.device_usage, rows, window)
    accepted = await store.read(pacing_rows.key_usage, key.key_id, window)
    return web.json_response(
        {
            "response": "200",
            "devices": policy.rows(rows, usage, window),
            "key_caps": caps.counts(policy.key(key.pin), accepted, "accepted"),
        }
    )


async def get_balance(request: web.Request) -> web.Response:
    """GET /api/v1/balance: the key's credit (``enabled`` false: sends are not priced)."""
    key = await _key_of(request)
    if isinstance(key, web.Response):
        return key
    found = await request.app[STORE].read(wallet.balance, key.key_id)
    return web.json_response(
        {
            "response": "200",
            "enabled": found.enabled,
            "balance": wallet.format_amount(found.available),
            "reserved": wallet.format_amount(found.reserved),
            "spent": wallet.format_amount(found.spent),
        }
    )


def create_app(
    store: Store,
    bank: Bank,
    config: ApiConfig | None = None,
    *,
    metrics: Metrics | None = None,
    metrics_token: str | None = None,
    pacing: Callable[[str, str], Pacing] | None = None,  # by IMEI and ICCID
    simulated: simulator.EmulatedDevices | None = None,
    runner: CampaignRunner | None = None,
    conversations_alarm: Alarm | None = None,
) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[cors_headers, errors_as_json]
    )
    app[STORE] = store
    app[KEYS] = key_rows.KeyCache(store)
    app[BANK] = bank
    app[CONFIG] = config or ApiConfig()
    app.router.add_post("/api/v1/send", send)
    app.router.add_get("/api/v1/jobs/{job_id}", get_job)
    app.router.add_get("/api/v1/devices", list_devices)
    app.router.add_get("/api/v1/balance", get_balance)
    admin.add_routes(app)  # /admin/v1/...: keys, wallets, prices (localhost or admin token)
    ipn_routes.add_routes(app, store, bank, _key_of)  # issue 5: dead letters, replay, retry
    docs.add_routes(app, _key_of)  # issue 6: /openapi.json, /docs, /api/v1/samples/{lang}
    phone_hooks.add_routes(app, bank)  # issue 10: phone webhooks, hints to poll at once
    inbox.add_routes(app, store, _key_of)  # issue 14: received SMS
    health.add_routes(app, metrics or Metrics(), metrics_token)  # issue 17: health, /metrics
    console.add_routes(app, pacing)  # issue 17: the operator console (HTML) at /console/
    # issue 15: lists, opt-outs, rules, surveys (started ones ring the conversations loop)
    conversations.add_routes(app, _key_of, bank, conversations_alarm)
    # issue 16: campaigns, job cancel; without a runner (tests of other routes) one that is
    # never run: deferred and bulk jobs then wait in the database
    campaigns.add_routes(app, runner or CampaignRunner(store, Feeder(store, bank)), _key_of)
    schedules.add_routes(app, store, _key_of)  # issue 16: each slot makes a campaign
    if simulated is not None:  # only with --simulate: drive the emulated devices
        simulator.add_routes(app, simulated, _key_of)
    return app


async def start_site(
    app: web.Application,
    host: str,
    port: int,
    limits: Limits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    *,
    fast_send: bool = True,
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: any free port; HTTPS with ``ssl_context``), with
    header and body timeouts and a connection cap (``guard``); return the runner and the port.
    An app with the send route answers plain JSON sends in ``fastsend``'s framing unless
    ``fast_send`` is false (then every request is aiohttp's, as before round 6)."""
    limits = limits or Limits()
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=limits.keepalive_timeout_s)
    await runner.setup()
    fast = None
    if fast_send and any(route.handler is send for route in app.router.routes()):
        fast = FastSends(app, limits.keepalive_timeout_s)
    site = GuardedSite(runner, host, port, limits, ssl_context, framing=fast)
    await site.start()
    return runner, site.port
