"""The admin API (``/admin/v1/...``): keys, wallets and prices, as the CLI does them.

Reachable from a loopback peer that relays nobody (no X-Forwarded-For), or from anywhere with
``Authorization: Bearer <admin_token>``. Never CORS-enabled."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from modemd.api.answers import answer
from modemd.api.auth import STORE, caller_ip, is_admin
from modemd.api.keyspec import KeySettingsError, check_destination, check_settings
from modemd.store import keys as key_rows
from modemd.store import wallet

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.Response]]
MAX_GRACE_S = 30 * 24 * 3600  # a rotated-out key living longer than a month is a forgotten one


def _admin_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.Response:
        if not is_admin(request):
            log.warning(
                "admin %s %s from %s refused", request.method, request.path, caller_ip(request)
            )
            return answer(403, "the admin API answers localhost or the admin token only")
        try:
            return await handler(request)
        except (KeySettingsError, ValueError) as exc:
            return answer(400, str(exc))

    return guarded


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads((await request.read()).decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError("the body must be a JSON object") from exc
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _key_id(request: web.Request) -> int:
    try:
        return int(request.match_info["key_id"])
    except ValueError as exc:
        raise ValueError("key_id must be a number") from exc


async def list_keys(request: web.Request) -> web.Response:
    rows = await request.app[STORE].read(key_rows.list_keys)
    return web.json_response({"response": "200", "keys": rows})


async def create_key(request: web.Request) -> web.Response:
    wanted = check_settings(await _json(request))
    key, secret = await request.app[STORE].write(key_rows.create_key, **wanted.columns())
    log.info("admin: key %d for pin %s created", key.key_id, key.pin)
    return web.json_response(
        {"response": "201", "key_id": key.key_id, "pin": key.pin, "apikey": secret}, status=201
    )


async def revoke_key(request: web.Request) -> web.Response:
    key_id = _key_id(request)
    if not await request.app[STORE].write(key_rows.revoke_key, key_id):
        return answer(404, f"no live key {key_id}")
    log.info("admin: key %d revoked", key_id)
    return web.json_response({"response": "200", "key_id": key_id, "revoked": True})


async def rotate_key(request: web.Request) -> web.Response:
    key_id = _key_id(request)
    grace = (await _json(request)).get("grace_s", 0)
    number = isinstance(grace, int | float) and not isinstance(grace, bool)
    if not number or not 0 <= grace <= MAX_GRACE_S:
        raise ValueError(f"grace_s must be a number of seconds from 0 to {MAX_GRACE_S}")
    rotated = await request.app[STORE].write(key_rows.rotate_key, key_id, float(grace))
    if rotated is None:
        return answer(404, f"no live key {key_id}")
    log.info("admin: key %d rotated (old secret valid %s s more)", key_id, grace)
    return web.json_response({"response": "200", "key_id": key_id, "apikey": rotated[1]})


async def show_wallet(request: web.Request) -> web.Response:
    key_id = _key_id(request)
    store = request.app[STORE]
    found = await store.read(wallet.balance, key_id)
    rows = await store.read(wallet.ledger_rows, key_id)
    return web.json_response(
        {
            "response": "200",
            "key_id": key_id,
            "enabled": found.enabled,
            "balance": wallet.format_amount(found.available),
            "reserved": wallet.format_amount(found.reserved),
            "spent": wallet.format_amount(found.spent),
            "ledger": [{**r, "amount": wallet.format_amount(r["amount"])} for r in rows],
        }
    )


async def topup(request: web.Request) -> web.Response:
    key_id = _key_id(request)
    data = await _json(request)
    amount = wallet.parse_amount(data.get("amount", ""))
    store = request.app[STORE]
    if await store.read(key_rows.get_key, key_id) is None:
        return answer(404, f"no live key {key_id}")
    await store.write(wallet.topup, key_id, amount, str(data.get("note") or "")[:200])
    log.info("admin: key %d topped up by %s", key_id, wallet.format_amount(amount))
    return await show_wallet(request)


async def list_prices(request: web.Request) -> web.Response:
    rows = await request.app[STORE].read(wallet.list_prices)
    prices = [{**r, "per_part": wallet.format_amount(r["per_part"])} for r in rows]
    return web.json_response({"response": "200", "prices": prices})


async def set_price(request: web.Request) -> web.Response:
    data = await _json(request)
    destination = check_destination(str(data.get("destination", "")))
    per_part = wallet.parse_amount(data.get("per_part", ""))
    await request.app[STORE].write(wallet.set_price, destination, per_part)
    return await list_prices(request)


def add_routes(app: web.Application) -> None:
    """Register the admin routes (each checks ``is_admin`` first)."""
    routes = [
        ("GET", "/admin/v1/keys", list_keys),
        ("POST", "/admin/v1/keys", create_key),
        ("POST", "/admin/v1/keys/{key_id}/revoke", revoke_key),
        ("POST", "/admin/v1/keys/{key_id}/rotate", rotate_key),
        ("GET", "/admin/v1/keys/{key_id}/wallet", show_wallet),
        ("POST", "/admin/v1/keys/{key_id}/topup", topup),
        ("GET", "/admin/v1/prices", list_prices),
        ("POST", "/admin/v1/prices", set_price),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _admin_only(handler))
