"""The README documents every conversation route, CLI group and IPN event."""

from __future__ import annotations

from pathlib import Path

from modemd.api.app import create_app
from modemd.runtime.bank import Bank
from modemd.store.db import Store
from modemd.store.pool_events import POOL_EVENT_TYPES

README = (Path(__file__).parents[2] / "README.md").read_text()
AREAS = ("/api/v1/lists", "/api/v1/optouts", "/api/v1/rules", "/api/v1/surveys")


async def test_every_conversation_route_and_event_is_in_the_readme(store: Store) -> None:
    app = create_app(store, Bank(store))
    paths = {
        r.resource.canonical
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith(AREAS)
    }
    assert len(paths) >= 14
    flat = " ".join(README.split())  # a path may be wrapped at a space, never inside
    for path in sorted(paths):
        assert path in flat, f"{path} is not in README.md"
    for event in POOL_EVENT_TYPES:
        assert f"`{event}`" in README
