"""Emulated Android phones running SMSGate in local-server mode: a real HTTP server on 127.0.0.1.

Fake only at the radio. It keeps the app's inconvenient parts (see ``../shared/reference/
devices.md``): Basic auth, 409 on a reused message id, per-recipient states Pending ->
Processed -> Sent -> Delivered | Failed, LIFO processing until ``PATCH /settings`` asks for
FIFO, Android's 30-SMS-per-minute limit (parts counted) failing further sends with
``RESULT_ERROR_LIMIT_EXCEEDED``, ``/health`` answering 500 while "offline", webhooks only to
``https://`` or ``http://127.0.0.1`` and signed, sometimes posted twice. Knobs: latency, failure,
a phone that hangs, answers HTML, or goes away. The routes are in ``phone_http``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import secrets
import time
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import web

from modemd.sms.encoding import split_message

from .phone_app import (
    LIMIT_EXCEEDED,
    AppState,
    EmulatedMessage,
    PhoneProfile,
    delivery_error,
    now_iso,
    send_result_error,
)
from .phone_http import create_app
from .phone_webhooks import WebhookDispatcher
from .profile import AcceptedMessage, MessageFormat, SendRecorder

log = logging.getLogger(__name__)

TP_STATUS_PERMANENT = 0x41  # "incompatible destination": a report of a permanent failure


class EmulatedPhone:
    """One emulated phone: its HTTP server, message queue, radio and webhooks."""

    def __init__(
        self,
        profile: PhoneProfile,
        *,
        name: str,
        recorder: SendRecorder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.profile = profile
        self.name = name
        self.recorder = recorder
        self.rng = rng or random.Random()
        self.messages: dict[str, EmulatedMessage] = {}
        self.inbox: list[dict[str, Any]] = []  # received SMS, oldest first (GET /inbox)
        self.inbox_reads: list[str] = []  # the ``from`` of each GET /inbox, as asked
        self.settings: dict[str, dict[str, Any]] = {
            "messages": {"processing_order": "LIFO", "limit_period": "Disabled"},
            "webhooks": {"internet_required": True, "retry_count": 15},
        }
        self.webhooks = WebhookDispatcher(self)
        self.online = True  # False: no validated Internet, so /health answers 500
        self.hang = False  # True: requests are read and never answered
        self.html = False  # True: every answer is an HTML page (a captive portal, not the app)
        self.stall_posts = 0  # the next N accepted POSTs store the message but never answer
        self.limit_tripped = 0  # sends failed with LIMIT_EXCEEDED (pacing tests read it)
        self.port = 0
        self._seq = 0
        self._sent_parts: deque[tuple[float, int]] = deque()
        self._wake = asyncio.Event()
        self._release = asyncio.Event()  # set at close: hung and stalled handlers return
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- life -------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        """Serve on 127.0.0.1 (``port`` 0: any free one) and start processing."""

        self._release.clear()
        self._runner = web.AppRunner(create_app(self), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        self.spawn(self._process_forever(), f"phone {self.name} queue")

    async def go_away(self) -> None:
        """Unplugged: the server stops (connections refused) and the queue freezes."""
        self._release.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def close(self) -> None:
        """Stop everything; idempotent."""
        await self.go_away()
        await self.webhooks.close()

    def spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def released(self) -> None:
        """Wait until the phone closes (how hung handlers never answer)."""
        await self._release.wait()

    # -- the app's API, called by the routes ------------------------------------------------

    def accept(self, message_id: str | None, text: str, numbers: list[str]) -> EmulatedMessage:
        """``POST /messages``: queue a message; ``KeyError`` when the id exists (409)."""
        message_id = message_id or secrets.token_urlsafe(16)
        if message_id in self.messages:
            raise KeyError(message_id)
        self._seq += 1
        message = EmulatedMessage(message_id, text, list(numbers), self._seq)
        message.recipients = [
            {"phoneNumber": n, "state": AppState.PENDING.value, "error": None} for n in numbers
        ]
        message.states[AppState.PENDING.value] = now_iso()
        self.messages[message_id] = message
        self._wake.set()
        return message

    def cancel(self, message_id: str) -> bool:
        """``DELETE /messages/{id}``: cancel a Pending message; False when it is not Pending."""
        message = self.messages[message_id]
        if message.state is not AppState.PENDING:
            return False
        self._move(message, AppState.CANCELLED)
        return True

    def receive(self, sender: str, text: str) -> dict[str, Any]:
        """The network delivers an SMS: into the inbox, then the ``sms:received`` webhooks."""
        entry = {
            "id": secrets.token_urlsafe(16),
            "type": "SMS",
            "sender": sender,
            "recipient": None,
            "simNumber": 1,
            "contentPreview": text,
            "createdAt": now_iso(),
        }
        self.inbox.append(entry)
        self.webhooks.emit_received(entry)
        return entry

    def patch_settings(self, patch: dict[str, Any]) -> None:
        """``PATCH /settings``: merge each section; ``ValueError`` on a malformed one."""
        for section, values in patch.items():
            if not isinstance(values, dict):
                raise ValueError(f"{section} must be an object")
            self.settings.setdefault(section, {}).update(values)

    def health(self) -> tuple[int, dict[str, Any]]:
        """``GET /health``: 500 whenever a check fails (no Internet is a failure)."""
        internet = "pass" if self.online else "fail"
        status = "pass" if self.online else "fail"
        checks = {"connection:status": {"status": internet, "observedValue": int(self.online)}}
        return (200 if self.online else 500), {"status": status, "checks": checks}

    # -- the radio --------------------------------------------------------------------------

    def _next_pending(self) -> EmulatedMessage | None:
        pending = [m for m in self.messages.values() if m.state is AppState.PENDING]
        if not pending:
            return None
        fifo = self.settings["messages"].get("processing_order") == "FIFO"
        return min(pending, key=lambda m: m.seq if fifo else -m.seq)

    async def _process_forever(self) -> None:
        while True:
            if self._next_pending() is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await asyncio.sleep(self.profile.process_delay_s)  # messages queue up meanwhile
            message = self._next_pending()
            if message is not None:
                self._process(message)

    def _process(self, message: EmulatedMessage) -> None:
        """Hand ``message`` to SmsManager: Processed, then the radio's outcome later."""
        if message.state is not AppState.PENDING:
            return  # cancelled meanwhile
        parts = split_message(message.text).parts
        self._move(message, AppState.PROCESSED)
        error = self._limit_error(len(parts) * len(message.phone_numbers))
        if error is None and self.rng.random() < self.profile.send_error_rate:
            error = self.profile.send_error or "RESULT_ERROR_GENERIC_FAILURE"
        if error is not None:
            self._move(message, AppState.FAILED, send_result_error(error))
            return
        for number in message.phone_numbers:
            for index, text in enumerate(parts, 1):
                self._record(message, number, text, index, len(parts))
        self.spawn(self._radio(message), f"phone {self.name} radio {message.id}")

    def _limit_error(self, parts: int) -> str | None:
        now = time.monotonic()
        while self._sent_parts and self._sent_parts[0][0] <= now - self.profile.limit_window_s:
            self._sent_parts.popleft()
        if sum(n for _, n in self._sent_parts) + parts > self.profile.limit_count:
            self.limit_tripped += 1
            log.warning("phone %s: Android SMS limit reached: %s", self.name, LIMIT_EXCEEDED)
            return LIMIT_EXCEEDED
        self._sent_parts.append((now, parts))
        return None

    def _record(self, message: EmulatedMessage, to: str, text: str, part: int, total: int) -> None:
        if self.recorder is not None:
            self.recorder.record(
                AcceptedMessage(
                    modem=self.name,
                    imei=self.profile.device_id,
                    mr=message.seq,
                    to=to,
                    text=text,
                    part=part,
                    total=total,
                    mode=MessageFormat.TEXT,
                    at=time.time(),
                )
            )

    async def _radio(self, message: EmulatedMessage) -> None:
        await asyncio.sleep(self.profile.sent_delay_s)
        self._move(message, AppState.SENT)
        await asyncio.sleep(self.profile.delivered_delay_s)
        if self.rng.random() < self.profile.delivery_failure_rate:
            self._move(message, AppState.FAILED, delivery_error(TP_STATUS_PERMANENT))
        else:
            self._move(message, AppState.DELIVERED)

    def _move(self, message: EmulatedMessage, state: AppState, error: str | None = None) -> None:
        """The one place a message changes state: every recipient, its timestamp, the webhook."""
        for recipient in message.recipients:
            recipient["state"] = state.value
            recipient["error"] = error
        message.states[state.value] = now_iso()
        self.webhooks.emit(message, state, error)


class EmulatedPhoneBank:
    """N emulated phones with distinct ids and passwords."""

    def __init__(self, phones: list[EmulatedPhone]) -> None:
        self.phones = phones

    @classmethod
    def create(
        cls,
        count: int,
        *,
        record: str | Path | None = None,
        profile_overrides: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> EmulatedPhoneBank:
        """Build ``count`` phones; ``seed`` fixes their identities and randomness."""
        rng = random.Random(seed)
        recorder = SendRecorder(record) if record is not None else None
        phones = []
        for index in range(count):
            profile = PhoneProfile(
                device_id=f"emuphone{rng.getrandbits(48):012x}",
                password=f"{rng.getrandbits(32):08x}",  # the app shows an 8-character password
            )
            if profile_overrides:
                profile = dataclasses.replace(profile, **profile_overrides)
            phone_rng = random.Random(rng.getrandbits(64))
            phones.append(
                EmulatedPhone(profile, name=f"phone{index}", recorder=recorder, rng=phone_rng)
            )
        return cls(phones)

    async def start(self) -> None:
        """Start every phone; on failure, close them all."""
        try:
            for phone in self.phones:
                await phone.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        await asyncio.gather(*(phone.close() for phone in self.phones))

    async def __aenter__(self) -> EmulatedPhoneBank:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
