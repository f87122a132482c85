"""A phone's received SMS: the app's ``GET /inbox`` polled with a time cursor, each message
handed on once per run (the store keeps it once across runs: its key is the app's id).

At open the cursor is the one stored (``cursor``: the app's time of the newest message the
store kept from this phone), so what came while modemd was down is read however long that was;
a phone never read starts ``LOOKBACK_S`` back. Messages already stored are recognised by the
store, never stored twice. A signed ``sms:received`` webhook only makes the next poll come at
once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from modemd.drivers.base import InboundHandler, InboxCursor
from modemd.drivers.phone_client import SmsGateClient
from modemd.drivers.phone_protocol import PhoneRequestError
from modemd.model import InboundSms

log = logging.getLogger(__name__)

LOOKBACK_S = 72 * 3600.0  # at open, the inbox is read this far back (the app keeps it longer)
NO_INBOX_RETRY_S = 600.0  # an app without GET /inbox (before v1.59) is asked again this late
SEEN_IDS = 4096  # ids handed on in this run


class PhoneInbox:
    """Polls one phone's inbox; hands each new message to the runtime, awaiting its commit."""

    def __init__(
        self,
        http: SmsGateClient,
        device_id: Callable[[], str],
        on_inbound: InboundHandler,
        wake: asyncio.Event,
        cursor: InboxCursor | None = None,
    ) -> None:
        self._wake = wake  # wakes the driver's poller
        self._cursor = cursor  # asked once, at the first poll (the device id is known then)
        self._http = http
        self._device_id = device_id
        self._on_inbound = on_inbound
        self._since = time.time() - LOOKBACK_S  # Unix seconds: the cursor
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.hinted = False  # a webhook said a message came: poll at the next turn
        self._polled_at = float("-inf")  # monotonic
        self._missing_until = float("-inf")  # monotonic: the app had no GET /inbox (404)

    def hint(self) -> bool:
        """A signed ``sms:received`` webhook: read the inbox at once."""
        self.hinted = True
        self._wake.set()
        return True

    def due(self, interval_s: float) -> bool:
        now = time.monotonic()
        if now < self._missing_until:
            return False
        return self.hinted or now - self._polled_at >= interval_s

    async def poll(self) -> int:
        """Read the inbox from the cursor; the number of new messages handed on."""
        self.hinted, self._polled_at = False, time.monotonic()
        if self._cursor is not None:
            cursor = await self._cursor(self._device_id())
            self._cursor = None
            if cursor is not None:
                self._since = cursor
                log.info("%s: inbox read from the stored cursor %.3f", self._http.url, cursor)
        since = datetime.fromtimestamp(self._since, UTC).isoformat(timespec="milliseconds")
        try:
            items = await self._http.list_inbox(since)
        except PhoneRequestError as exc:
            if exc.status == 404:  # said once, not every poll
                if self._missing_until == float("-inf"):
                    log.warning(
                        "%s: the app has no GET /inbox (SMSGate before v1.59?): SMS received "
                        "by this phone are not read; update the app",
                        self._http.url,
                    )
                self._missing_until = time.monotonic() + NO_INBOX_RETRY_S
                return 0
            log.info("%s: inbox not read: %s", self._http.url, exc)
            return 0
        handed = 0
        # The app lists newest first: oldest first, ties in the app's order.
        for item in sorted(reversed(items), key=lambda i: str(i.get("createdAt", ""))):
            sms = inbound_of(item)
            if sms is None or sms.natural_key in self._seen:
                continue
            stored = self._on_inbound(self._device_id(), sms)
            if stored is not None:
                await asyncio.shield(stored)
            self._seen[sms.natural_key] = None
            while len(self._seen) > SEEN_IDS:
                self._seen.popitem(last=False)
            if sms.sent_at is not None:
                self._since = max(self._since, sms.sent_at)  # "from" is inclusive: seen skips
            handed += 1
        return handed


def inbound_of(item: dict[str, Any]) -> InboundSms | None:
    """An inbox item of the app as a received SMS; None for other kinds (data, MMS)."""
    if item.get("type", "SMS") != "SMS" or not item.get("id"):
        return None
    created = str(item.get("createdAt") or "")
    try:
        sent_at: float | None = datetime.fromisoformat(created).timestamp()
    except ValueError:
        sent_at = None
    return InboundSms(
        natural_key=f"app-{item['id']}",
        sender=str(item.get("sender") or ""),
        text=str(item.get("contentPreview") or ""),
        data=None,
        encoding="text",
        parts=1,
        sent_at=sent_at,
        raw=(str(item["id"]),),
    )
