"""The emulated app's HTTP routes (Ktor in the real app): Basic auth, JSON errors, the knobs."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from .phone_app import AppState, PhoneApp

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PHONE: web.AppKey[PhoneApp] = web.AppKey("phone")
HTML_PAGE = "<html><body><h1>Welcome</h1>Sign in to use this network.</body></html>"
DEFAULT_LIST_LIMIT = 50


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _phone(request: web.Request) -> PhoneApp:
    return request.app[PHONE]


def _authorised(request: web.Request, phone: PhoneApp) -> bool:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return user == phone.profile.username and password == phone.profile.password


@web.middleware
async def knobs_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Hang / HTML knobs first, then Basic auth on everything but ``/health``."""
    phone = _phone(request)
    if phone.hang:
        await phone.released()
        return _error(503, "closing")
    if phone.html:
        return web.Response(text=HTML_PAGE, content_type="text/html")
    if request.path != "/health" and not _authorised(request, phone):
        return web.json_response(
            {"message": "Unauthorized"},
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="Access to SMS Gateway"'},
        )
    return await handler(request)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"message": f"bad JSON: {exc}"}), content_type="application/json"
        ) from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"message": "expected an object"}), content_type="application/json"
        )
    return body


async def root(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "model": _phone(request).profile.model})


async def health(request: web.Request) -> web.Response:
    status, body = _phone(request).health()
    return web.json_response(body, status=status)


async def device(request: web.Request) -> web.Response:
    profile = _phone(request).profile
    name = f"{profile.manufacturer}/{profile.model}"
    return web.json_response([{"id": profile.device_id, "name": name}])


async def post_message(request: web.Request) -> web.Response:
    phone = _phone(request)
    body = await _json_body(request)
    text = (body.get("textMessage") or {}).get("text") or body.get("message")
    numbers = body.get("phoneNumbers")
    if not isinstance(text, str) or not text:
        return _error(400, "Text message is empty")
    if not isinstance(numbers, list) or not numbers or not all(isinstance(n, str) for n in numbers):
        return _error(400, "phoneNumbers is empty")
    try:
        message = phone.accept(body.get("id"), text, numbers)
    except KeyError:
        return _error(409, f"Message with id {body.get('id')} already exists")
    if phone.stall_posts > 0:  # accepted, but the answer never leaves the phone
        phone.stall_posts -= 1
        await phone.released()
    return web.json_response(message.as_json(phone.profile.device_id), status=202)


async def get_message(request: web.Request) -> web.Response:
    phone = _phone(request)
    message = phone.messages.get(request.match_info["id"])
    if message is None:
        return _error(404, "Message not found")
    return web.json_response(message.as_json(phone.profile.device_id))


async def delete_message(request: web.Request) -> web.Response:
    phone = _phone(request)
    if request.match_info["id"] not in phone.messages:
        return _error(404, "Message not found")
    if not phone.cancel(request.match_info["id"]):
        return _error(409, "Only pending messages can be cancelled")
    return web.Response(status=204)


async def list_messages(request: web.Request) -> web.Response:
    phone = _phone(request)
    try:
        limit = int(request.query.get("limit", DEFAULT_LIST_LIMIT))
        offset = int(request.query.get("offset", 0))
        state = AppState(request.query["state"]) if "state" in request.query else None
    except ValueError as exc:
        return _error(400, str(exc))
    found = sorted(
        (m for m in phone.messages.values() if state is None or m.state is state),
        key=lambda m: -m.seq,
    )
    page = [m.as_json(phone.profile.device_id) for m in found[offset : offset + limit]]
    return web.json_response(page, headers={"X-Total-Count": str(len(found))})


async def list_inbox(request: web.Request) -> web.Response:
    """``GET /inbox?limit=&offset=&from=&to=`` (v1.59+): received SMS, newest first."""
    phone = _phone(request)
    try:
        limit = int(request.query.get("limit", DEFAULT_LIST_LIMIT))
        offset = int(request.query.get("offset", 0))
        since = _instant(request.query.get("from"))
        until = _instant(request.query.get("to"))
    except ValueError as exc:
        return _error(400, str(exc))
    phone.inbox_reads.append(request.query.get("from", ""))
    found = [e for e in reversed(phone.inbox) if _within(e["createdAt"], since, until)]
    return web.json_response(
        found[offset : offset + limit], headers={"X-Total-Count": str(len(found))}
    )


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _within(created: str, since: datetime | None, until: datetime | None) -> bool:
    at = datetime.fromisoformat(created)
    return (since is None or at >= since) and (until is None or at < until)


async def get_settings(request: web.Request) -> web.Response:
    settings = _phone(request).settings
    shown = {
        s: {k: v for k, v in values.items() if k != "signing_key"} for s, values in settings.items()
    }
    return web.json_response(shown)


async def patch_settings(request: web.Request) -> web.Response:
    try:
        _phone(request).patch_settings(await _json_body(request))
    except ValueError as exc:
        return _error(400, str(exc))
    return await get_settings(request)


async def post_webhook(request: web.Request) -> web.Response:
    try:
        hook = _phone(request).webhooks.register(await _json_body(request))
    except ValueError as exc:
        return _error(400, str(exc))
    return web.json_response(hook, status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    return web.json_response(list(_phone(request).webhooks.hooks.values()))


async def delete_webhook(request: web.Request) -> web.Response:
    _phone(request).webhooks.hooks.pop(request.match_info["id"], None)
    return web.Response(status=204)


def create_app(phone: PhoneApp) -> web.Application:
    """The app's local server for ``phone``."""
    app = web.Application(middlewares=[knobs_and_auth])
    app[PHONE] = phone
    app.router.add_get("/", root)
    app.router.add_get("/health", health)
    app.router.add_get("/device", device)
    for prefix in ("/messages", "/message"):
        app.router.add_post(prefix, post_message)
        app.router.add_get(prefix, list_messages)
        app.router.add_get(prefix + "/{id}", get_message)
        app.router.add_delete(prefix + "/{id}", delete_message)
    app.router.add_get("/settings", get_settings)
    if phone.profile.has_inbox:
        app.router.add_get("/inbox", list_inbox)
    app.router.add_patch("/settings", patch_settings)
    app.router.add_post("/webhooks", post_webhook)
    app.router.add_get("/webhooks", list_webhooks)
    app.router.add_delete("/webhooks/{id}", delete_webhook)
    return app
