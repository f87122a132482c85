"""``/healthz`` (the process and its loop answer), ``/readyz`` (the store can write; per pool
with ``?pin=``) and ``/metrics`` (Prometheus text, Bearer admin or metrics token). Health
answers without a key and reveals nothing secret."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from modemd.api.auth import CONFIG, STORE
from modemd.errors import StoreError
from modemd.observe.metrics import CONTENT_TYPE, UP_STATES, Metrics
from modemd.store import stats

__all__ = ["METRICS", "ReadyCheck", "add_routes"]

log = logging.getLogger(__name__)

METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
PROBE_TIMEOUT_S = 2.0  # the store thread answers a probe in ms; seconds means it is stuck
PROBE_CACHE_S = 1.0  # probes of several balancers within a second share one write (one fsync)


@dataclass
class ReadyCheck:
    """The last write probe's outcome, shared by the probes of one second."""

    at: float = float("-inf")
    error: str | None = None


READY: web.AppKey[ReadyCheck] = web.AppKey("ready_check", ReadyCheck)
METRICS_TOKEN: web.AppKey[str | None] = web.AppKey("metrics_token", str)


def _bearer(request: web.Request) -> str | None:
    given = request.headers.get("Authorization", "")
    return given[7:].strip() if given.lower().startswith("bearer ") else None


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: the event loop runs (a stuck loop cannot answer at all)."""
    started = request.app[METRICS].started_at
    return web.json_response({"status": "ok", "uptime_s": round(time.time() - started, 1)})


async def _store_error(request: web.Request) -> str | None:
    check = request.app[READY]
    if time.monotonic() - check.at < PROBE_CACHE_S:
        return check.error
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await request.app[STORE].write(stats.probe_write)
        error = None
    except TimeoutError:
        error = f"the store did not answer within {PROBE_TIMEOUT_S:.0f} s"
    except StoreError as exc:
        error = f"the store cannot write: {exc}"
    if error != check.error:
        if error:
            log.error("not ready: %s", error)
        else:
            log.info("ready again: the store writes")
    check.at, check.error = time.monotonic(), error
    return error


async def readyz(request: web.Request) -> web.Response:
    """GET /readyz: 200 when the store writes (jobs can be accepted), else 503 and why.
    ``?pin=P``: 503 also when pool P has no ready device (its jobs would only queue)."""
    error = await _store_error(request)
    snap = await request.app[METRICS].refresh(request.app[STORE]) if error is None else None
    pools: dict[str, dict[str, int]] = {}
    if snap is not None:
        for device in snap.devices:
            pool = pools.setdefault(device.pin, {"ready_devices": 0, "devices": 0})
            pool["devices"] += 1
            pool["ready_devices"] += device.state in UP_STATES
        for pin, queued in snap.queued.items():
            pools.setdefault(pin, {"ready_devices": 0, "devices": 0})["queued"] = queued
    reasons = [error] if error else []
    wanted = request.query.get("pin")
    if wanted is not None and error is None and not pools.get(wanted, {}).get("ready_devices"):
        reasons.append(f"pool {wanted[:64]} has no ready device")
    status = 503 if reasons else 200
    body = {"status": "ready" if status == 200 else "not ready", "reasons": reasons}
    return web.json_response({**body, "pools": pools}, status=status)


async def metrics_page(request: web.Request) -> web.Response:
    """GET /metrics: Prometheus text format, for the admin token or ``server.metrics_token``."""
    token = _bearer(request)
    wanted = [t for t in (request.app[CONFIG].admin_token, request.app[METRICS_TOKEN]) if t]
    if token is None or not any(hmac.compare_digest(token.encode(), t.encode()) for t in wanted):
        log.info("/metrics from %s refused: no valid Bearer token", request.remote)
        return web.json_response(
            {"response": "401", "message": "Authorization: Bearer <metrics or admin token>"},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry = request.app[METRICS]
    await registry.refresh(request.app[STORE])
    return web.Response(body=registry.render(), headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application, metrics: Metrics, metrics_token: str | None) -> None:
    """Register the health and metrics routes; counting starts when the app starts."""
    app[METRICS] = metrics
    app[METRICS_TOKEN] = metrics_token or None
    app[READY] = ReadyCheck()

    async def start_counting(app: web.Application) -> None:
        await metrics.start(app[STORE])

    app.on_startup.append(start_counting)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
