"""The HTTP API (aiohttp): the send endpoint of the GenioApi contract, jobs, devices, balance."""

from __future__ import annotations

import json
import logging
import math
import ssl
from collections.abc import Callable
from typing import Any

import sqlite_utils
from aiohttp import web

from modemd.api import admin, console, conversations, docs, health, ipn_routes, phone_hooks
from modemd.api.auth import (
    CONFIG,
    STORE,
    ApiConfig,
    RateLimitedError,
    authenticate,
    caller_ip,
)
from modemd.api.contract import (
    PAYLOAD_TOO_LARGE,
    RATE_LIMITED,
    STORE_ERROR,
    OtherAnswer,
    StatusCode,
    body,
    other_body,
)
from modemd.api.cors import cors_headers
from modemd.api.validation import RequestError, SendRequest, parse_send
from modemd.errors import StoreError
from modemd.model import ApiKey, Job, Pacing
from modemd.observe.metrics import Metrics
from modemd.runtime.bank import Bank
from modemd.sms.encoding import split_message
from modemd.store import devices as device_rows
from modemd.store import jobs as job_rows
from modemd.store import wallet
from modemd.store.db import Store

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # a send is < 8 KB even as UCS-2 form data; larger is abuse or a bug
BANK: web.AppKey[Bank] = web.AppKey("bank", Bank)


def _answer(code: StatusCode, message: str, **extra: Any) -> web.Response:
    payload = body(code, message=message, **extra)
    return web.json_response(payload, status=int(payload["response"]))


def _other(
    answer: OtherAnswer, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(other_body(answer, message), status=answer.http, headers=headers)


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {
            "response": str(status),
            "status_code": str(StatusCode.PARAM_ERROR.value),
            "status": "param_error",
            "message": message,
        },
        status=status,
    )


@web.middleware
async def errors_as_json(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every failure answers JSON with ``response`` and ``status_code``; the log has the why."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        log.info(
            "%s %s from %s: HTTP %d %s",
            request.method,
            request.path,
            request.remote,
            exc.status,
            exc.reason,
        )
        if exc.status == PAYLOAD_TOO_LARGE.http:
            return _other(PAYLOAD_TOO_LARGE, f"the body is over {MAX_BODY_BYTES} bytes")
        return _error(exc.status, exc.reason)
    except RateLimitedError as exc:
        log.info(
            "%s %s from %s: rate limited: %s", request.method, request.path, request.remote, exc
        )
        retry_after = str(max(1, math.ceil(exc.retry_after_s)))
        return _other(
            RATE_LIMITED, f"{exc}; retry in {retry_after} s", {"Retry-After": retry_after}
        )
    except StoreError as exc:
        log.error("%s %s: store failed: %s", request.method, request.path, exc)
        return _other(STORE_ERROR, "the job store cannot write right now; nothing was accepted")


async def _fields(request: web.Request) -> dict[str, Any]:
    """The request's fields: JSON object, or form (urlencoded / multipart), or query string."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, request.content_length or 0)
    if request.content_type == "application/json":
        raw = await request.read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            # ValueError also covers integers too long to convert; RecursionError deep nesting
            raise RequestError(StatusCode.PARAM_ERROR, f"malformed JSON: {exc}"[:200]) from exc
        if not isinstance(data, dict):
            raise RequestError(StatusCode.PARAM_ERROR, "the JSON body must be an object")
        return data
    if request.method == "POST" and request.can_read_body:
        try:
            return dict(await request.post())
        except (UnicodeDecodeError, ValueError) as exc:
            raise RequestError(StatusCode.PARAM_ERROR, f"malformed form: {exc}"[:200]) from exc
    return dict(request.query)


def _accept(
    db: sqlite_utils.Database, key: ApiKey, wanted: SendRequest, pin: str
) -> tuple[Job, int | None]:
    """Insert the job and reserve its cost in one transaction (no credit: neither happens)."""
    split = split_message(wanted.msg)
    job = job_rows.insert_job(
        db,
        key_id=key.key_id,
        pin=pin,
        to=wanted.to,
        message=wanted.msg,
        parts=split.count,
        encoding=split.encoding.value,
        id_device=wanted.id_device,
    )
    return job, wallet.reserve(db, job, wanted.country)


async def send(request: web.Request) -> web.Response:
    """POST /api/v1/send: accept a job durably and offer it to the pool."""
    try:
        fields = await _fields(request)
        key, ok_code = await authenticate(request, fields)
        wanted = parse_send(fields, key.default_country)
        pin = wanted.pin or key.pin
        if pin != key.pin:
            raise RequestError(StatusCode.API_KEY_ERROR, f"this apikey is not valid for pin {pin}")
        bank = request.app[BANK]
        if wanted.id_device is not None and not bank.has_device(pin, wanted.id_device):
            raise RequestError(
                StatusCode.TOKEN_OR_ID_DEVICE_ERROR,
                f"device {wanted.id_device} is not in the pool of pin {pin}",
            )
        job, cost = await request.app[STORE].write(_accept, key, wanted, pin)
    except RequestError as exc:
        log.info("send from %s refused: %s (%s)", caller_ip(request), exc.message, exc.code.name)
        return _answer(exc.code, exc.message)
    except wallet.InsufficientCreditError as exc:
        log.info("send from %s refused: %s (BALANCE_ERROR)", caller_ip(request), exc)
        return _answer(StatusCode.BALANCE_ERROR, f"insufficient credit: {exc}")
    offers = bank.submit(job)
    return _answer(
        ok_code,
        "accepted: handed to the pool; the IPN reports sent and delivered",
        job_id=job.job_id,
        to=job.to,
        length=len(job.message),
        parts=job.parts,
        encoding=job.encoding,
        **({"cost": wallet.format_amount(cost)} if cost is not None else {}),
        records=[
            {"device_id": o.device_id, "pin": o.pin, "kind": o.kind, "state": "offered"}
            for o in offers
        ],
    )


async def _key_of(request: web.Request) -> ApiKey | web.Response:
    """The key of a GET route (``?apikey=`` or Bearer), or the answer refusing it."""
    try:
        key, _ = await authenticate(request, dict(request.query))
    except RequestError as exc:
        log.info("%s from %s refused: %s", request.path, caller_ip(request), exc.message)
        return _answer(exc.code, exc.message)
    return key


async def get_job(request: web.Request) -> web.Response:
    """GET /api/v1/jobs/{job_id}: state, device, parts, timestamps (own jobs only)."""
    key = await _key_of(request)
    if isinstance(key, web.Response):
        return key
    detail = await request.app[STORE].read(job_rows.get_job_detail, request.match_info["job_id"])
    if detail is None or detail["pin"] != key.pin:
        return web.json_response({"response": "404", "message": "no such job"}, status=404)
    return web.json_response({"response": "200", "job": detail})


async def list_devices(request: web.Request) -> web.Response:
    """GET /api/v1/devices: the devices of the key's pool."""
    key = await _key_of(request)
    if isinstance(key, web.Response):
        return key
    rows = await request.app[STORE].read(device_rows.list_devices)
    return web.json_response(
        {"response": "200", "devices": [r for r in rows if r["pin"] == key.pin]}
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
    pacing: Callable[[str], Pacing] | None = None,
) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[cors_headers, errors_as_json]
    )
    app[STORE] = store
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
    health.add_routes(app, metrics or Metrics(), metrics_token)  # issue 17: health, /metrics
    console.add_routes(app, pacing)  # issue 17: the operator console (HTML) at /console/
    conversations.add_routes(app, _key_of, bank)  # issue 15: lists, opt-outs, rules, surveys
    return app


async def start_site(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: any free port; HTTPS with ``ssl_context``); return
    the runner and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    server = site._server
    bound = server.sockets[0].getsockname()[1] if server is not None else port  # type: ignore[attr-defined]
    return runner, int(bound)
