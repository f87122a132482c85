"""An Android phone running SMSGate (local server), spoken to over HTTP: an ``SmsDevice``.

One recipient per ``POST /messages`` with our own message id ``modemd-<ref>-<parts>``, so a
request retried after a timeout gets 409 instead of a second SMS. ``send_sms`` returns when the
app says ``Processed`` (handed to the radio, like ``+CMGS``); later states are learnt by polling
``GET /messages/{id}`` and reported as delivery reports with ``reference`` = the part's ref, so
the store settles the job as it does for a modem. Refs start from the clock in milliseconds, so
they stay unique across restarts (the app keeps old messages under our ids); at open, the
phone's unfinished ``modemd-*`` messages are polled again. Optional
webhooks are only hints: ``hint`` polls the message at once; its state still comes from a GET.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from modemd.drivers.base import GoneHandler, ReportHandler
from modemd.drivers.phone_hooks import HOOK_EVENTS, SeenIds, judge_hint
from modemd.errors import SendError
from modemd.model import (
    DeliveryOutcome,
    DeliveryReport,
    DeviceInfo,
    DeviceKind,
    HintKind,
    HintVerdict,
    SentPart,
)
from modemd.sms.encoding import split_message

from .phone_protocol import (
    DELIVERED,
    FAILED,
    KNOWN_STATES,
    LIST_PAGE,
    OUR_ID,
    PROCESSED,
    SENT,
    TRANSIENT_APP_ERRORS,
    Pacer,
    PhoneRequestError,
    Tracked,
    basic_auth,
    parse_json,
    recipient_state,
)

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 10.0  # a tethered phone answers in ms; a dozing one (Doze) in seconds
POST_ATTEMPTS = 3  # the same id each time: the app answers 409 once it has the message
RETRY_PAUSE_S = 0.5  # between two attempts of one request
PROCESSED_TIMEOUT_S = 60.0  # Pending -> Processed; the app sends one at a time (send_interval)
SEND_POLL_S = 0.1  # how often GET /messages/{id} is asked while a send waits for Processed
POLL_INTERVAL_S = 2.0  # how often a sent message is polled for Delivered/Failed, when young
MAX_POLL_INTERVAL_S = 60.0  # polling slows with a message's age, up to this
LIVENESS_INTERVAL_S = 10.0  # GET / when no request proved the phone alive for this long
DUE_SLACK_S = 0.01  # asyncio timers may fire this early: a poll so close is due
GONE_AFTER_FAILURES = 3  # consecutive failed requests before the phone is out of its pool
TRACK_FOR_S = 72 * 3600  # the store's report window: later news matches no job anyway


@dataclass(frozen=True, slots=True)
class PhoneTimings:
    """The driver's timeouts and intervals; tests and slow phones inject their own."""

    http_s: float = HTTP_TIMEOUT_S
    processed_s: float = PROCESSED_TIMEOUT_S
    send_poll_s: float = SEND_POLL_S
    poll_s: float = POLL_INTERVAL_S
    liveness_s: float = LIVENESS_INTERVAL_S
    retry_pause_s: float = RETRY_PAUSE_S


class PhoneDriver:
    """One phone's SMSGate local server."""

    def __init__(
        self,
        url: str,
        pin: str,
        *,
        username: str = "sms",
        password: str,
        on_report: ReportHandler | None = None,
        on_gone: GoneHandler | None = None,
        timings: PhoneTimings = PhoneTimings(),
        pacer: Pacer | None = None,
        webhook_url: str | None = None,
        signing_key: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.port = self.url  # what the bank logs for a device it cannot open
        self.timings = timings
        self.pacer = pacer or Pacer()
        self._auth = basic_auth(username, password)
        self._on_report = on_report
        self._on_gone = on_gone
        self._session: aiohttp.ClientSession | None = None
        self._info = DeviceInfo(device_id="", pin=pin, kind=DeviceKind.PHONE, port=self.url)
        self._closed = True
        self._failures = 0
        self._last_ok = 0.0
        self._next_ref = 0
        self._tracked: dict[str, Tracked] = {}
        self._poller: asyncio.Task[None] | None = None
        self.webhook_url = webhook_url  # "{device_id}" in it is replaced by the phone's id
        self.signing_key = signing_key  # None: webhooks off, polling alone
        self._sending: dict[str, bool] = {}  # ids posted, not yet Processed -> hinted meanwhile
        self._hinted: set[str] = set()  # tracked ids to poll at once (a webhook said so)
        self._seen = SeenIds()  # webhook envelopes already acted on
        self._wake = asyncio.Event()

    @property
    def info(self) -> DeviceInfo:
        return self._info

    @property
    def signal(self) -> int | None:
        return None

    @property
    def closed(self) -> bool:
        return self._closed

    # -- HTTP ---------------------------------------------------------------------------------

    async def _request(
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
            why = str(exc) or f"no answer in {self.timings.http_s} s"
            raise PhoneRequestError(f"{self.url}: {method} {path}: {why}") from exc
        self._failures, self._last_ok = 0, time.monotonic()
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

    def _failed(self) -> None:
        self._failures += 1
        if self._failures >= GONE_AFTER_FAILURES and not self._closed:
            self._lost(f"{self._failures} requests in a row failed")

    def _lost(self, why: str) -> None:
        log.warning("phone %s (%s): gone: %s", self._info.device_id, self.url, why)
        self._closed = True
        if self._on_gone is not None:
            self._on_gone(self._info.device_id)

    # -- life ----------------------------------------------------------------------------------

    async def open(self) -> DeviceInfo:
        """Check the app answers with our credentials, apply FIFO, resume unfinished messages."""
        self._session = self._new_session()
        self._failures = 0
        try:
            _, root, _ = await self._request("GET", "/")
            _, devices, _ = await self._request("GET", "/device")
            await self._request(
                "PATCH", "/settings", body={"messages": {"processing_order": "FIFO"}}
            )
            first = devices[0] if isinstance(devices, list) and devices else {}
            manufacturer, _, _ = str(first.get("name", "")).partition("/")
            self._info = DeviceInfo(
                device_id=str(first.get("id") or self.url),
                pin=self._info.pin,
                kind=DeviceKind.PHONE,
                port=self.url,
                manufacturer=manufacturer,
                model=str(root.get("model", "")) if isinstance(root, dict) else "",
            )
            self._next_ref = int(time.time() * 1000)
            await self._register_webhooks()
            await self._resume_unfinished()
        except BaseException:
            await self.close()
            raise
        self._closed = False
        self._poller = asyncio.create_task(
            self._poll_forever(), name=f"phone {self._info.device_id}"
        )
        log.info("%s: ready: phone %s %s", self.url, self._info.device_id, self._info.model)
        return self._info

    def _new_session(self) -> aiohttp.ClientSession:
        # A fresh connection per request: a POST on a pooled connection the phone dropped fails
        # ambiguously (did it get it?); a refused connect proves nothing was sent.
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True),
            timeout=aiohttp.ClientTimeout(total=self.timings.http_s),
        )

    async def diagnose(self) -> tuple[Any, int, Any]:
        """Read-only, for ``doctor``: ``GET /`` (raises ``PhoneRequestError``), then ``/health``
        (status and body: 500 whenever one of its checks fails, e.g. no Internet)."""
        self._session = self._session or self._new_session()
        try:
            _, root, _ = await self._request("GET", "/")
            status, health, _ = await self._request("GET", "/health", accept=(500,))
        finally:
            await self.close()
        return root, status, health

    async def close(self) -> None:
        """Stop polling and close the HTTP session; idempotent."""
        self._closed = True
        if self._poller is not None:
            poller, self._poller = self._poller, None
            if poller is not asyncio.current_task():
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def ready_in_s(self) -> float:
        """Time until the pacer allows one more part (Android's limit, counted in parts)."""
        return self.pacer.wait_s(1, time.monotonic())

    async def probe(self) -> bool:
        """The authenticated ``GET /`` (``/health`` fails on a phone without mobile data)."""
        if self._closed:
            return False
        try:
            await self._request("GET", "/")
        except PhoneRequestError:
            return False
        return True

    async def _register_webhooks(self) -> None:
        """Ask the app to post signed hints to ``webhook_url``; a refusal leaves polling alone."""
        if not self.webhook_url or not self.signing_key:
            return
        url = self.webhook_url.replace("{device_id}", self._info.device_id)
        try:
            await self._request(
                "PATCH",
                "/settings",
                body={"webhooks": {"internet_required": False, "signing_key": self.signing_key}},
            )
            for event in HOOK_EVENTS:
                hook_id = "modemd-" + event.partition(":")[2]
                await self._request(
                    "POST", "/webhooks", body={"id": hook_id, "url": url, "event": event}
                )
        except PhoneRequestError as exc:
            log.warning("%s: webhooks not registered (%s): polling only", self.url, exc)
            return
        log.info("%s: webhooks to %s", self.url, url)

    def hint(self, body: bytes, headers: Mapping[str, str], now: float) -> HintVerdict:
        """A webhook from the app (``Hintable``): checked, then ``message_id`` polled at once."""
        if not self.signing_key:
            return HintVerdict(HintKind.NO_DEVICE, "webhooks are off for this phone")
        return judge_hint(self.signing_key, self._seen, body, headers, now, self.poll_now)

    def poll_now(self, message_id: str) -> bool:
        """``message_id`` may have changed: poll it now; False if not ours."""
        if message_id in self._sending:
            self._sending[message_id] = True  # polled as soon as send_sms tracks it
            return True
        if message_id not in self._tracked or self._closed:
            return False
        self._hinted.add(message_id)
        self._wake.set()
        return True

    async def _resume_unfinished(self) -> None:
        """Track our messages the phone has not finished (sent before a restart)."""
        now = time.monotonic()
        for state in (PROCESSED, SENT):  # a Pending one belongs to a job now 'unknown'
            offset, total = 0, 1
            while offset < total:
                try:
                    _, page, count = await self._request(
                        "GET",
                        "/messages",
                        params={"state": state, "limit": str(LIST_PAGE), "offset": str(offset)},
                    )
                except PhoneRequestError as exc:
                    log.info("%s: cannot list %s messages (%s): not resumed", self.url, state, exc)
                    return
                for message in page if isinstance(page, list) else []:
                    self._adopt(message, now)
                offset, total = offset + LIST_PAGE, count if count is not None else 0

    def _adopt(self, message: dict[str, Any], now: float) -> None:
        match = OUR_ID.match(str(message.get("id", "")))
        recipients = message.get("recipients") or [{}]
        if match is None:
            return
        ref, parts = int(match.group(1)), int(match.group(2))
        to = str(recipients[0].get("phoneNumber", ""))
        self._tracked[message["id"]] = Tracked(message["id"], ref, parts, to, now, now)
        self._next_ref = max(self._next_ref, ref + parts)
        log.info("%s: resumed polling %s (%s)", self.url, message["id"], message.get("state"))

    # -- sending ---------------------------------------------------------------------------------

    async def send_sms(self, to: str, text: str) -> list[SentPart]:
        """Queue ``text`` for ``to`` on the phone and wait for ``Processed``; else ``SendError``."""
        if self._closed:
            raise SendError(f"{self.url}: phone gone", outcome_known=True, transient=True)
        parts = split_message(text).count
        wait = self.pacer.wait_s(parts, time.monotonic())
        if wait > 0:
            log.info("%s: pacing: next send in %.1f s", self.url, wait)
            await asyncio.sleep(wait)
        ref = max(self._next_ref, int(time.time() * 1000))
        self._next_ref = ref + parts
        message_id = f"modemd-{ref}-{parts}"
        self._sending[message_id] = False
        try:
            await self._post(message_id, to, text)
            try:
                state = await self._await_processed(message_id, parts)
            finally:  # the phone counts it against Android's limit whatever came of it
                self.pacer.record(parts, time.monotonic())
        finally:
            hinted = self._sending.pop(message_id)
        now = time.monotonic()
        due = now + self.timings.poll_s
        self._tracked[message_id] = Tracked(message_id, ref, parts, to, now, due, state)
        if hinted:
            self.poll_now(message_id)
        return [SentPart(part=i + 1, mr=ref + i) for i in range(parts)]

    async def _post(self, message_id: str, to: str, text: str) -> None:
        """``POST /messages`` with our id, retried; returns once the phone has it."""
        body = {"id": message_id, "textMessage": {"text": text}, "phoneNumbers": [to]}
        reached = False  # an earlier attempt may have queued the message
        last: PhoneRequestError | None = None
        for attempt in range(POST_ATTEMPTS):
            if attempt:
                await asyncio.sleep(self.timings.retry_pause_s)
            try:
                await self._request("POST", "/messages", body={**body, "withDeliveryReport": True})
                return
            except PhoneRequestError as exc:
                last = exc
                if exc.status == 409 and reached:
                    log.info(
                        "%s: %s: 409 on retry: the phone has it (sent once)", self.url, message_id
                    )
                    return
                if exc.status is not None and exc.status < 500:  # refused: nothing new queued
                    raise SendError(
                        str(exc), outcome_known=not reached, transient=exc.status != 400
                    ) from exc
                reached = reached or exc.reached
        raise SendError(str(last), outcome_known=not reached, transient=True) from last

    async def _await_processed(self, message_id: str, parts: int) -> str:
        """Poll until the radio has the message; the state seen (Processed or later)."""
        deadline = time.monotonic() + self.timings.processed_s
        seen: set[str | None] = set()
        while True:
            try:
                _, data, _ = await self._request("GET", f"/messages/{message_id}")
                state, error = recipient_state(data)
            except PhoneRequestError as exc:
                if self._closed:
                    raise SendError(
                        f"{exc}; the phone had accepted {message_id}",
                        outcome_known=False,
                        transient=False,
                    ) from exc
                state, error = None, None
            if state in (PROCESSED, SENT, DELIVERED):
                return str(state)
            if state in (FAILED, "Cancelled"):
                raise SendError(
                    f"{self.url}: {message_id}: {state} ({error or 'no reason given'})",
                    outcome_known=True,
                    transient=state == "Cancelled"
                    or (error in TRANSIENT_APP_ERRORS and parts == 1),
                )
            if state not in KNOWN_STATES and state not in seen and state is not None:
                log.warning("%s: %s: unknown state %r, still waiting", self.url, message_id, state)
            seen.add(state)
            if time.monotonic() > deadline:
                raise await self._give_up(message_id)
            await asyncio.sleep(self.timings.send_poll_s)

    async def _give_up(self, message_id: str) -> SendError:
        """Not processed in time: cancel it if still Pending (then nothing went out)."""
        waited = f"not processed in {self.timings.processed_s} s"
        try:
            await self._request("DELETE", f"/messages/{message_id}")
        except PhoneRequestError as exc:
            return SendError(
                f"{self.url}: {message_id} {waited}; cancel failed: {exc}",
                outcome_known=False,
                transient=False,
            )
        return SendError(
            f"{self.url}: {message_id} {waited}; cancelled", outcome_known=True, transient=True
        )

    # -- polling ---------------------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        """Poll tracked messages when due; prove liveness with ``GET /`` when idle."""
        while not self._closed:
            wait = self.timings.poll_s
            if self._tracked:
                next_due = min(t.due for t in self._tracked.values())
                wait = min(wait, max(0.0, next_due - time.monotonic()))
            with contextlib.suppress(TimeoutError):  # a hint wakes it early
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            now = time.monotonic() + DUE_SLACK_S
            hinted, self._hinted = self._hinted, set()
            due = [t for t in self._tracked.values() if t.due <= now or t.message_id in hinted]
            for tracked in due:
                if self._closed:
                    return
                await self._poll_one(tracked, now)
            if not due and now - self._last_ok >= self.timings.liveness_s:
                with contextlib.suppress(PhoneRequestError):
                    await self._request("GET", "/")

    async def _poll_one(self, tracked: Tracked, now: float) -> None:
        try:
            _, data, _ = await self._request("GET", f"/messages/{tracked.message_id}")
        except PhoneRequestError as exc:
            if exc.status == 404:
                log.warning(
                    "%s: %s is no longer on the phone; its job will expire",
                    self.url,
                    tracked.message_id,
                )
                self._tracked.pop(tracked.message_id, None)
            return
        state, error = recipient_state(data)
        if state == DELIVERED:
            self._settle(tracked, DeliveryOutcome.DELIVERED, f"app: {state}")
        elif state in (FAILED, "Cancelled"):
            log.warning("%s: %s: %s (%s)", self.url, tracked.message_id, state, error)
            self._settle(tracked, DeliveryOutcome.FAILED, f"app: {state} ({error or 'no reason'})")
        elif now - tracked.since > TRACK_FOR_S:
            log.warning(
                "%s: %s still %s after %d h: no longer polled",
                self.url,
                tracked.message_id,
                state,
                TRACK_FOR_S // 3600,
            )
            self._tracked.pop(tracked.message_id, None)
        else:
            if state != tracked.state:
                level = logging.DEBUG if state in KNOWN_STATES else logging.WARNING
                log.log(
                    level, "%s: %s: %s -> %s", self.url, tracked.message_id, tracked.state, state
                )
                tracked.state = str(state)
            slower = self.timings.poll_s * (now - tracked.since) / 60.0
            tracked.due = now + min(MAX_POLL_INTERVAL_S, max(self.timings.poll_s, slower))

    def _settle(self, tracked: Tracked, outcome: DeliveryOutcome, detail: str) -> None:
        """Report every part's outcome (the store correlates by ref)."""
        self._tracked.pop(tracked.message_id, None)
        if self._on_report is None:
            return
        for index in range(tracked.parts):
            self._on_report(
                self._info.device_id,
                DeliveryReport(tracked.ref + index, tracked.to, outcome, detail),
            )
