"""POST /api/v1/phones/{device_id}/webhook: a phone's signed webhook, only a hint to poll now.

The state still comes from the driver's own ``GET /messages/{id}``, so a duplicated, late or
out-of-order webhook cannot settle a job wrongly; at worst it costs one poll.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from typing import Any

from aiohttp import web

from modemd.drivers.phone import PhoneDriver
from modemd.runtime.bank import Bank

log = logging.getLogger(__name__)

MAX_AGE_S = 300.0  # SMSGate's docs: refuse an X-Timestamp over 5 minutes off (replays)
SEEN_IDS = 4096  # envelope ids remembered: the app retries and sometimes posts twice


class SeenIds:
    """A bounded LRU set of envelope ids already acted on."""

    def __init__(self, size: int = SEEN_IDS) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        if key in self._ids:
            self._ids.move_to_end(key)
            return True
        return False

    def add(self, key: str) -> None:
        self._ids[key] = None
        self._ids.move_to_end(key)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


HOOK_BANK: web.AppKey[Bank] = web.AppKey("phone_hooks_bank", Bank)
SEEN: web.AppKey[SeenIds] = web.AppKey("phone_hooks_seen", SeenIds)


def signed(key: str, body: bytes, timestamp: str, signature: str) -> bool:
    """``X-Signature`` is lowercase hex HMAC-SHA256(key, body + X-Timestamp); constant time."""
    stamp = timestamp.encode(errors="replace")  # headers may carry anything: never a 500
    wanted = hmac.new(key.encode(), body + stamp, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(wanted, signature.encode(errors="replace"))


def fresh(timestamp: str, now: float) -> bool:
    """``X-Timestamp`` (Unix seconds) is at most ``MAX_AGE_S`` away from ``now``."""
    try:
        at = int(timestamp)
    except ValueError:
        return False
    return abs(now - at) <= MAX_AGE_S


def _answer(status: int, message: str) -> web.Response:
    return web.json_response({"response": str(status), "message": message}, status=status)


def _refuse(request: web.Request, status: int, why: str) -> web.Response:
    log.info("phone webhook %s from %s: %d %s", request.path, request.remote, status, why)
    return _answer(status, why)


def _message_id(body: bytes) -> tuple[str, str] | None:
    """The envelope's ``id`` and ``payload.messageId``; None if the JSON is not such an object."""
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(payload, dict):
        return None
    envelope_id, message_id = data.get("id"), payload.get("messageId")
    if not isinstance(envelope_id, str) or not isinstance(message_id, str):
        return None
    return envelope_id, message_id


async def phone_webhook(request: web.Request) -> web.Response:
    """Verify the phone's signature and freshness, drop duplicates, tell its driver to poll."""
    device_id = request.match_info["device_id"]
    worker = request.app[HOOK_BANK].workers.get(device_id)
    driver = worker.device if worker is not None else None
    if not isinstance(driver, PhoneDriver) or not driver.signing_key:
        return _refuse(request, 404, f"no phone {device_id} with webhooks")
    body = await request.read()
    timestamp = request.headers.get("X-Timestamp", "")
    if not signed(driver.signing_key, body, timestamp, request.headers.get("X-Signature", "")):
        return _refuse(request, 401, "bad or missing X-Signature")
    if not fresh(timestamp, time.time()):
        return _refuse(request, 401, f"X-Timestamp {timestamp[:20]!r} is over 5 minutes off")
    ids = _message_id(body)
    if ids is None:
        return _refuse(request, 400, "not a webhook envelope with id and payload.messageId")
    envelope_id, message_id = ids
    seen = request.app[SEEN]
    if f"{device_id}/{envelope_id}" in seen:
        return _answer(200, "duplicate: already acted on")
    if not driver.hint(message_id):
        return _refuse(request, 404, f"phone {device_id} is not waiting for {message_id[:80]}")
    seen.add(f"{device_id}/{envelope_id}")
    return _answer(200, "polling the message now")


def add_routes(app: web.Application, bank: Bank) -> None:
    app[HOOK_BANK] = bank
    app[SEEN] = SeenIds()
    app.router.add_post("/api/v1/phones/{device_id}/webhook", phone_webhook)
