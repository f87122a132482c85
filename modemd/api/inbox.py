"""GET /api/v1/inbox and /api/v1/inbox/{id}: the SMS the key's pool received (issue 14).

A key sees the messages of its pool that answer none of another key's jobs. Pages follow a
cursor (``cursor`` in, ``next_cursor`` out); ``Accept: text/csv`` (or ``format=csv``) gives CSV.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from modemd.api.keyed import Authenticate, add_keyed_routes, page_args, problem, wants_csv
from modemd.api.validation import normalise_number
from modemd.model import ApiKey
from modemd.store import inbound as inbound_rows
from modemd.store.db import Store
from modemd.timefmt import parse_time

INBOX_STORE: web.AppKey[Store] = web.AppKey("inbox_store", Store)
CSV_COLUMNS = ("id", "from", "text", "device_id", "received_at", "parts", "incomplete")


def _time(request: web.Request, name: str) -> float | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ValueError(f"{name}: not a time: {value[:40]!r}") from exc


async def list_inbox(request: web.Request, key: ApiKey) -> web.StreamResponse:
    """A page of the pool's received SMS, oldest first, filtered by from, device_id, since,
    until."""
    cursor, limit = page_args(request)
    if cursor is not None and not cursor.isdigit():
        raise ValueError("cursor must be a next_cursor this route gave")
    sender = request.query.get("from")
    if sender is not None:
        sender, _ = normalise_number(sender.strip(), key.default_country)
    rows = await request.app[INBOX_STORE].read(
        inbound_rows.list_inbound,
        pin=key.pin,
        key_id=key.key_id,
        sender=sender,
        device_id=request.query.get("device_id"),
        since=_time(request, "since"),
        until=_time(request, "until"),
        after_id=int(cursor or 0),
        limit=limit,
    )
    if wants_csv(request):
        return web.Response(text=_csv(rows), content_type="text/csv")
    next_cursor = str(rows[-1]["id"]) if len(rows) == limit else None
    return web.json_response({"response": "200", "messages": rows, "next_cursor": next_cursor})


async def get_message(request: web.Request, key: ApiKey) -> web.StreamResponse:
    ref = request.match_info["inbound_id"]
    found = None
    if ref.isdigit():
        found = await request.app[INBOX_STORE].read(
            inbound_rows.get_inbound, int(ref), pin=key.pin, key_id=key.key_id
        )
    if found is None:
        return problem(404, f"no received message {ref[:40]!r} for this key")
    return web.json_response({"response": "200", "message": found})


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return out.getvalue()


def add_routes(app: web.Application, store: Store, authenticate: Authenticate) -> None:
    app[INBOX_STORE] = store
    add_keyed_routes(
        app,
        authenticate,
        [
            ("GET", "/api/v1/inbox", list_inbox),
            ("GET", "/api/v1/inbox/{inbound_id}", get_message),
        ],
    )
