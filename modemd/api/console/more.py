"""Console pages of later features, plugged in with ``add_page``: contact lists with their
opt-outs, and campaigns with their progress. Read-only: the API and the CLI change them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from modemd.api.auth import STORE
from modemd.api.console.auth import Render
from modemd.store import campaign_views, contacts, optouts
from modemd.store import console as console_rows

__all__ = ["CAMPAIGNS_SHOWN", "OPTOUTS_SHOWN", "pages"]

OPTOUTS_SHOWN = 50  # per pool; the API and CLI page through them all
CAMPAIGNS_SHOWN = 50  # the newest
Handler = Callable[[web.Request], Awaitable[web.Response]]


def pages(render: Render) -> list[tuple[str, str, Handler]]:
    """(menu title, path, handler) of each page."""

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
        ("Lists", "/console/lists", lists_page),
        ("Campaigns", "/console/campaigns", campaigns_page),
    ]
