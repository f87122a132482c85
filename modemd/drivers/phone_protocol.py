"""SMSGate's message states, ids, errors and auth, and pacing under Android's SMS limit: sans-IO."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections import deque
from collections.abc import Callable, Iterator
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
# That form is for sends without a job (a probe, a test); an id the phone already has is refused
# with 409 before anything is queued, so the driver draws another (``ID_DRAWS``). 53 bits: refs
# reach JSON (IPN ``message_references``, the jobs API), exact in JavaScript up to 2**53; two
# draws meet with odds ~n**2 / 2**54.
# A job's message (the worker passes its id) is ``modemd-j<job>-<try>-<parts>``: ``job_<hex>``
# becomes ``j<hex>``, ``try`` counts the job's attempts on this phone (a job sent here again
# after a failure finds its earlier id taken: 409, the next try). A restarted daemon resumes
# only those whose job its store has (``PhoneDriver.resume``): two daemons on one phone never
# adopt each other's. The parts' refs are a 53-bit digest of the id (``id_ref``): the store
# keeps them (``job_parts.mr``) and a resumed message gives them back.
JOB_ID = re.compile(r"^modemd-j([0-9a-z]+)-(\d+)-(\d+)$")
JOB_PREFIX = "job_"  # what ``store.jobs.new_job_id`` gives
JOB_TRIES = 16  # ids tried for one job: its earlier attempts on this phone answer 409
REF_BITS = 53
MAX_PARTS = 256  # ref .. ref + parts - 1 are the parts' refs: all stay under 2**REF_BITS
MAX_ID_CHARS = 36  # SMSGate's API: a client message id is a string of at most 36 characters
ID_DRAWS = 3  # fresh ids tried when the phone says each is taken (409 before we reached it)
# SmsManager results after which another attempt (maybe on another device) can work: the radio
# did not send. The app's error is a sentence around the name ("Send result: RESULT_ERROR_NO_
# SERVICE (Failed because service is currently unavailable)"): ``app_result`` finds it.
TRANSIENT_APP_ERRORS = frozenset(
    {
        "RESULT_ERROR_LIMIT_EXCEEDED",
        "RESULT_ERROR_RADIO_OFF",
        "RESULT_ERROR_NO_SERVICE",
        "RESULT_RADIO_NOT_AVAILABLE",
        "RESULT_RIL_RADIO_NOT_AVAILABLE",
        "RESULT_RIL_NETWORK_NOT_READY",
        "RESULT_RIL_REQUEST_RATE_LIMITED",
        "RESULT_RIL_SMS_SEND_FAIL_RETRY",
    }
)
APP_RESULT = re.compile(r"\bRESULT_[A-Z_]+\b")
PROCESSED, SENT, DELIVERED, FAILED = "Processed", "Sent", "Delivered", "Failed"
PENDING = "Pending"
PENDING_STATES = frozenset({PENDING, "Cancelling"})  # not yet handed to the radio
KNOWN_STATES = frozenset({*PENDING_STATES, PROCESSED, SENT, DELIVERED, FAILED, "Cancelled"})


def draw_ref() -> int:
    """A message's first ref, at random (see ``OUR_ID``)."""
    return secrets.randbelow(2**REF_BITS - MAX_PARTS)


def message_id(ref: int, parts: int) -> str:
    """Our id of the message whose first part's ref is ``ref``: ``modemd-<ref>-<parts>``."""
    return f"modemd-{ref}-{parts}"


def job_message_ids(job_id: str, parts: int) -> list[str] | None:
    """The ids of ``job_id``'s message, one per try, in order; None for a job id of another
    form, or too long for the app (then a drawn one, ``message_id``)."""
    body = job_id.removeprefix(JOB_PREFIX)
    if not job_id.startswith(JOB_PREFIX) or not body.isascii() or not body.isalnum():
        return None
    ids = [f"modemd-j{body.lower()}-{n}-{parts}" for n in range(1, JOB_TRIES + 1)]
    return ids if len(ids[-1]) <= MAX_ID_CHARS else None


def candidate_ids(
    parts: int, ids: list[str] | None, draw: Callable[[], int]
) -> Iterator[tuple[int, str]]:
    """(ref, id) to try in turn: a job's tries (``job_message_ids``), else ``ID_DRAWS`` drawn
    one at a time."""
    if ids is not None:
        yield from ((id_ref(sending), sending) for sending in ids)
        return
    for _ in range(ID_DRAWS):
        ref = draw()
        yield ref, message_id(ref, parts)


def id_ref(message_id: str) -> int:
    """The first part's ref of a job's message: a 53-bit digest of its id (``JOB_ID``)."""
    digest = hashlib.sha256(message_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**REF_BITS - MAX_PARTS)


def job_of(message_id: str) -> str | None:
    """The job id a message id was made of; None for a drawn one."""
    match = JOB_ID.match(message_id)
    return JOB_PREFIX + match.group(1) if match else None


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


def app_result(error: str | None) -> str | None:
    """The SmsManager result named in the app's error text (None when it names none)."""
    match = APP_RESULT.search(error or "")
    return match.group(0) if match else None


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
    job_id: str | None = None  # the job its id was made of (None: a drawn id)


def tracked_from(message: dict[str, Any], now: float) -> Tracked | None:
    """A message with one of our ids (``OUR_ID``, ``JOB_ID``) listed by the app, to poll."""
    sent = str(message.get("id", ""))
    recipients = message.get("recipients") or [{}]
    to = str(recipients[0].get("phoneNumber", ""))
    if match := OUR_ID.match(sent):
        return Tracked(sent, int(match.group(1)), int(match.group(2)), to, now, now)
    if match := JOB_ID.match(sent):
        parts = int(match.group(3))
        return Tracked(sent, id_ref(sent), parts, to, now, now, job_id=job_of(sent))
    return None
