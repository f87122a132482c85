"""SMSGate's local server over HTTP: one request at a time, JSON in and out, failures counted."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from modemd.drivers.phone_protocol import LIST_PAGE, POST_ATTEMPTS, PhoneRequestError, parse_json
from modemd.errors import SendError

log = logging.getLogger(__name__)


class SmsGateClient:
    """The HTTP side of one phone; the driver decides what the answers mean."""

    def __init__(self, url: str, auth: dict[str, str], on_failed: Callable[[int], None]) -> None:
        self.url = url
        self._auth = auth
        self._on_failed = on_failed  # (failures in a row) after each failed request
        self._session: aiohttp.ClientSession | None = None
        self._timeout_s = 0.0
        self.failures = 0
        self.last_ok = 0.0  # monotonic time of the last answer

    def start(self, timeout_s: float) -> None:
        """Open the session (kept if open)."""
        self._timeout_s = timeout_s
        if self._session is None:
            self.failures = 0
            # A fresh connection per request: a POST on a pooled connection the phone dropped
            # fails ambiguously (did it get it?); a refused connect proves nothing was sent.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        accept: tuple[int, ...] = (),
    ) -> tuple[int, Any, int | None]:
        """One request; (status, JSON body, X-Total-Count). Refusals (but ``accept``) raise."""
        if self._session is None:
            raise PhoneRequestError(f"{self.url}: closed", reached=False)
        try:
            async with self._session.request(
                method, self.url + path, json=body, params=params, headers=self._auth
            ) as response:
                raw = await response.read()
                status, ctype = response.status, response.content_type
                total = response.headers.get("X-Total-Count")
        except aiohttp.ClientConnectorError as exc:
            self._failed()
            raise PhoneRequestError(f"{self.url}: cannot connect: {exc}", reached=False) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._failed()
            why = str(exc) or f"no answer in {self._timeout_s} s"
            raise PhoneRequestError(f"{self.url}: {method} {path}: {why}") from exc
        self.failures, self.last_ok = 0, time.monotonic()
        if status == 401:
            raise PhoneRequestError(f"{self.url}: wrong username or password (401)", status=status)
        if raw and ctype != "application/json":
            raise PhoneRequestError(
                f"{self.url}: answers {ctype}, not SMSGate's JSON API (HTTP {status})",
                status=status,
            )
        data = parse_json(raw)
        if status >= 300 and status not in accept:
            message = data.get("message") if isinstance(data, dict) else data
            raise PhoneRequestError(
                f"{self.url}: {method} {path}: {status} {message}", status=status
            )
        return status, data, int(total) if total and total.isdigit() else None

    async def post_message(self, message_id: str, to: str, text: str, pause_s: float) -> bool:
        """``POST /messages`` with our id, retried (the same id: a retry cannot send twice);
        False once the phone has it; True when the id is another message's (409 before any
        attempt of ours reached the phone: nothing queued). Else ``SendError``."""
        body = {"id": message_id, "textMessage": {"text": text}, "phoneNumbers": [to]}
        reached = False  # an earlier attempt may have queued the message
        last: PhoneRequestError | None = None
        for attempt in range(POST_ATTEMPTS):
            if attempt:
                await asyncio.sleep(pause_s)
            try:
                await self.request("POST", "/messages", body={**body, "withDeliveryReport": True})
                return False
            except PhoneRequestError as exc:
                last = exc
                if exc.status == 409:  # reached: an earlier attempt of ours queued it
                    if reached:
                        log.info("%s: %s: 409 on retry: the phone has it", self.url, message_id)
                    return not reached
                if exc.status is not None and exc.status < 500:  # refused: nothing new queued
                    raise SendError(
                        str(exc), outcome_known=not reached, transient=exc.status != 400
                    ) from exc
                reached = reached or exc.reached
        raise SendError(str(last), outcome_known=not reached, transient=True) from last

    async def diagnose(self) -> tuple[Any, int, Any]:
        """``GET /`` (raises), then ``/health``: its status and body (500: a check failed)."""
        _, root, _ = await self.request("GET", "/")
        status, health, _ = await self.request("GET", "/health", accept=(500,))
        return root, status, health

    async def list_messages(self, state: str) -> list[dict[str, Any]]:
        """Every message in ``state``."""
        return await self._pages("/messages", {"state": state})

    async def list_inbox(self, since: str) -> list[dict[str, Any]]:
        """The received SMS from ``since`` (ISO-8601) on."""
        return await self._pages("/inbox", {"from": since})

    async def _pages(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every item of a listing, page by page (``X-Total-Count`` says how many)."""
        found: list[dict[str, Any]] = []
        offset, total = 0, 1
        while offset < total:
            paged = {**params, "limit": str(LIST_PAGE), "offset": str(offset)}
            _, page, count = await self.request("GET", path, params=paged)
            found += [m for m in page if isinstance(m, dict)] if isinstance(page, list) else []
            offset, total = offset + LIST_PAGE, count if count is not None else 0
        return found

    async def register_webhooks(self, url: str, key: str, events: tuple[str, ...]) -> None:
        """Have the app sign its webhooks with ``key`` and post ``events`` to ``url``."""
        webhooks = {"internet_required": False, "signing_key": key}
        await self.request("PATCH", "/settings", body={"webhooks": webhooks})
        for event in events:
            hook_id = "modemd-" + event.partition(":")[2]
            await self.request(
                "POST", "/webhooks", body={"id": hook_id, "url": url, "event": event}
            )

    def _failed(self) -> None:
        self.failures += 1
        self._on_failed(self.failures)
