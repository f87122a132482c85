"""The HTTP API (aiohttp): the send endpoint of the GenioApi contract, jobs, devices."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from modemd.api import ipn_routes
from modemd.api.contract import StatusCode, body
from modemd.api.validation import RequestError, ip_allowed, parse_send, read_apikey
from modemd.errors import StoreError
from modemd.model import ApiKey
from modemd.runtime.bank import Bank
from modemd.sms.encoding import split_message
from modemd.store import devices as device_rows
from modemd.store import jobs as job_rows
from modemd.store import keys as key_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # a send is < 8 KB even as UCS-2 form data; larger is abuse or a bug
STORE: web.AppKey[Store] = web.AppKey("store", Store)
BANK: web.AppKey[Bank] = web.AppKey("bank", Bank)


def _answer(code: StatusCode, message: str, **extra: Any) -> web.Response:
    payload = body(code, message=message, **extra)
    return web.json_response(payload, status=int(payload["response"]))


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
        return _error(exc.status, exc.reason)
    except StoreError as exc:
        log.error("%s %s: store failed: %s", request.method, request.path, exc)
        return web.json_response(
            {
                "response": "503",
                "status_code": "",
                "status": "store_error",
                "message": "the job store cannot write right now; nothing was accepted",
            },
            status=503,
        )


async def _fields(request: web.Request) -> dict[str, Any]:
    """The request's fields: JSON object, or form (urlencoded / multipart), or query string."""
    if request.content_type == "application/json":
        raw = await request.read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestError(StatusCode.PARAM_ERROR, f"malformed JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise RequestError(StatusCode.PARAM_ERROR, "the JSON body must be an object")
        return data
    if request.method == "POST" and request.can_read_body:
        try:
            return dict(await request.post())
        except UnicodeDecodeError as exc:
            raise RequestError(StatusCode.PARAM_ERROR, f"malformed form: {exc}") from exc
    return dict(request.query)


async def _authenticate(request: web.Request, fields: dict[str, Any]) -> tuple[ApiKey, StatusCode]:
    secret = read_apikey(fields, request.headers.get("Authorization"))
    key = await request.app[STORE].read(key_rows.find_key, secret)
    if key is None:
        raise RequestError(StatusCode.API_KEY_ERROR, "unknown or revoked apikey")
    peer = request.remote or ""
    if key.over_ip:
        return key, StatusCode.OK_OVER_IP
    if ip_allowed(peer, key.allow_ips):
        return key, StatusCode.OK_IP
    raise RequestError(StatusCode.UNAUTHORIZED_IP, f"IP {peer} is not allowed for this apikey")


async def send(request: web.Request) -> web.Response:
    """POST /api/v1/send: accept a job durably and offer it to the pool."""
    try:
        fields = await _fields(request)
        key, ok_code = await _authenticate(request, fields)
        wanted = parse_send(fields)
        pin = wanted.pin or key.pin
        if pin != key.pin:
            raise RequestError(StatusCode.API_KEY_ERROR, f"this apikey is not valid for pin {pin}")
        bank = request.app[BANK]
        if wanted.id_device is not None and not bank.has_device(pin, wanted.id_device):
            raise RequestError(
                StatusCode.TOKEN_OR_ID_DEVICE_ERROR,
                f"device {wanted.id_device} is not in the pool of pin {pin}",
            )
    except RequestError as exc:
        log.info("send from %s refused: %s (%s)", request.remote, exc.message, exc.code.name)
        return _answer(exc.code, exc.message)
    split = split_message(wanted.msg)
    job = await request.app[STORE].write(
        job_rows.insert_job,
        key_id=key.key_id,
        pin=pin,
        to=wanted.to,
        message=wanted.msg,
        parts=split.count,
        encoding=split.encoding.value,
        id_device=wanted.id_device,
    )
    offers = bank.submit(job)
    return _answer(
        ok_code,
        "accepted: handed to the pool; the IPN reports sent and delivered",
        job_id=job.job_id,
        parts=split.count,
        encoding=split.encoding.value,
        records=[
            {"device_id": o.device_id, "pin": o.pin, "kind": o.kind, "state": "offered"}
            for o in offers
        ],
    )


async def _key_of(request: web.Request) -> ApiKey | web.Response:
    try:
        key, _ = await _authenticate(request, dict(request.query))
    except RequestError as exc:
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


def create_app(store: Store, bank: Bank) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[errors_as_json])
    app[STORE] = store
    app[BANK] = bank
    app.router.add_post("/api/v1/send", send)
    app.router.add_get("/api/v1/jobs/{job_id}", get_job)
    app.router.add_get("/api/v1/devices", list_devices)
    ipn_routes.add_routes(app, store, bank, _key_of)  # issue 5: dead letters, replay, retry
    return app


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: any free port); return the runner and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    bound = server.sockets[0].getsockname()[1] if server is not None else port  # type: ignore[attr-defined]
    return runner, int(bound)
