"""Routes of two-way conversations (issue 15), registered together on the app."""

from __future__ import annotations

from aiohttp import web

from modemd.api import lists, optouts, rules, surveys
from modemd.api.keyed import BANK, Authenticate
from modemd.runtime.bank import Bank


def add_routes(app: web.Application, authenticate: Authenticate, bank: Bank) -> None:
    """``/api/v1/lists``, ``/api/v1/optouts``, ``/api/v1/rules``, ``/api/v1/surveys``."""
    app[BANK] = bank
    for area in (lists, optouts, rules, surveys):
        area.add_routes(app, authenticate)
