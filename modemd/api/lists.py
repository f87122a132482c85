"""Contact lists of the key's pool (``/api/v1/lists``): create, rename, delete; members by
JSON or CSV import; pages with a cursor; CSV export."""

from __future__ import annotations

import logging
from typing import Any

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
    wants_csv,
)
from modemd.conversations.members_csv import export_members, parse_members
from modemd.model import ApiKey, Member
from modemd.store import contacts

log = logging.getLogger(__name__)


def _settings(data: dict[str, Any]) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    if "name" in data:
        wanted["name"] = contacts.check_list_name(data["name"])
    if "keyword_join" in data:
        if not isinstance(data["keyword_join"], bool):
            raise ValueError("'keyword_join' must be true or false")
        wanted["keyword_join"] = data["keyword_join"]
    if "welcome_text" in data:
        wanted["welcome_text"] = text_field(data, "welcome_text")
    return wanted


def _member(key: ApiKey, raw: Any) -> contacts.Member:
    if not isinstance(raw, dict):
        raise ValueError("a member is an object with 'number', and 'name' and 'fields' optional")
    name = raw.get("name", "")
    fields = raw.get("fields", {})
    if not isinstance(name, str):
        raise ValueError("'name' must be a string")
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in fields.items()
    ):
        raise ValueError("'fields' must be an object of names to strings")
    return Member(number_of(key, raw.get("number")), name, {k: str(v) for k, v in fields.items()})


async def list_lists(request: web.Request, key: ApiKey) -> web.StreamResponse:
    rows = await request.app[STORE].read(contacts.list_lists, key.pin)
    return web.json_response({"response": "200", "lists": rows})


async def create_list(request: web.Request, key: ApiKey) -> web.StreamResponse:
    wanted = _settings(await json_object(request))
    if "name" not in wanted:
        raise ValueError("'name' is required")
    name = wanted.pop("name")
    row = await request.app[STORE].write(contacts.create_list, key.pin, name, **wanted)
    log.info("key %d: list %r created in pool %s", key.key_id, name, key.pin)
    return web.json_response({"response": "201", "list": row}, status=201)


async def get_list(request: web.Request, key: ApiKey) -> web.StreamResponse:
    ref = request.match_info["list_id"]
    row = await request.app[STORE].read(contacts.get_list, key.pin, ref)
    return web.json_response({"response": "200", "list": row})


async def update_list(request: web.Request, key: ApiKey) -> web.StreamResponse:
    ref = request.match_info["list_id"]
    wanted = _settings(await json_object(request))
    row = await request.app[STORE].write(contacts.update_list, key.pin, ref, wanted)
    return web.json_response({"response": "200", "list": row})


async def delete_list(request: web.Request, key: ApiKey) -> web.StreamResponse:
    ref = request.match_info["list_id"]
    list_id = await request.app[STORE].write(contacts.delete_list, key.pin, ref)
    log.info("key %d: list %d deleted from pool %s", key.key_id, list_id, key.pin)
    return web.json_response({"response": "200", "list_id": list_id, "deleted": True})


async def members(request: web.Request, key: ApiKey) -> web.StreamResponse:
    """A page of members (``cursor``, ``limit``), or all as CSV (``Accept: text/csv``)."""
    ref = request.match_info["list_id"]
    store = request.app[STORE]
    if wants_csv(request):
        rows = await store.read(contacts.all_members, key.pin, ref)
        return web.Response(
            text=export_members(rows),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="list-{ref}.csv"'},
        )
    cursor, limit = page_args(request)
    page, next_cursor = await store.read(contacts.members_page, key.pin, ref, cursor, limit)
    return web.json_response({"response": "200", "members": page, "next_cursor": next_cursor})


async def add_members(request: web.Request, key: ApiKey) -> web.StreamResponse:
    """``{"members": [...]}`` or one member object; all checked before any is stored."""
    data = await json_object(request)
    raw = data.get("members", [data])
    if not isinstance(raw, list) or not raw:
        raise ValueError("'members' must be a non-empty list")
    wanted = [_member(key, m) for m in raw]
    ref = request.match_info["list_id"]
    counts = await request.app[STORE].write(contacts.add_members, key.pin, ref, wanted, "api")
    return web.json_response({"response": "200", **counts})


async def import_members(request: web.Request, key: ApiKey) -> web.StreamResponse:
    """The body is a CSV file; stored whole or, at the first bad line, not at all."""
    wanted = parse_members(await upload(request), csv_number(key))
    ref = request.match_info["list_id"]
    counts = await request.app[STORE].write(contacts.add_members, key.pin, ref, wanted, "import")
    log.info("key %d: %s imported into list %s", key.key_id, counts, ref)
    return web.json_response({"response": "200", **counts})


async def remove_member(request: web.Request, key: ApiKey) -> web.StreamResponse:
    number = number_of(key, request.match_info["number"])
    ref = request.match_info["list_id"]
    await request.app[STORE].write(contacts.remove_member, key.pin, ref, number)
    return web.json_response({"response": "200", "number": number, "removed": True})


def add_routes(app: web.Application, authenticate: Authenticate) -> None:
    routes: list[tuple[str, str, KeyedHandler]] = [
        ("GET", "/api/v1/lists", list_lists),
        ("POST", "/api/v1/lists", create_list),
        ("GET", "/api/v1/lists/{list_id}", get_list),
        ("PATCH", "/api/v1/lists/{list_id}", update_list),
        ("DELETE", "/api/v1/lists/{list_id}", delete_list),
        ("GET", "/api/v1/lists/{list_id}/members", members),
        ("POST", "/api/v1/lists/{list_id}/members", add_members),
        ("POST", "/api/v1/lists/{list_id}/import", import_members),
        ("DELETE", "/api/v1/lists/{list_id}/members/{number}", remove_member),
    ]
    add_keyed_routes(app, authenticate, routes)
