"""SMSGate's message states, ids, errors and auth, and pacing under Android's SMS limit: sans-IO."""

from __future__ import annotations

import base64
import json
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from modemd.errors import DeviceError

PACE_PARTS = 25  # parts per window we allow ourselves: under Android's 30 (SmsUsageMonitor)
PACE_WINDOW_S = 60.0  # Android's check period (SmsUsageMonitor, 60000 ms)
LIST_PAGE = 100
OUR_ID = re.compile(r"^modemd-(\d+)-(\d+)$")
# SmsManager errors after which another attempt (maybe on another device) can work.
TRANSIENT_APP_ERRORS = frozenset(
    {"RESULT_ERROR_LIMIT_EXCEEDED", "RESULT_ERROR_RADIO_OFF", "RESULT_ERROR_NO_SERVICE"}
)
PROCESSED, SENT, DELIVERED, FAILED = "Processed", "Sent", "Delivered", "Failed"
PENDING_STATES = frozenset({"Pending", "Cancelling"})  # not yet handed to the radio
KNOWN_STATES = frozenset({*PENDING_STATES, PROCESSED, SENT, DELIVERED, FAILED, "Cancelled"})


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
