"""Opt-outs of the key's pool (``/api/v1/optouts``): list, look up, opt out, opt back in."""

from __future__ import annotations

import logging

from aiohttp import web

from modemd.api.auth import STORE
from modemd.api.keyed import (
    Authenticate,
    KeyedHandler,
    add_keyed_routes,
    csv_number,
    json_object,
    number_of,
    page_args,
    text_field,
    upload,
)
from modemd.conversations.members_csv import parse_members
from modemd.model import ApiKey
from modemd.store import optouts

log = logging.getLogger(__name__)


async def list_optouts(request: web.Request, key: ApiKey) -> web.StreamResponse:
    cursor, limit = page_args(request)
    items, next_cursor = await request.app[STORE].read(
        optouts.list_opted_out, key.pin, cursor, limit
    )
    return web.json_response({"response": "200", "optouts": items, "next_cursor": next_cursor})


async def get_optout(request: web.Request, key: ApiKey) -> web.StreamResponse:
    number = number_of(key, request.match_info["number"])
    changes = await request.app[STORE].read(optouts.history, key.pin, number)
    opted_out = bool(changes and changes[-1]["opted_out"])
    return web.json_response(
        {"response": "200", "number": number, "opted_out": opted_out, "changes": changes}
    )


async def opt_out(request: web.Request, key: ApiKey) -> web.StreamResponse:
    """``{"number", "note"?}``: no send of the pool reaches it (but transactional keys')."""
    data = await json_object(request)
    number = number_of(key, data.get("number"))
    note = text_field(data, "note")
    changed = await request.app[STORE].write(
        optouts.set_opt_out, key.pin, number, True, source="api", message=note
    )
    log.info("key %d: %s opted out of pool %s (changed: %s)", key.key_id, number, key.pin, changed)
    return web.json_response(
        {"response": "200", "number": number, "opted_out": True, "changed": changed}
    )


async def opt_in(request: web.Request, key: ApiKey) -> web.StreamResponse:
    number = number_of(key, request.match_info["number"])
    changed = await request.app[STORE].write(
        optouts.set_opt_out, key.pin, number, False, source="api"
    )
    log.info(
        "key %d: %s opted back in to pool %s (changed: %s)", key.key_id, number, key.pin, changed
    )
    return web.json_response(
        {"response": "200", "number": number, "opted_out": False, "changed": changed}
    )


async def import_optouts(request: web.Request, key: ApiKey) -> web.StreamResponse:
    """A CSV file with a number column (another system's opt-outs): all or none."""
    numbers = [m.number for m in parse_members(await upload(request), csv_number(key))]
    counts = await request.app[STORE].write(optouts.import_opt_outs, key.pin, numbers)
    log.info("key %d: opt-outs imported into pool %s: %s", key.key_id, key.pin, counts)
    return web.json_response({"response": "200", **counts})


def add_routes(app: web.Application, authenticate: Authenticate) -> None:
    routes: list[tuple[str, str, KeyedHandler]] = [
        ("GET", "/api/v1/optouts", list_optouts),
        ("POST", "/api/v1/optouts", opt_out),
        ("POST", "/api/v1/optouts/import", import_optouts),
        ("GET", "/api/v1/optouts/{number}", get_optout),
        ("DELETE", "/api/v1/optouts/{number}", opt_in),
    ]
    add_keyed_routes(app, authenticate, routes)
