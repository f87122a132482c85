"""An Android phone running SMSGate (local server), spoken to over HTTP: an ``SmsDevice``.

One recipient per ``POST /messages`` with our own message id, made of the job's id
(``modemd-j<job>-<try>-<parts>``; without a job ``modemd-<ref>-<parts>``, ref at random:
``phone_protocol.OUR_ID`` says why), so a request retried after a timeout gets 409 instead of
a second SMS. ``send_sms`` returns when the
app says ``Processed`` (handed to the radio, like ``+CMGS``); later states are learnt by polling
``GET /messages/{id}`` and reported as delivery reports with ``reference`` = the part's ref, so
the store settles the job as it does for a modem. Unfinished messages found at open are polled
again once the store says their jobs are ours (``resume``; those of drawn ids at once). Received
SMS come from ``phone_inbox``. Webhooks are only hints: a GET still says what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from modemd.drivers.base import GoneHandler, InboundHandler, InboxCursor, JobsKnown, ReportHandler
from modemd.drivers.phone_client import SmsGateClient
from modemd.drivers.phone_hooks import HOOK_EVENTS, RECEIVED_EVENT, SeenIds, judge_hint
from modemd.drivers.phone_inbox import PhoneInbox
from modemd.drivers.phone_send import await_processed
from modemd.errors import SendError
from modemd.model import DeliveryOutcome as Outcome
from modemd.model import DeliveryReport, DeviceInfo, DeviceKind, HintKind, HintVerdict, SentPart
from modemd.sms.encoding import split_message

from .phone_protocol import (
    DEFAULT_TIMINGS,
    DELIVERED,
    DUE_SLACK_S,
    FAILED,
    GONE_AFTER_FAILURES,
    KNOWN_STATES,
    MAX_POLL_INTERVAL_S,
    PENDING,
    PROCESSED,
    SENT,
    TRACK_FOR_S,
    Pacer,
    PhoneRequestError,
    PhoneTimings,
    Tracked,
    basic_auth,
    candidate_ids,
    draw_ref,
    job_message_ids,
    recipient_state,
    tracked_from,
)

log = logging.getLogger(__name__)


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
        timings: PhoneTimings = DEFAULT_TIMINGS,
        pacer: Pacer | None = None,
        webhook_url: str | None = None,
        signing_key: str | None = None,
        on_inbound: InboundHandler | None = None,
        inbox_cursor: InboxCursor | None = None,
        refs: Callable[[], int] = draw_ref,
    ) -> None:
        self.url = url.rstrip("/")
        self.port = self.url  # what the bank logs for a device it cannot open
        self.timings = timings
        self.pacer = pacer or Pacer()
        self._http = SmsGateClient(self.url, basic_auth(username, password), self._failed)
        self._on_report = on_report
        self._on_gone = on_gone
        self._info = DeviceInfo(device_id="", pin=pin, kind=DeviceKind.PHONE, port=self.url)
        self._closed = True
        self._refs = refs  # each message's first ref (tests inject ids the phone has)
        self._tracked: dict[str, Tracked] = {}
        self._unclaimed: dict[str, Tracked] = {}  # found at open, made of jobs: ``resume``
        self._poller: asyncio.Task[None] | None = None
        self.webhook_url = webhook_url  # "{device_id}" in it is replaced by the phone's id
        self.signing_key = signing_key  # None: webhooks off, polling alone
        self._sending: dict[str, bool] = {}  # ids posted, not yet Processed -> hinted meanwhile
        self._hinted: set[str] = set()  # tracked ids to poll at once (a webhook said so)
        self._seen = SeenIds()  # webhook envelopes already acted on
        self._wake = asyncio.Event()
        self._inbox = on_inbound and PhoneInbox(
            self._http, lambda: self._info.device_id, on_inbound, self._wake, inbox_cursor
        )

    @property
    def info(self) -> DeviceInfo:
        return self._info

    @property
    def signal(self) -> int | None:
        return None

    @property
    def closed(self) -> bool:
        return self._closed

    def _failed(self, failures: int) -> None:
        if failures >= GONE_AFTER_FAILURES and not self._closed:
            self._lost(f"{failures} requests in a row failed")

    def _lost(self, why: str) -> None:
        log.warning("phone %s (%s): gone: %s", self._info.device_id, self.url, why)
        self._closed = True
        if self._on_gone is not None:
            self._on_gone(self._info.device_id)

    async def open(self) -> DeviceInfo:
        """Check the app answers with our credentials, apply FIFO, resume unfinished messages."""
        self._http.start(self.timings.http_s)
        try:
            _, root, _ = await self._http.request("GET", "/")
            _, devices, _ = await self._http.request("GET", "/device")
            await self._http.request(
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
            await self._register_webhooks()
            await self._find_unfinished()
        except BaseException:
            await self.close()
            raise
        self._closed = False
        self._poller = asyncio.create_task(
            self._poll_forever(), name=f"phone {self._info.device_id}"
        )
        log.info("%s: ready: phone %s %s", self.url, self._info.device_id, self._info.model)
        return self._info

    async def diagnose(self) -> tuple[Any, int, Any]:
        """Read-only, for ``doctor``: ``GET /``, then ``/health`` (``SmsGateClient.diagnose``)."""
        self._http.start(self.timings.http_s)
        try:
            return await self._http.diagnose()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop polling and close the HTTP session; idempotent."""
        self._closed = True
        if self._poller is not None:
            poller, self._poller = self._poller, None
            if poller is not asyncio.current_task():
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
        await self._http.close()

    def ready_in_s(self) -> float:
        """Time until the pacer allows one more part (Android's limit, counted in parts)."""
        return self.pacer.wait_s(1, time.monotonic())

    async def probe(self) -> bool:
        """The authenticated ``GET /`` (``/health`` fails on a phone without mobile data)."""
        if self._closed:
            return False
        try:
            await self._http.request("GET", "/")
        except PhoneRequestError:
            return False
        return True

    async def _register_webhooks(self) -> None:
        """Ask the app to post signed hints to ``webhook_url``; a refusal leaves polling alone."""
        if not self.webhook_url or not self.signing_key:
            return
        url = self.webhook_url.replace("{device_id}", self._info.device_id)
        events = (*HOOK_EVENTS, RECEIVED_EVENT) if self._inbox is not None else HOOK_EVENTS
        try:
            await self._http.register_webhooks(url, self.signing_key, events)
        except PhoneRequestError as exc:
            log.warning("%s: webhooks not registered (%s): polling only", self.url, exc)
            return
        log.info("%s: webhooks to %s", self.url, url)

    def hint(self, body: bytes, headers: Mapping[str, str], now: float) -> HintVerdict:
        """A webhook from the app (``Hintable``): checked, then ``message_id`` polled at once."""
        if not self.signing_key:
            return HintVerdict(HintKind.NO_DEVICE, "webhooks are off for this phone")
        inbox = self._inbox.hint if self._inbox is not None and not self._closed else None
        return judge_hint(self.signing_key, self._seen, body, headers, now, self.poll_now, inbox)

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

    async def _find_unfinished(self) -> None:
        """Messages with our ids the phone has not finished (sent before a restart or unplug):
        those of drawn ids tracked at once (nothing tells whose they are), those made of a job
        kept for ``resume``. A Pending one's job is ``unknown``: its report settles it (by
        device and recipient), no resend."""
        for state in (PENDING, PROCESSED, SENT):
            try:
                messages = await self._http.list_messages(state)
            except PhoneRequestError as exc:
                log.info("%s: cannot list %s messages (%s): not resumed", self.url, state, exc)
                return
            for tracked in filter(None, (tracked_from(m, time.monotonic()) for m in messages)):
                tracked.state = state
                if tracked.job_id is not None:
                    self._unclaimed[tracked.message_id] = tracked
                else:
                    self._track_again(tracked)

    def _track_again(self, tracked: Tracked) -> None:
        self._tracked[tracked.message_id] = tracked
        log.info("%s: resumed polling %s (%s)", self.url, tracked.message_id, tracked.state)

    async def resume(self, known: JobsKnown) -> None:
        """Poll again the unfinished messages found at open whose jobs ``known`` says are ours
        (``base.Resumable``); another daemon's on the same phone are left to it."""
        unclaimed, self._unclaimed = self._unclaimed, {}
        jobs = {t.job_id for t in unclaimed.values() if t.job_id is not None}
        try:
            ours = await known(sorted(jobs)) if jobs else set()
        except Exception:  # the store cannot say now: none adopted, none lost on the phone
            log.exception("%s: cannot tell whose unfinished messages are ours", self.url)
            ours = set()
        others = 0
        for tracked in unclaimed.values():
            if tracked.job_id in ours:
                self._track_again(tracked)
            else:
                others += 1
        if others:
            log.info("%s: %d unfinished messages of jobs not ours left alone", self.url, others)
        self._wake.set()

    async def send_sms(self, to: str, text: str, *, job_id: str = "") -> list[SentPart]:
        """Queue ``text`` for ``to`` on the phone under an id made of ``job_id`` (none: drawn)
        and wait for ``Processed``; else ``SendError``."""
        if self._closed:
            raise SendError(f"{self.url}: phone gone", outcome_known=True, transient=True)
        parts = split_message(text).count
        wait = self.pacer.wait_s(parts, time.monotonic())
        if wait > 0:
            log.info("%s: pacing: next send in %.1f s", self.url, wait)
            await asyncio.sleep(wait)
        ref, sending = await self._queue(to, text, parts, job_message_ids(job_id, parts))
        try:
            try:
                state = await await_processed(
                    self._http, sending, parts, self.timings, lambda: self._closed
                )
            finally:  # the phone counts it against Android's limit whatever came of it
                self.pacer.record(parts, time.monotonic())
        finally:
            hinted = self._sending.pop(sending)
        now = time.monotonic()
        due = now + self.timings.poll_s
        self._tracked[sending] = Tracked(sending, ref, parts, to, now, due, state)
        if hinted:
            self.poll_now(sending)
        return [SentPart(part=i + 1, mr=ref + i) for i in range(parts)]

    async def _queue(
        self, to: str, text: str, parts: int, ids: list[str] | None
    ) -> tuple[int, str]:
        """POST under a fresh id (its ref, the id); an id the phone has already (409 before
        it ever got ours: an earlier try of the job, or another modemd's, or a past run's
        drawn id) is followed by the next."""
        tried = 0
        for ref, sending in candidate_ids(parts, ids, self._refs):
            tried += 1
            if sending in self._sending or sending in self._tracked:
                continue
            self._sending[sending] = False
            try:
                taken = await self._http.post_message(sending, to, text, self.timings.retry_pause_s)
            except BaseException:
                self._sending.pop(sending, None)
                raise
            if not taken:
                return ref, sending
            self._sending.pop(sending, None)
            log.log(
                logging.INFO if ids else logging.WARNING,
                "%s: message id %s is taken on the phone: trying another",
                self.url,
                sending,
            )
        raise SendError(
            f"{self.url}: {tried} message ids in a row were taken on the phone",
            outcome_known=True,
            transient=True,
        )

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
            if self._inbox is not None and self._inbox.due(self.timings.poll_s):
                await self._inbox.poll()
            if not due and now - self._http.last_ok >= self.timings.liveness_s:
                with contextlib.suppress(PhoneRequestError):
                    await self._http.request("GET", "/")

    async def _poll_one(self, tracked: Tracked, now: float) -> None:
        try:
            _, data, _ = await self._http.request("GET", f"/messages/{tracked.message_id}")
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
            self._settle(tracked, Outcome.DELIVERED, f"app: {state}")
        elif state in (FAILED, "Cancelled"):
            log.warning("%s: %s: %s (%s)", self.url, tracked.message_id, state, error)
            self._settle(tracked, Outcome.FAILED, f"app: {state} ({error or 'no reason'})")
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

    def _settle(self, tracked: Tracked, outcome: Outcome, detail: str) -> None:
        """Report every part's outcome (the store correlates by ref)."""
        self._tracked.pop(tracked.message_id, None)
        if self._on_report is None:
            return
        for index in range(tracked.parts):
            self._on_report(
                self._info.device_id,
                DeliveryReport(tracked.ref + index, tracked.to, outcome, detail),
            )
