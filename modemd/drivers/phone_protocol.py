"""SMSGate's message states, ids, errors and auth, and pacing under Android's SMS limit: sans-IO."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any

from modemd.errors import DeviceError

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


DEFAULT_TIMINGS = PhoneTimings()
PACE_PARTS = 25  # parts per window we allow ourselves: under Android's 30 (SmsUsageMonitor)
PACE_WINDOW_S = 60.0  # Android's check period (SmsUsageMonitor, 60000 ms)
LIST_PAGE = 100
OUR_ID = re.compile(r"^modemd-(\d+)-(\d+)$")
# Our message ids are ``modemd-<ref>-<parts>``, ``ref`` drawn at random per message, never from
# the clock: two daemons on one phone, or a restart after the clock stepped back, would reuse
# a clock-based id the app still has (it answers by id, so a poll could settle the wrong job).
# The driver never sees the job id (``SmsDevice.send_sms(to, text)``); the id is still durable:
# the store keeps each part's ref (``job_parts.mr``), so a job's id is ``modemd-<part 1's mr>-
# <parts>``, and an id the phone already has is refused with 409 before anything is queued, so
# the driver draws another (``ID_DRAWS``). 53 bits: refs reach JSON (IPN ``message_references``,
# the jobs API), exact in JavaScript up to 2**53; two draws meet with odds ~n**2 / 2**54.
REF_BITS = 53
MAX_PARTS = 256  # ref .. ref + parts - 1 are the parts' refs: all stay under 2**REF_BITS
MAX_ID_CHARS = 36  # SMSGate's API: a client message id is a string of at most 36 characters
ID_DRAWS = 3  # fresh ids tried when the phone says each is taken (409 before we reached it)
# SmsManager errors after which another attempt (maybe on another device) can work.
TRANSIENT_APP_ERRORS = frozenset(
    {"RESULT_ERROR_LIMIT_EXCEEDED", "RESULT_ERROR_RADIO_OFF", "RESULT_ERROR_NO_SERVICE"}
)
PROCESSED, SENT, DELIVERED, FAILED = "Processed", "Sent", "Delivered", "Failed"
PENDING_STATES = frozenset({"Pending", "Cancelling"})  # not yet handed to the radio
KNOWN_STATES = frozenset({*PENDING_STATES, PROCESSED, SENT, DELIVERED, FAILED, "Cancelled"})


def draw_ref() -> int:
    """A message's first ref, at random (see ``OUR_ID``)."""
    return secrets.randbelow(2**REF_BITS - MAX_PARTS)


def message_id(ref: int, parts: int) -> str:
    """Our id of the message whose first part's ref is ``ref``: ``modemd-<ref>-<parts>``."""
    return f"modemd-{ref}-{parts}"


class Pacer:
    """Parts sent in a sliding window, sans-IO: how long to wait before sending ``parts``."""

    def __init__(self, max_parts: int = PACE_PARTS, window_s: float = PACE_WINDOW_S) -> None:
        self.max_parts = max_parts
        self.window_s = window_s
        self._sent: deque[tuple[float, int]] = deque()

    def wait_s(self, parts: int, now: float) -> float:
        while self._sent and self._sent[0][0] <= now - self.window_s:
            self._sent.popleft()
        total = sum(n for _, n in self._sent)
        if total + parts <= self.max_parts or not self._sent:
            return 0.0
        for at, n in self._sent:  # the oldest sends leave the window first
            total -= n
            if total + parts <= self.max_parts:
                return max(0.0, at + self.window_s - now)
        return max(0.0, self._sent[-1][0] + self.window_s - now)  # bigger than the window

    def record(self, parts: int, now: float) -> None:
        self._sent.append((now, parts))


def parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None


def recipient_state(data: Any) -> tuple[str | None, str | None]:
    """The state of our only recipient (the message's own state as a fallback) and its error."""
    if not isinstance(data, dict):
        return None, None
    recipients = data.get("recipients") or [{}]
    first = recipients[0] if isinstance(recipients[0], dict) else {}
    state = first.get("state") or data.get("state")
    return (str(state) if state is not None else None), first.get("error")


def basic_auth(username: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header of HTTP Basic auth (aiohttp 4 drops ``BasicAuth``)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


class PhoneRequestError(DeviceError):
    """A request to the phone failed; ``reached`` says if the phone may have got it."""

    def __init__(self, message: str, *, status: int | None = None, reached: bool = True) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status of a refusal; None when no answer came
        self.reached = reached  # False only when the connection was never made


@dataclass(slots=True)
class Tracked:
    """A message handed to the radio whose final state we still wait for."""

    message_id: str
    ref: int
    parts: int
    to: str
    since: float
    due: float
    state: str = PROCESSED


def tracked_from(message: dict[str, Any], now: float) -> Tracked | None:
    """One of our messages (id ``modemd-<ref>-<parts>``) listed by the app, to poll again."""
    match = OUR_ID.match(str(message.get("id", "")))
    if match is None:
        return None
    recipients = message.get("recipients") or [{}]
    to = str(recipients[0].get("phoneNumber", ""))
    return Tracked(message["id"], int(match.group(1)), int(match.group(2)), to, now, now)
