"""Routes of two-way conversations (issue 15), registered together on the app."""

from __future__ import annotations

from aiohttp import web

from modemd.api import lists, optouts
from modemd.api.keyed import Authenticate


def add_routes(app: web.Application, authenticate: Authenticate) -> None:
    """``/api/v1/lists``, ``/api/v1/optouts``, ``/api/v1/rules``, ``/api/v1/surveys``."""
    lists.add_routes(app, authenticate)
    optouts.add_routes(app, authenticate)
