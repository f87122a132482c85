"""An event's body: its timestamp is datetime's ISO form to the millisecond (made once a second
for the date part), the JSON compact."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from modemd.store.event_body import event_body, timestamp


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")


def test_timestamp_is_datetimes_iso_form_to_the_millisecond() -> None:
    # A fraction just under the next millisecond (or second) that rounds up at the microsecond,
    # the same instants again (the date part cached), and a spread of others.
    edges = [1796190611.9069996, 1_000_000_000.9999995, 1_000_000_000.9999994, 0.0, 1.0005]
    spread = [random.Random(21).uniform(0, 4e9) for _ in range(2000)]
    for now in [*edges, *edges, *sorted(spread)]:
        assert timestamp(now) == _iso(now), now


def test_event_body_is_compact_json_with_its_fields() -> None:
    body = event_body("sms.sent", "evt_1", 1_800_000_000.25, {"job_id": "job_1", "to": "+39"})
    assert " " not in body
    assert json.loads(body) == {
        "type": "sms.sent",
        "event_id": "evt_1",
        "timestamp": "2027-01-15T08:00:00.250+00:00",
        "data": {"job_id": "job_1", "to": "+39"},
    }
