"""Routes of two-way conversations (issue 15), registered together on the app."""

from __future__ import annotations

from aiohttp import web

from modemd.api import lists, optouts, rules, surveys
from modemd.api.keyed import BANK, SURVEY_ALARM, Authenticate
from modemd.runtime.alarm import Alarm
from modemd.runtime.bank import Bank


def add_routes(
    app: web.Application, authenticate: Authenticate, bank: Bank, alarm: Alarm | None = None
) -> None:
    """``/api/v1/lists``, ``/api/v1/optouts``, ``/api/v1/rules``, ``/api/v1/surveys``;
    ``alarm`` is the conversations loop's (without one, tests of the routes alone: an alarm
    nobody sleeps on)."""
    app[BANK] = bank
    app[SURVEY_ALARM] = alarm or Alarm()
    for area in (lists, optouts, rules, surveys):
        area.add_routes(app, authenticate)
