"""The admin API (``/admin/v1/...``): keys, wallets and prices, as the CLI does them.

Reachable over the admin Unix socket (its file permissions decide who connects; the peer's
credentials are recorded), or with ``Authorization: Bearer <admin_token>``; never because of the
address a request comes from. Every change is written to the audit log with who made it, in the
same transaction. Never CORS-enabled."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from modemd.api.answers import answer
from modemd.api.auth import STORE, admin_actor, caller_ip
from modemd.api.keyed import json_object
from modemd.api.keyspec import KeySettingsError, check_destination, check_settings
from modemd.store import audit, wallet
from modemd.store import keys as key_rows

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.Response]]
MAX_GRACE_S = 30 * 24 * 3600  # a rotated-out key living longer than a month is a forgotten one
MAX_KEY_ID = 2**63 - 1  # SQLite's INTEGER; a larger id names no key (and must not reach SQLite)
ACTOR: web.RequestKey[str] = web.RequestKey("admin_actor", str)


def _admin_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.Response:
        actor = admin_actor(request)
        if actor is None:
            log.warning(
                "admin %s %s from %s refused", request.method, request.path, caller_ip(request)
            )
            return answer(403, "the admin API answers its Unix socket or the admin token only")
        request[ACTOR] = actor
        try:
            return await handler(request)
        except UnknownKeyError as exc:
            return answer(404, str(exc))
        except (KeySettingsError, ValueError) as exc:
            return answer(400, str(exc))

    return guarded


class UnknownKeyError(LookupError):
    """The path names no key (404)."""


def _key_id(request: web.Request) -> int:
    text = request.match_info["key_id"]
    if not text.isdigit():
        raise ValueError("key_id must be a number")
    key_id = int(text[:25])
    if len(text) > 25 or key_id > MAX_KEY_ID:
        raise UnknownKeyError(f"no key {text[:25]}")
    return key_id


def _audited(request: web.Request, action: str, target: str) -> tuple[Any, ...]:
    """The leading arguments of ``audit.audited`` for this request's admin."""
    return (audit.audited, request[ACTOR], action, target)


async def list_keys(request: web.Request) -> web.Response:
    rows = await request.app[STORE].read(key_rows.list_keys)
    return web.json_response({"response": "200", "keys": rows})


async def create_key(request: web.Request) -> web.Response:
    wanted = check_settings(await json_object(request))
    key, secret = await request.app[STORE].write(
        *_audited(request, "key.create", "key"), key_rows.create_key, **wanted.columns()
    )
    log.info("admin: key %d for pin %s created", key.key_id, key.pin)
    return web.json_response(
        {"response": "201", "key_id": key.key_id, "pin": key.pin, "apikey": secret}, status=201
    )


async def revoke_key(request: web.Request) -> web.Response:
    key_id = _key_id(request)
    revoked = await request.app[STORE].write(
        *_audited(request, "key.revoke", f"key {key_id}"), key_rows.revoke_key, key_id
    )
    if not revoked:
        return answer(404, f"no live key {key_id}")
    log.info("admin: key %d revoked", key_id)
    return web.json_response({"response": "200", "key_id": key_id, "revoked": True})


async def rotate_key(request: web.Request) -> web.Response:
    key_id = _key_id(request)
    grace = (await json_object(request)).get("grace_s", 0)
    number = isinstance(grace, int | float) and not isinstance(grace, bool)
    if not number or not 0 <= grace <= MAX_GRACE_S:
        raise ValueError(f"grace_s must be a number of seconds from 0 to {MAX_GRACE_S}")
    rotated = await request.app[STORE].write(
        *_audited(request, "key.rotate", f"key {key_id}"),
        key_rows.rotate_key,
        key_id,
        float(grace),
    )
    if rotated is None:
        return answer(404, f"no live key {key_id}")
    log.info("admin: key %d rotated (old secret valid %s s more)", key_id, grace)
    return web.json_response({"response": "200", "key_id": key_id, "apikey": rotated[1]})


async def show_wallet(request: web.Request) -> web.Response:
    key_id = _key_id(request)
    store = request.app[STORE]
    if not await store.read(key_rows.key_exists, key_id):
        raise UnknownKeyError(f"no key {key_id}")
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
    data = await json_object(request)
    amount = wallet.parse_amount(data.get("amount", ""))
    store = request.app[STORE]
    if await store.read(key_rows.get_key, key_id) is None:
        return answer(404, f"no live key {key_id}")
    note = str(data.get("note") or "")[:200]
    await store.write(
        *_audited(request, "wallet.topup", f"key {key_id}"), wallet.topup, key_id, amount, note
    )
    log.info("admin: key %d topped up by %s", key_id, wallet.format_amount(amount))
    return await show_wallet(request)


async def list_prices(request: web.Request) -> web.Response:
    rows = await request.app[STORE].read(wallet.list_prices)
    prices = [{**r, "per_part": wallet.format_amount(r["per_part"])} for r in rows]
    return web.json_response({"response": "200", "prices": prices})


async def set_price(request: web.Request) -> web.Response:
    data = await json_object(request)
    destination = check_destination(str(data.get("destination", "")))
    per_part = wallet.parse_amount(data.get("per_part", ""))
    await request.app[STORE].write(
        *_audited(request, "price.set", destination), wallet.set_price, destination, per_part
    )
    return await list_prices(request)


async def list_audit(request: web.Request) -> web.Response:
    """GET /admin/v1/audit?since=&limit=: who did what, newest first."""
    try:
        since = float(request.query.get("since", "0"))
        limit = int(request.query.get("limit", "100"))
    except ValueError as exc:
        raise ValueError("since must be Unix seconds and limit a number") from exc
    if not 1 <= limit <= 1000 or not 0 <= since < 1e11:
        raise ValueError("limit must be 1-1000 and since Unix seconds")
    rows = await request.app[STORE].read(audit.list_audit, since=since, limit=limit)
    return web.json_response({"response": "200", "audit": rows})


def add_routes(app: web.Application) -> None:
    """Register the admin routes (each checks ``admin_actor`` first)."""
    routes = [
        ("GET", "/admin/v1/keys", list_keys),
        ("POST", "/admin/v1/keys", create_key),
        ("POST", "/admin/v1/keys/{key_id}/revoke", revoke_key),
        ("POST", "/admin/v1/keys/{key_id}/rotate", rotate_key),
        ("GET", "/admin/v1/keys/{key_id}/wallet", show_wallet),
        ("POST", "/admin/v1/keys/{key_id}/topup", topup),
        ("GET", "/admin/v1/prices", list_prices),
        ("POST", "/admin/v1/prices", set_price),
        ("GET", "/admin/v1/audit", list_audit),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _admin_only(handler))
