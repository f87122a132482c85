"""IPN sender: posts committed outbox events to each key's IPN URL until one answers 2xx.

Woken by the store after every commit that changed the outbox or the keys, and after another
process's commit (no polling while idle); otherwise it sleeps until the earliest retry is
due. A job's events go out in order: the outbox only hands out the oldest pending event of each
job. Posts follow Standard Webhooks: signed ``webhook-id``/``-timestamp``/
``-signature`` headers, 15 s timeout, no redirects, only 2xx counts, the Svix retry schedule,
410 disables the endpoint, 429/503 honour Retry-After, then a dead letter that can be replayed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from modemd.store import Store, endpoints
from modemd.store import events as outbox
from modemd.store.batches import lazy, replayable
from modemd.store.events import OutboxEvent
from modemd.webhooks.egress import EgressPolicy
from modemd.webhooks.signing import signature_header

log = logging.getLogger(__name__)

POST_TIMEOUT_S = 15.0  # Standard Webhooks recommends 15-30 s; Svix uses 15 s
# Hosts sharing a database: an event taken by one is the others' again this long after (its
# host died mid-post); longer than a post can last, with room for the post's queueing here.
LEASE_S = 4 * POST_TIMEOUT_S
# Delay before attempt n+1 after n failures (Svix's schedule): immediately, 5 s, 5 min, 30 min,
# 2 h, 5 h, 10 h, 10 h; then every 10 h (retried until acknowledged).
RETRY_SCHEDULE_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# Posts of one event since it was created or last replayed (not its lifetime ``attempts``):
# immediately + the 7 delays of the schedule; then it is a dead letter.
POSTS_BEFORE_DEAD_LETTER = 8
JITTER = 0.1  # +-10 % so endpoints coming back are not hit by every retry at once
MAX_CONCURRENT_POSTS = 16  # events of different jobs in flight at once
RETRY_AFTER_MIN_S = 1.0  # a Retry-After of 0 would make us hammer the endpoint
RETRY_AFTER_MAX_S = 36000.0  # never wait longer than the schedule's longest step for it
# Commits wake the sender at once (another process's within store.DATA_VERSION_POLL_S, on
# SQLite); this bound is how soon it looks anyway (PostgreSQL: a replay by another host).
IDLE_WAKE_S = 30.0


def retry_delay(
    attempts: int, rng: random.Random, schedule: tuple[float, ...] = RETRY_SCHEDULE_S
) -> float:
    """Seconds to wait after ``attempts`` failed attempts."""
    base = schedule[min(attempts - 1, len(schedule) - 1)]
    return base * (1 + rng.uniform(-JITTER, JITTER))


class IpnSender:
    """Delivers the outbox; one instance per daemon."""

    def __init__(
        self,
        store: Store,
        *,
        rng: random.Random | None = None,
        schedule: tuple[float, ...] = RETRY_SCHEDULE_S,
        egress: EgressPolicy | None = None,
    ) -> None:
        self.store = store
        # Read at every connect: the wiring adds the API's own address once it is bound.
        self.egress = egress or EgressPolicy()
        self._schedule = schedule
        self._wake = asyncio.Event()
        self._rng = rng or random.Random()
        self._in_flight: set[str] = set()
        self._posts: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(MAX_CONCURRENT_POSTS)
        self._session: aiohttp.ClientSession | None = None
        # Whether the next turn reads the outbox; else it takes ``_next_at`` from the look a
        # post's record took in its own write (``_looked``).
        self._read = True
        self._next_at: float | None = None

    def session(self) -> aiohttp.ClientSession:
        """The HTTP client the posts go through (``run``'s, for as long as it runs)."""
        connector = aiohttp.TCPConnector(
            socket_factory=lambda info: self.egress.socket_factory(info)
        )
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_S),
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    def wake(self) -> None:
        """Something was committed: look at the outbox now."""
        self._read = True
        self._wake.set()

    def _looked(self, due: list[OutboxEvent], next_at: float | None) -> None:
        """What a post's record saw of the outbox once it committed (``_record_and_look``): what
        the sender's own read after the post would have seen, without that read."""
        self.offer(due)
        self._next_at = next_at
        self._wake.set()

    def listen(self) -> None:
        """Learn of the store's commits. A lone host on SQLite: a new event first in line
        for its job comes with its commit's answers (no read at all), and any other change of
        the outbox hands over what is due then, read on the store's thread right after the
        commit (no trip of the sender's own between the commit and the POST); otherwise, and
        for a change of keys (an IPN URL set), the sender is woken and reads the outbox."""
        if self.store.watched and self.store.host_id is None:
            self.store.on_staged.append(self.offer)
            self.store.after_change["events"].append((self._due_now, self.offer))
        else:
            self.store.on_change["events"].append(self.wake)
        self.store.on_change["api_keys"].append(self.wake)

    @staticmethod
    def _due_now(db: Any) -> list[OutboxEvent]:
        return outbox.due_events(db, time.time())

    def offer(self, due: list[OutboxEvent]) -> None:
        """Post these due events now (those not in flight already), on the loop."""
        if self._session is None:  # not running yet (or any more): its own read finds them
            self.wake()
            return
        for event in due:
            if event.event_id not in self._in_flight:
                self._start(event)

    async def run(self) -> None:
        """Deliver until cancelled."""
        # Events left pending by a database from before signed endpoints get their secret now:
        # the outbox is then read without writing.
        await self.store.write(endpoints.ensure_pending_endpoints)
        async with self.session() as session:
            self._session = session
            try:
                while True:
                    self._wake.clear()
                    if self._read:
                        self._read = False
                        next_at = await self._offer_due()
                    else:
                        next_at = self._next_at
                    await self._sleep_until(next_at)
            finally:
                self._session = None  # an offer from now on only wakes (nobody)
                for task in self._posts:
                    task.cancel()
                await asyncio.gather(*self._posts, return_exceptions=True)

    async def _offer_due(self) -> float | None:
        """Offer the events due now; when the earliest pending one is due (None: none is).
        Alone, one read for both (each trip is a queue entry and an answer on the store's
        thread: the sender looks after every post). On a shared database the due events are
        leased to this host (each posted by exactly one host) and offered before the next time
        is read: a post that ends meanwhile must not find its event offered again from a stale
        take."""
        host = self.store.host_id
        if host is None:
            due, next_at = await self.store.read(_due_and_next, time.time())
            self.offer(due)
            return next_at
        self.offer(await self.store.write(outbox.take_due_events, time.time(), host, LEASE_S))
        return await self.store.read(outbox.next_due_at, host)

    async def _sleep_until(self, next_at: float | None) -> None:
        delay = IDLE_WAKE_S if next_at is None else max(0.0, next_at - time.time())
        if delay == 0.0:
            # What is due is in flight or waits behind an in-flight event of its job: each
            # finished post wakes us. With nothing in flight, look again shortly.
            delay = IDLE_WAKE_S if self._posts else 0.05
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
        # comes as the wake-up does (the sender then never stopped; seen as a hung shutdown).
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            self._read = True  # the time has come: what is due now is read

    def _start(self, event: OutboxEvent) -> None:
        self._in_flight.add(event.event_id)
        task = asyncio.create_task(self._deliver(event), name=f"ipn {event.event_id}")
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _deliver(self, event: OutboxEvent) -> None:
        looked = None
        try:
            async with self._limit:
                status, error, retry_after = await self._post(event)
            plan = plan_next(
                status, retry_after, event.retries + 1, time.time(), self._rng, self._schedule
            )
            if not plan.delivered:
                log.warning(
                    "IPN %s %s to %s failed (attempt %d): %s%s",
                    event.type,
                    event.event_id,
                    redact(event.url),
                    event.attempts + 1,
                    error,
                    "" if plan.next_at else "; given up (dead letter, replayable)",
                )
            # Alone on the database, the record looks at the outbox in its own write (the
            # job's next event may now be due): no read of the sender's own after each post.
            # Hosts sharing it lease what they post: their turn reads (and takes) the outbox.
            record = outbox.record_attempt if self.store.host_id else _record_and_look
            looked = await self.store.write(
                record,
                event.event_id,
                http_status=status,
                error=error,
                delivered=plan.delivered,
                next_attempt_at=plan.next_at,
                gone=plan.gone,
            )
        finally:
            self._in_flight.discard(event.event_id)
            # No longer a post in flight for the turn this wakes (its done callback comes later).
            self._posts.discard(asyncio.current_task())
            if looked is None:
                self.wake()  # the job's next event may now be due
            else:
                self._looked(*looked)

    async def _post(self, event: OutboxEvent) -> tuple[int | None, str | None, str | None]:
        """POST one event, signed; (HTTP status, error text, Retry-After header)."""
        assert self._session is not None
        body, content_type = encode_body(event.payload, event.endpoint.format)
        now = int(time.time())
        headers = {
            "Content-Type": content_type,
            "webhook-id": event.event_id,
            "webhook-timestamp": str(now),
            "webhook-signature": signature_header(
                event.endpoint.signing_secrets(now), event.event_id, now, body
            ),
            "User-Agent": "modemd-ipn/0.1",
        }
        try:
            async with self._session.post(
                event.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
                return response.status, error, response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}", None


def _due_and_next(db: Any, now: float) -> tuple[list[OutboxEvent], float | None]:
    return outbox.due_events(db, now), outbox.next_due_at(db)


@lazy
@replayable
def _record_and_look(
    db: Any, event_id: str, **attempt: Any
) -> tuple[list[OutboxEvent], float | None]:
    """``record_attempt``, then in the same write what the sender reads after each post (the
    due events, the next due time): answered once committed, so nothing acts on an uncommitted
    row, and a write that fails tells nothing (the sender then reads)."""
    outbox.record_attempt(db, event_id, **attempt)
    return _due_and_next(db, time.time())


@dataclass(frozen=True, slots=True)
class Plan:
    delivered: bool
    next_at: float | None  # None and not delivered: a dead letter
    gone: bool = False  # 410: disable the endpoint


def plan_next(
    status: int | None,
    retry_after: str | None,
    retries: int,
    now: float,
    rng: random.Random,
    schedule: tuple[float, ...] = RETRY_SCHEDULE_S,
) -> Plan:
    """What follows an attempt: only 2xx delivers; 410 disables the endpoint; 429/503 honour
    Retry-After; after ``POSTS_BEFORE_DEAD_LETTER`` since the last replay, a dead letter."""
    if status is not None and 200 <= status < 300:
        return Plan(True, None)
    if status == HTTPStatus.GONE:
        return Plan(False, None, gone=True)
    if retries >= POSTS_BEFORE_DEAD_LETTER:
        return Plan(False, None)
    delay = retry_delay(retries, rng, schedule)
    if status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
        asked = parse_retry_after(retry_after, now)
        if asked is not None:
            delay = asked
    return Plan(False, now + delay)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), bounded."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError):
            return None
    return min(max(seconds, RETRY_AFTER_MIN_S), RETRY_AFTER_MAX_S)


def redact(url: str) -> str:
    """``url`` for a log line: no user or password, query values replaced (tokens live there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    netloc = (
        ("***@" if parts.username or parts.password else "")
        + (f"[{host}]" if ":" in host else host)
        + port
    )
    query = "&".join(f"{name}=***" for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def encode_body(payload: str, body_format: str) -> tuple[bytes, str]:
    """The bytes to POST: the JSON as stored, or its fields form-encoded (GenioApi-era)."""
    if body_format != "form":
        return payload.encode(), "application/json"
    event = json.loads(payload)
    fields = {
        "type": event["type"],
        "event_id": event["event_id"],
        "timestamp": event["timestamp"],
        **event["data"],
    }
    flat = {
        k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items() if v is not None
    }
    return urlencode(flat).encode(), "application/x-www-form-urlencoded"
