"""The emulated SMSGate app's data: message states, a phone's knobs, one message, and what
its HTTP routes and webhook sender need from a phone (``PhoneApp``)."""

from __future__ import annotations

import enum
import random
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

ANDROID_SMS_LIMIT = 30  # SmsUsageMonitor DEFAULT_SMS_MAX_COUNT: SMS per app per check period
ANDROID_SMS_WINDOW_S = 60.0  # SmsUsageMonitor DEFAULT_SMS_CHECK_PERIOD (60000 ms)
LIMIT_EXCEEDED = "RESULT_ERROR_LIMIT_EXCEEDED"  # SmsManager result the app stores as the error


class AppState(enum.StrEnum):
    """States of a message and of each recipient, as the app names them."""

    PENDING = "Pending"  # queued in the app
    PROCESSED = "Processed"  # handed to Android's SmsManager
    SENT = "Sent"  # the radio sent it (sent PendingIntent: RESULT_OK)
    DELIVERED = "Delivered"  # the status report said delivered
    FAILED = "Failed"  # SmsManager error or failed status report; ``error`` says why
    CANCELLED = "Cancelled"  # DELETE while Pending (v1.67+)


@dataclass(frozen=True)
class PhoneProfile:
    """Identity and behaviour knobs of one emulated phone."""

    device_id: str
    password: str
    username: str = "sms"
    model: str = "Emulated Pixel"
    manufacturer: str = "modemd"
    process_delay_s: float = 0.02  # Pending -> Processed (the app's queue, one at a time)
    sent_delay_s: float = 0.05  # Processed -> Sent
    delivered_delay_s: float = 0.1  # Sent -> Delivered
    send_error: str | None = None  # fail processing with this SmsManager error ...
    send_error_rate: float = 0.0  # ... with this probability
    delivery_failure_rate: float = 0.0  # share of Sent messages whose report says failed
    limit_count: int = ANDROID_SMS_LIMIT  # parts per window before LIMIT_EXCEEDED
    limit_window_s: float = ANDROID_SMS_WINDOW_S
    duplicate_webhook_rate: float = 0.0  # share of webhook events posted twice
    has_inbox: bool = True  # False: an app before v1.59, without ``GET /inbox`` (404)


@dataclass
class EmulatedMessage:
    """One message the app accepted."""

    id: str
    text: str
    phone_numbers: list[str]
    seq: int
    recipients: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> AppState:
        """The message state the app derives from its recipients."""
        states = {AppState(r["state"]) for r in self.recipients}
        for state in (AppState.PENDING, AppState.PROCESSED, AppState.SENT, AppState.DELIVERED):
            if state in states:
                return state
        return AppState.CANCELLED if AppState.CANCELLED in states else AppState.FAILED

    def as_json(self, device_id: str) -> dict[str, Any]:
        """The app's state object (null fields omitted)."""
        return {
            "id": self.id,
            "deviceId": device_id,
            "state": self.state.value,
            "isHashed": False,
            "isEncrypted": False,
            "recipients": [{k: v for k, v in r.items() if v is not None} for r in self.recipients],
            "states": self.states,
        }


def now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="milliseconds")


class Webhooks(Protocol):
    """The app's webhook registrations (``phone_webhooks.WebhookDispatcher``)."""

    hooks: dict[str, dict[str, str]]

    def register(self, body: dict[str, Any]) -> dict[str, str]: ...


class PhoneApp(Protocol):
    """What the routes (``phone_http``) and the webhook sender use of an emulated phone."""

    profile: PhoneProfile
    name: str
    rng: random.Random
    messages: dict[str, EmulatedMessage]
    settings: dict[str, dict[str, Any]]
    online: bool
    hang: bool
    html: bool
    stall_posts: int
    inbox: list[dict[str, Any]]
    inbox_reads: list[str]  # the ``from`` of each GET /inbox, as asked

    @property
    def webhooks(self) -> Webhooks: ...

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None: ...

    async def released(self) -> None: ...

    def accept(self, message_id: str | None, text: str, numbers: list[str]) -> EmulatedMessage: ...

    def cancel(self, message_id: str) -> bool: ...

    def patch_settings(self, patch: dict[str, Any]) -> None: ...

    def health(self) -> tuple[int, dict[str, Any]]: ...
