"""Keyword rules of the key's pool (``/api/v1/rules``): the autoresponder."""

from __future__ import annotations

import logging

from aiohttp import web

from modemd.api.auth import STORE
from modemd.api.keyed import Authenticate, KeyedHandler, add_keyed_routes, json_object
from modemd.conversations.specs import check_rule
from modemd.model import ApiKey
from modemd.store import rules
from modemd.store.contacts import DIGITS, NotFoundError

log = logging.getLogger(__name__)


def _rule_id(request: web.Request) -> int:
    text = request.match_info["rule_id"]
    if not DIGITS.fullmatch(text):
        raise NotFoundError(f"no rule {text[:20]!r}")
    return int(text)


async def list_rules(request: web.Request, key: ApiKey) -> web.StreamResponse:
    rows = await request.app[STORE].read(rules.list_rules, key.pin)
    return web.json_response({"response": "200", "rules": rows})


async def create_rule(request: web.Request, key: ApiKey) -> web.StreamResponse:
    spec = check_rule(await json_object(request))
    row = await request.app[STORE].write(rules.create_rule, key.pin, spec)
    log.info("key %d: %s rule %d in pool %s", key.key_id, spec.kind, row["rule_id"], key.pin)
    return web.json_response({"response": "201", "rule": row}, status=201)


async def get_rule(request: web.Request, key: ApiKey) -> web.StreamResponse:
    row = await request.app[STORE].read(rules.get_rule, key.pin, _rule_id(request))
    return web.json_response({"response": "200", "rule": row})


async def replace_rule(request: web.Request, key: ApiKey) -> web.StreamResponse:
    rule_id = _rule_id(request)
    spec = check_rule(await json_object(request))
    row = await request.app[STORE].write(rules.replace_rule, key.pin, rule_id, spec)
    return web.json_response({"response": "200", "rule": row})


async def delete_rule(request: web.Request, key: ApiKey) -> web.StreamResponse:
    rule_id = _rule_id(request)
    await request.app[STORE].write(rules.delete_rule, key.pin, rule_id)
    return web.json_response({"response": "200", "rule_id": rule_id, "deleted": True})


def add_routes(app: web.Application, authenticate: Authenticate) -> None:
    routes: list[tuple[str, str, KeyedHandler]] = [
        ("GET", "/api/v1/rules", list_rules),
        ("POST", "/api/v1/rules", create_rule),
        ("GET", "/api/v1/rules/{rule_id}", get_rule),
        ("PUT", "/api/v1/rules/{rule_id}", replace_rule),
        ("DELETE", "/api/v1/rules/{rule_id}", delete_rule),
    ]
    add_keyed_routes(app, authenticate, routes)
