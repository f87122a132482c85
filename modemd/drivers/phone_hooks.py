"""SMSGate's signed webhooks, sans-IO: only hints that make the driver poll a message at once.

The app signs each post with ``X-Signature`` = hex HMAC-SHA256(key, body + X-Timestamp). A hint
never carries state: the driver still learns it from ``GET /messages/{id}``, so a duplicated,
late or out-of-order webhook cannot settle a job wrongly; at worst it costs one poll.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from modemd.model import HintKind, HintVerdict

MAX_AGE_S = 300.0  # SMSGate's docs: refuse an X-Timestamp over 5 minutes off (replays)
SEEN_IDS = 4096  # envelope ids remembered: the app retries and sometimes posts twice
HOOK_EVENTS = ("sms:sent", "sms:delivered", "sms:failed")  # registered as modemd-<state>
RECEIVED_EVENT = "sms:received"  # registered too when the runtime takes received SMS


class SeenIds:
    """A bounded LRU set of envelope ids already acted on."""

    def __init__(self, size: int = SEEN_IDS) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        if key in self._ids:
            self._ids.move_to_end(key)
            return True
        return False

    def add(self, key: str) -> None:
        self._ids[key] = None
        self._ids.move_to_end(key)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


def signed(key: str, body: bytes, timestamp: str, signature: str) -> bool:
    """``X-Signature`` is lowercase hex HMAC-SHA256(key, body + X-Timestamp); constant time."""
    stamp = timestamp.encode(errors="replace")  # headers may carry anything: never a 500
    wanted = hmac.new(key.encode(), body + stamp, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(wanted, signature.encode(errors="replace"))


def fresh(timestamp: str, now: float) -> bool:
    """``X-Timestamp`` (Unix seconds) is at most ``MAX_AGE_S`` away from ``now``."""
    try:
        at = int(timestamp)
    except ValueError:
        return False
    return abs(now - at) <= MAX_AGE_S


def envelope_ids(body: bytes) -> tuple[str, str, str] | None:
    """The envelope's ``id``, ``event`` and ``payload.messageId``; None if the JSON is not such
    an object."""
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(payload, dict):
        return None
    envelope_id, message_id = data.get("id"), payload.get("messageId")
    if not isinstance(envelope_id, str) or not isinstance(message_id, str):
        return None
    return envelope_id, str(data.get("event", "")), message_id


def judge_hint(
    key: str,
    seen: SeenIds,
    body: bytes,
    headers: Mapping[str, str],
    now: float,
    poll_now: Callable[[str], bool],
    poll_inbox: Callable[[], bool] | None = None,
) -> HintVerdict:
    """Verify signature and freshness, drop duplicates, and ask ``poll_now`` for the message."""
    timestamp = headers.get("X-Timestamp", "")
    if not signed(key, body, timestamp, headers.get("X-Signature", "")):
        return HintVerdict(HintKind.UNSIGNED, "bad or missing X-Signature")
    if not fresh(timestamp, now):
        return HintVerdict(HintKind.STALE, f"X-Timestamp {timestamp[:20]!r} is over 5 minutes off")
    ids = envelope_ids(body)
    if ids is None:
        return HintVerdict(
            HintKind.MALFORMED, "not a webhook envelope with id and payload.messageId"
        )
    envelope_id, event, message_id = ids
    if envelope_id in seen:
        return HintVerdict(HintKind.DUPLICATE, "duplicate: already acted on")
    if event == RECEIVED_EVENT:
        if poll_inbox is None or not poll_inbox():
            return HintVerdict(HintKind.NOT_WAITING, "not reading its inbox")
    elif not poll_now(message_id):
        return HintVerdict(HintKind.NOT_WAITING, f"not waiting for {message_id[:80]}")
    seen.add(envelope_id)
    return HintVerdict(HintKind.ACTED, "polling the message now")
