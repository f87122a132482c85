"""Console pages of later features, plugged in with ``add_page``: received SMS, contact lists
with their opt-outs, and campaigns with their progress. Read-only: the API and the CLI change
them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from modemd.api.auth import STORE
from modemd.api.console.auth import Render
from modemd.store import campaign_views, contacts, inbound_views, optouts
from modemd.store import console as console_rows
from modemd.store import devices as device_rows

__all__ = ["CAMPAIGNS_SHOWN", "OPTOUTS_SHOWN", "pages"]

OPTOUTS_SHOWN = 50  # per pool; the API and CLI page through them all
CAMPAIGNS_SHOWN = 50  # the newest
Handler = Callable[[web.Request], Awaitable[web.Response]]


def _page_number(value: str | None) -> int | None:
    """A positive whole number from the query, else None (absent, or a hand-edited URL)."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


def pages(render: Render) -> list[tuple[str, str, Handler]]:
    """(menu title, path, handler) of each page."""

    async def inbound_page(request: web.Request) -> web.Response:
        store, q = request.app[STORE], request.query
        filters = {name: q.get(name, "").strip() for name in ("pin", "device_id", "sender")}
        limit = _page_number(q.get("limit")) or inbound_views.PAGE_SIZE
        messages, older = await store.read(
            inbound_views.inbound_page,
            **{name: value or None for name, value in filters.items()},
            before_id=_page_number(q.get("before")),
            inbound_id=_page_number(q.get("id")),
            limit=limit,
        )
        devices = await store.read(device_rows.list_devices)
        return render(
            request,
            "inbound.html",
            messages=messages,
            query=filters,
            paged="before" in q or "id" in q,
            older=None if older is None else {**filters, "before": older, "limit": limit},
            pins=await store.read(console_rows.known_pins),
            devices=sorted(d["device_id"] for d in devices),
        )

    async def lists_page(request: web.Request) -> web.Response:
        store = request.app[STORE]
        pools = []
        for pin in await store.read(console_rows.known_pins):
            lists = await store.read(contacts.list_lists, pin)
            opted_out, more = await store.read(optouts.list_opted_out, pin, None, OPTOUTS_SHOWN)
            if lists or opted_out:
                pools.append({"pin": pin, "lists": lists, "optouts": opted_out, "more": more})
        return render(request, "lists.html", pools=pools)

    async def campaigns_page(request: web.Request) -> web.Response:
        store = request.app[STORE]
        shown = []
        for row in await store.read(campaign_views.list_campaigns, None, CAMPAIGNS_SHOWN):
            found = await store.read(campaign_views.detail, row["campaign_id"])
            counts = found["counts"]
            total = max(found["total"], 1)
            found["progress"] = {
                name: round(100 * counts.get(name, 0) / total, 1)
                for name in ("delivered", "sent", "failed", "queued")
            }
            shown.append(found)
        return render(request, "campaigns.html", campaigns=shown)

    return [
        ("Inbound", "/console/inbound", inbound_page),
        ("Lists", "/console/lists", lists_page),
        ("Campaigns", "/console/campaigns", campaigns_page),
    ]
