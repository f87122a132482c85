"""Schedule routes (issue 16): ``POST/GET /api/v1/schedules``, ``GET/DELETE
/api/v1/schedules/{schedule_id}``. Each slot of a schedule makes one campaign."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from modemd.api.answers import KeyOf, refused
from modemd.api.answers import keyed as answers_keyed
from modemd.api.auth import authenticate, caller_ip
from modemd.api.campaign_report import RowChecker
from modemd.api.campaign_upload import TooLargeError, json_rows, read_json
from modemd.api.campaigns import RUNNER
from modemd.api.contract import StatusCode
from modemd.api.timing import parse_ttl
from modemd.api.validation import RequestError
from modemd.model import ApiKey, Lane
from modemd.runtime.slots import RuleError, check, next_slots
from modemd.store import schedules as schedule_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

MAX_SCHEDULE_RECIPIENTS = 10_000  # each slot copies them into a campaign in one transaction


def _text(fields: dict[str, Any], name: str, default: str = "") -> str:
    value = fields.get(name, default)
    if not isinstance(value, str):
        raise RequestError(StatusCode.PARAM_ERROR, f"'{name}' must be a string")
    return value.strip()


def parse_schedule(
    fields: dict[str, Any], default_country: str | None, now: float, allow_premium: bool = False
) -> dict[str, Any]:
    """The schedule's settings and validated recipients, or ``RequestError``."""
    template = _text(fields, "template")
    if not template:
        raise RequestError(StatusCode.MISSING_MSG, "missing 'template' (the message text)")
    kinds = [k for k in ("cron", "rrule") if fields.get(k) not in (None, "")]
    if len(kinds) != 1:
        raise RequestError(StatusCode.PARAM_ERROR, "give one of 'cron' or 'rrule'")
    kind = kinds[0]
    timezone = _text(fields, "timezone", "UTC") or "UTC"
    missed = _text(fields, "missed", "run_once") or "run_once"
    if missed not in schedule_rows.MISSED_POLICIES:
        raise RequestError(StatusCode.PARAM_ERROR, "'missed' must be skip or run_once")
    try:
        rule = check(kind, _text(fields, kind), timezone, now)
    except RuleError as exc:
        raise RequestError(StatusCode.PARAM_ERROR, f"'{kind}': {exc}") from exc
    recipients = fields.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise RequestError(StatusCode.PARAM_ERROR, "'recipients' must be a non-empty list")
    if len(recipients) > MAX_SCHEDULE_RECIPIENTS:
        raise RequestError(
            StatusCode.PARAM_ERROR, f"at most {MAX_SCHEDULE_RECIPIENTS} recipients per schedule"
        )
    lane_value = _text(fields, "lane", "bulk") or "bulk"
    if lane_value not in {lane.value for lane in Lane}:
        raise RequestError(StatusCode.PARAM_ERROR, "'lane' must be one of high, bulk")
    rows = json_rows(recipients)
    checker = RowChecker(template, next(rows), default_country, allow_premium=allow_premium)
    valid = [r for line, cells in enumerate(rows, 1) if (r := checker.check(line, cells))]
    report = checker.report()
    if not valid:
        raise RequestError(StatusCode.PARAM_ERROR, f"no valid recipients: {report['invalid'][:3]}")
    ttl = fields.get("ttl")
    return {
        "name": _text(fields, "name")[:200],
        "kind": kind,
        "expression": rule.expression,
        "timezone": timezone,
        "missed": missed,
        "template": template,
        "recipients": valid,
        "report": report,
        "lane": Lane(lane_value),
        "ttl_s": parse_ttl(ttl) if ttl not in (None, "") else None,
        "rule": rule,
    }


def add_routes(app: web.Application, store: Store, key_of: KeyOf) -> None:
    """Register the schedule routes on ``app``."""

    async def create(request: web.Request) -> web.Response:
        """POST /api/v1/schedules (JSON)."""
        try:
            fields = await read_json(request)
            key, _ = await authenticate(request, fields)
            pin = str(fields.get("pin") or key.pin)
            if pin != key.pin:
                raise RequestError(
                    StatusCode.API_KEY_ERROR, f"this apikey is not valid for pin {pin}"
                )
            now = time.time()
            wanted = parse_schedule(fields, key.default_country, now, key.allow_premium)
        except TooLargeError:
            return refused(RequestError(StatusCode.PARAM_ERROR, "the body is over 50 MB"))
        except RequestError as exc:
            log.info("schedule from %s refused: %s", caller_ip(request), exc.message)
            return refused(exc)
        rule = wanted.pop("rule")
        upcoming = next_slots(rule, now, 3)
        schedule_id = await store.write(
            schedule_rows.create,
            key_id=key.key_id,
            pin=pin,
            start=now,
            next_slot=upcoming[0],
            **wanted,
        )
        request.app[RUNNER].schedules_changed()  # the scheduler sleeps until the next slot
        log.info(
            "schedule %s created by key %d: %s %s",
            schedule_id,
            key.key_id,
            wanted["kind"],
            wanted["expression"],
        )
        shown = await store.read(schedule_rows.detail, schedule_id, pin)
        return web.json_response({"response": "200", "schedule": {**shown, "upcoming": upcoming}})

    keyed = answers_keyed(key_of)

    async def list_all(request: web.Request, key: ApiKey) -> web.Response:
        found = await store.read(schedule_rows.list_schedules, key.pin)
        return web.json_response({"response": "200", "schedules": found})

    async def show(request: web.Request, key: ApiKey) -> web.Response:
        shown = await store.read(schedule_rows.detail, request.match_info["schedule_id"], key.pin)
        return web.json_response({"response": "200", "schedule": shown})

    async def remove(request: web.Request, key: ApiKey) -> web.Response:
        schedule_id = request.match_info["schedule_id"]
        await store.write(schedule_rows.remove, schedule_id, key.pin)
        request.app[RUNNER].schedules_changed()
        log.info("schedule %s removed by key %d", schedule_id, key.key_id)
        return web.json_response({"response": "200", "schedule_id": schedule_id})

    app.router.add_post("/api/v1/schedules", create)
    app.router.add_get("/api/v1/schedules", keyed(list_all))
    app.router.add_get("/api/v1/schedules/{schedule_id}", keyed(show))
    app.router.add_delete("/api/v1/schedules/{schedule_id}", keyed(remove))
