"""Surveys of the key's pool (``/api/v1/surveys``): make one, start it for numbers or a list,
read its results (JSON or CSV)."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from modemd.api.auth import STORE
from modemd.api.keyed import (
    BANK,
    SURVEY_ALARM,
    Authenticate,
    KeyedHandler,
    add_keyed_routes,
    json_object,
    number_of,
    wants_csv,
)
from modemd.conversations.specs import check_survey
from modemd.model import ApiKey
from modemd.store import survey_results, surveys

log = logging.getLogger(__name__)
MAX_NUMBERS = 10_000  # per start request; a bigger audience is a list


async def list_surveys(request: web.Request, key: ApiKey) -> web.StreamResponse:
    rows = await request.app[STORE].read(surveys.list_surveys, key.pin)
    return web.json_response({"response": "200", "surveys": rows})


async def create_survey(request: web.Request, key: ApiKey) -> web.StreamResponse:
    spec = check_survey(await json_object(request))
    row = await request.app[STORE].write(surveys.create_survey, key.pin, spec)
    log.info("key %d: survey %r in pool %s", key.key_id, spec.name, key.pin)
    return web.json_response({"response": "201", "survey": row}, status=201)


async def get_survey(request: web.Request, key: ApiKey) -> web.StreamResponse:
    ref = request.match_info["survey_id"]
    row = await request.app[STORE].read(surveys.get_survey, key.pin, ref)
    return web.json_response({"response": "200", "survey": row})


async def delete_survey(request: web.Request, key: ApiKey) -> web.StreamResponse:
    ref = request.match_info["survey_id"]
    survey_id = await request.app[STORE].write(surveys.delete_survey, key.pin, ref)
    return web.json_response({"response": "200", "survey_id": survey_id, "deleted": True})


async def start_survey(request: web.Request, key: ApiKey) -> web.StreamResponse:
    """``{"numbers": [...]}`` or ``{"list": "<id or name>"}``: a session each, first question
    sent; numbers that opted out are skipped (and listed)."""
    data = await json_object(request)
    ref = request.match_info["survey_id"]
    store, now = request.app[STORE], time.time()
    if ("numbers" in data) == ("list" in data):
        raise ValueError("give either 'numbers' (a list) or 'list' (a list's id or name)")
    if "list" in data:
        if not isinstance(data["list"], str | int) or isinstance(data["list"], bool):
            raise ValueError("'list' must be a list's id or name")
        jobs, skipped = await store.write(surveys.start_for_list, key.pin, ref, data["list"], now)
    else:
        raw = data["numbers"]
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_NUMBERS:
            raise ValueError(f"'numbers' must be a list of 1 to {MAX_NUMBERS} numbers")
        numbers = [number_of(key, n) for n in raw]
        jobs, skipped = await store.write(surveys.start, key.pin, ref, numbers, now)
    bank = request.app[BANK]
    for job in jobs:
        bank.submit(job)
    if jobs:  # new sessions: their time-out may be the conversations loop's first deadline
        request.app[SURVEY_ALARM].ring()
    log.info("key %d: survey %s started for %d numbers", key.key_id, ref, len(jobs))
    return web.json_response(
        {
            "response": "200",
            "started": [{"number": j.to, "job_id": j.job_id} for j in jobs],
            "skipped_opted_out": skipped,
        }
    )


async def results(request: web.Request, key: ApiKey) -> web.StreamResponse:
    ref = request.match_info["survey_id"]
    found = await request.app[STORE].read(survey_results.results, key.pin, ref)
    if wants_csv(request):
        return web.Response(
            text=survey_results.results_csv(found),
            content_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="survey-{found["survey_id"]}.csv"'
            },
        )
    return web.json_response({"response": "200", **found})


def add_routes(app: web.Application, authenticate: Authenticate) -> None:
    routes: list[tuple[str, str, KeyedHandler]] = [
        ("GET", "/api/v1/surveys", list_surveys),
        ("POST", "/api/v1/surveys", create_survey),
        ("GET", "/api/v1/surveys/{survey_id}", get_survey),
        ("DELETE", "/api/v1/surveys/{survey_id}", delete_survey),
        ("POST", "/api/v1/surveys/{survey_id}/start", start_survey),
        ("GET", "/api/v1/surveys/{survey_id}/results", results),
    ]
    add_keyed_routes(app, authenticate, routes)
