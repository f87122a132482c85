"""The emulated app's webhooks: registration rules, signed envelopes, the odd duplicate."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any

import aiohttp

from .phone_app import AppState, EmulatedMessage, PhoneApp

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 10.0  # the app's OkHttp client gives a receiver about this long
EVENTS = {  # message state -> the webhook event the app posts for it
    "Sent": "sms:sent",
    "Delivered": "sms:delivered",
    "Failed": "sms:failed",
    "Cancelled": "sms:cancelled",
}
RECEIVED = "sms:received"
KNOWN_EVENTS = frozenset(
    {*EVENTS.values(), "sms:received", "sms:data-received", "system:ping", "app:started"}
)


def allowed_url(url: str) -> bool:
    """The app posts only to ``https://`` or plain HTTP on exactly 127.0.0.1."""
    return url.startswith("https://") or url.startswith(("http://127.0.0.1:", "http://127.0.0.1/"))


def sign(key: str, body: bytes, timestamp: str) -> str:
    """``X-Signature``: lowercase hex HMAC-SHA256 over the raw body then ``X-Timestamp``."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


class WebhookDispatcher:
    """Registered webhooks of one emulated phone and the posting of its events."""

    def __init__(self, phone: PhoneApp) -> None:
        self.phone = phone
        self.hooks: dict[str, dict[str, str]] = {}
        self._session: aiohttp.ClientSession | None = None

    def register(self, body: dict[str, Any]) -> dict[str, str]:
        """``POST /webhooks`` (an upsert on id); ``ValueError`` says why it is refused (400)."""
        url, event = body.get("url"), body.get("event")
        if not isinstance(url, str) or not allowed_url(url):
            raise ValueError("url must be https:// or http://127.0.0.1")
        if event not in KNOWN_EVENTS:
            raise ValueError(f"unknown event {event!r}")
        hook_id = str(body.get("id") or secrets.token_urlsafe(12))
        self.hooks[hook_id] = {"id": hook_id, "url": url, "event": str(event)}
        return self.hooks[hook_id]

    def emit(self, message: EmulatedMessage, state: AppState, error: str | None) -> None:
        """Post the event of ``state`` to every hook that wants it, once per recipient."""
        event = EVENTS.get(state.value)
        for hook in self._wanting(event):
            for recipient in message.recipients:
                body = self._envelope(hook, message, recipient["phoneNumber"], state, error)
                self._post_maybe_twice(hook["url"], body)

    def emit_received(self, entry: dict[str, Any]) -> None:
        """``sms:received`` for a message the inbox got (sometimes posted twice, as the app)."""
        for hook in self._wanting(RECEIVED):
            payload = {
                "messageId": entry["id"],
                "message": entry["contentPreview"],
                "sender": entry["sender"],
                "phoneNumber": entry["sender"],
                "simNumber": entry["simNumber"],
                "receivedAt": entry["createdAt"],
            }
            envelope = {
                "id": secrets.token_urlsafe(12),
                "webhookId": hook["id"],
                "event": RECEIVED,
                "deviceId": self.phone.profile.device_id,
                "payload": payload,
            }
            self._post_maybe_twice(hook["url"], json.dumps(envelope).encode())

    def _wanting(self, event: str | None) -> list[dict[str, str]]:
        """The hooks of ``event``; none while the app waits for an Internet it lacks."""
        hooks = [h for h in self.hooks.values() if h["event"] == event]
        waits = self.phone.settings["webhooks"].get("internet_required", True)
        if hooks and waits and not self.phone.online:
            log.info("phone %s: %s held: no Internet", self.phone.name, event)
            return []
        return hooks

    def _post_maybe_twice(self, url: str, body: bytes) -> None:
        copies = 2 if self.phone.rng.random() < self.phone.profile.duplicate_webhook_rate else 1
        for _ in range(copies):
            self.phone.spawn(self._post(url, body), f"phone {self.phone.name} hook")

    def _envelope(
        self,
        hook: dict[str, str],
        message: EmulatedMessage,
        to: str,
        state: AppState,
        error: str | None,
    ) -> bytes:
        at_key = {"Sent": "sentAt", "Delivered": "deliveredAt", "Failed": "failedAt"}.get(
            state.value
        )
        payload: dict[str, Any] = {"messageId": message.id, "recipient": to, "phoneNumber": to}
        if at_key is not None:
            payload[at_key] = message.states[state.value]
        if error is not None:
            payload["reason"] = error
        envelope = {
            "id": secrets.token_urlsafe(12),
            "webhookId": hook["id"],
            "event": hook["event"],
            "deviceId": self.phone.profile.device_id,
            "payload": payload,
        }
        return json.dumps(envelope).encode()

    async def _post(self, url: str, body: bytes) -> None:
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Timestamp": timestamp}
        key = self.phone.settings["webhooks"].get("signing_key")
        if key:
            headers["X-Signature"] = sign(str(key), body, timestamp)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
            )
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("phone %s: webhook to %s failed: %s", self.phone.name, url, exc)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
