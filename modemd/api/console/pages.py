"""The console's pages and forms: overview, jobs (search, timeline), keys (create shown once,
revoke, rotate, wallets, prices, top-up), IPN (dead letters with replay, disabled endpoints).
Every read and write goes through store/ functions; forms answer 303 to the page (or, for a
new secret, the page with the secret shown once)."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from modemd.api.auth import STORE
from modemd.api.console.auth import Render, redirect, signed_in
from modemd.api.console.charts import bar_chart
from modemd.api.keyspec import KeySettingsError, check_destination, check_settings
from modemd.model import LANE_ORDER, JobState, Pacing
from modemd.observe.metrics import UP_STATES, rssi_to_dbm
from modemd.store import console as console_rows
from modemd.store import endpoints, inbound_views, stats, wallet
from modemd.store import events as outbox
from modemd.store import keys as key_rows
from modemd.store.db import Store

__all__ = ["add_routes"]

log = logging.getLogger(__name__)

CHART_DAYS = 14
SETTLED_AFTER_S = 4 * 86400  # a day ended this long ago: its jobs' reports are in (72 h window)
KEEP_SETTLED_S = 600.0  # such a day's counts are read again after this (an operator's retry)
SIGNAL_BARS_DBM = (-105, -95, -85, -75)  # one bar per threshold passed (0-4 bars)


def _days(count: int) -> list[tuple[float, float]]:
    """The last ``count`` local days as (start, end), oldest first (a DST day is 23 or 25 h)."""
    today = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    bounds = [
        datetime.fromordinal(today.toordinal() - back).astimezone().timestamp()
        for back in range(count - 1, -2, -1)
    ]
    return list(itertools.pairwise(bounds))


class DayCache:
    """Counts of days that can hardly change any more (reports come within 72 h) are kept a
    while, so a refreshing overview re-reads only the recent days (bench/console_stats.py)."""

    def __init__(self) -> None:
        self._kept: dict[float, tuple[float, stats.DayCounts]] = {}

    async def counts(self, store: Store, days: list[tuple[float, float]]) -> list[stats.DayCounts]:
        now = time.time()
        stale = [
            (start, end)
            for start, end in days
            if end > now - SETTLED_AFTER_S
            or now - self._kept.get(start, (float("-inf"), None))[0] > KEEP_SETTLED_S
        ]
        for (start, _), counted in zip(
            stale, await store.read(stats.daily_counts, stale), strict=True
        ):
            self._kept[start] = (now, counted)
        self._kept = {s: v for s, v in self._kept.items() if s >= days[0][0]}
        return [self._kept[start][1] for start, _ in days]


def _device_rows(
    snap: stats.Snapshot, pacing: Callable[[str, str], Pacing]
) -> list[dict[str, Any]]:
    rows = []
    for d in snap.devices:
        dbm = rssi_to_dbm(d.signal)
        cap = pacing(d.device_id, d.iccid or "").daily_cap  # the SIM's cap
        today = snap.parts_today.get(d.device_id, 0)
        rows.append(
            {
                **d._asdict(),
                "up": d.state in UP_STATES,
                "dbm": dbm,
                "bars": sum(dbm >= t for t in SIGNAL_BARS_DBM) if dbm is not None else None,
                "parts_today": today,
                "daily_cap": cap,
                "capped": cap is not None and today >= cap,
            }
        )
    return rows


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _date(value: str | None, *, end: bool = False) -> float | None:
    """``YYYY-MM-DD`` (local) as Unix seconds; ``end``: the start of the next day."""
    try:
        day = datetime.strptime(value or "", "%Y-%m-%d").astimezone()
    except ValueError:
        return None
    return day.timestamp() + (86400 if end else 0)


def _key_settings(form: Any) -> dict[str, Any]:
    """The create form as the admin API's JSON body (same checks, same errors)."""
    wanted: dict[str, Any] = {"pin": str(form.get("pin", "")).strip()}
    allow = str(form.get("allow_ips", "")).replace(",", " ").split()
    if allow:
        wanted["allow_ips"] = allow
    wanted["over_ip"] = form.get("over_ip") == "on"
    for name in ("ipn_url", "label", "default_country"):
        if value := str(form.get(name, "")).strip():
            wanted[name] = value
    if (limit := _int(str(form.get("rate_limit", "")))) is not None:
        wanted["rate_limit"] = limit
    return wanted


def add_routes(app: web.Application, render: Render, pacing: Callable[[str, str], Pacing]) -> None:
    """Register the pages and their forms (all behind a signed-in session)."""
    store = app[STORE]
    cache = DayCache()

    async def overview(request: web.Request) -> web.Response:
        windows = _days(CHART_DAYS)
        today_start = windows[-1][0]
        snap = await store.read(stats.snapshot, today_start, today_start, True)
        days = await cache.counts(store, windows)
        today = await store.read(stats.device_counts, today_start)
        sent = sum(d.sent for d in days)
        pools: dict[str, dict[str, int]] = {}
        empty = {"devices": 0, "ready": 0, "received": 0} | {lane.value: 0 for lane in LANE_ORDER}
        for d in snap.devices:
            pool = pools.setdefault(d.pin, dict(empty))
            pool["devices"] += 1
            pool["ready"] += d.state in UP_STATES
        for (pin, lane), n in snap.lanes.items():
            pools.setdefault(pin, dict(empty))[lane] = n
        for pin, n in (await store.read(stats.received_since, today_start)).items():
            pools.setdefault(pin, dict(empty))["received"] = n
        return render(
            request,
            "overview.html",
            devices=_device_rows(snap, pacing),
            pools=dict(sorted(pools.items())),
            lanes=[lane.value for lane in LANE_ORDER],
            dead_letters=snap.dead_letters,
            days_chart=bar_chart("chart-days", f"Jobs per day, last {CHART_DAYS} days", days),
            devices_chart=bar_chart("chart-devices", "Jobs per device today", today, 6),
            ratio=(sum(d.delivered for d in days) / sent) if sent else None,
            totals={name: sum(getattr(d, name) for d in days) for name in ("sent", "failed")},
        )

    async def jobs_page(request: web.Request) -> web.Response:
        q = request.query
        found = await store.read(
            console_rows.search_jobs,
            number=q.get("number") or None,
            state=q.get("state") if q.get("state") in {s.value for s in JobState} else None,
            key_id=_int(q.get("key_id")),
            since=_date(q.get("since")),
            until=_date(q.get("until"), end=True),
        )
        return render(request, "jobs.html", jobs=found, query=q, states=[s.value for s in JobState])

    async def job_page(request: web.Request) -> web.Response:
        timeline = await store.read(console_rows.job_timeline, request.match_info["job_id"])
        if timeline is None:
            return render(request, "message.html", status=404, message="no such job")
        answers = await store.read(inbound_views.answers_to, timeline["job_id"])
        return render(request, "job.html", job={**timeline, "answers": answers})

    async def keys_page(request: web.Request, **extra: Any) -> web.Response:
        rows = await store.read(key_rows.list_keys)
        for row in rows:
            row["wallet"] = await store.read(wallet.balance, row["key_id"])
        prices = await store.read(wallet.list_prices)
        context = {"secret": None, "error": None, "done": request.query.get("done"), **extra}
        return render(
            request,
            "keys.html",
            status=400 if context["error"] else 200,
            keys=rows,
            prices=prices,
            **context,
        )

    async def create_key(request: web.Request) -> web.Response:
        try:
            wanted = check_settings(_key_settings(await request.post()))
        except (KeySettingsError, ValueError) as exc:
            return await keys_page(request, error=str(exc))
        key, secret = await store.write(key_rows.create_key, **wanted.columns())
        log.info("console: key %d for pin %s created", key.key_id, key.pin)
        return await keys_page(request, secret={"key_id": key.key_id, "apikey": secret})

    async def key_action(request: web.Request) -> web.Response:
        key_id, action = int(request.match_info["key_id"]), request.match_info["action"]
        form = await request.post()
        try:
            if action == "revoke":
                if not await store.write(key_rows.revoke_key, key_id):
                    raise ValueError(f"no live key {key_id}")
            elif action == "rotate":
                grace = float(str(form.get("grace_s") or 0))
                rotated = await store.write(key_rows.rotate_key, key_id, grace)
                if rotated is None:
                    raise ValueError(f"no live key {key_id}")
                log.info("console: key %d rotated (old secret valid %s s more)", key_id, grace)
                return await keys_page(request, secret={"key_id": key_id, "apikey": rotated[1]})
            elif action == "topup":
                if await store.read(key_rows.get_key, key_id) is None:
                    raise ValueError(f"no live key {key_id}")
                amount = wallet.parse_amount(str(form.get("amount", "")))
                await store.write(wallet.topup, key_id, amount, str(form.get("note", ""))[:200])
        except (KeySettingsError, ValueError) as exc:
            return await keys_page(request, error=str(exc))
        log.info("console: key %d %s", key_id, action)
        return redirect(f"/console/keys?done=key+{key_id}+{action}")

    async def set_price(request: web.Request) -> web.Response:
        form = await request.post()
        try:
            destination = check_destination(str(form.get("destination", "")).strip())
            per_part = wallet.parse_amount(str(form.get("per_part", "")))
        except (KeySettingsError, ValueError) as exc:
            return await keys_page(request, error=str(exc))
        await store.write(wallet.set_price, destination, per_part)
        log.info("console: price of %s set", destination)
        return redirect("/console/keys?done=price+set")

    async def ipn_page(request: web.Request) -> web.Response:
        dead = await store.read(outbox.list_by_state, "failed", None, 200)
        disabled = await store.read(console_rows.disabled_endpoints)
        return render(
            request, "ipn.html", dead=dead, disabled=disabled, done=request.query.get("done")
        )

    async def replay(request: web.Request) -> web.Response:
        event_id = request.match_info["event_id"]
        replayed = await store.write(outbox.replay, event_id=event_id)
        log.info("console: IPN %s replayed (%d)", event_id, len(replayed))
        return redirect(f"/console/ipn?done={'replayed' if replayed else 'nothing+to+replay'}")

    async def enable(request: web.Request) -> web.Response:
        key_id = int(request.match_info["key_id"])
        await store.write(endpoints.enable, key_id)
        log.info("console: IPN endpoint of key %d enabled", key_id)
        return redirect("/console/ipn?done=endpoint+enabled")

    routes: list[tuple[str, str, Any]] = [
        ("GET", "/console/", overview),
        ("GET", "/console/jobs", jobs_page),
        ("GET", "/console/jobs/{job_id}", job_page),
        ("GET", "/console/keys", keys_page),
        ("POST", "/console/keys", create_key),
        ("POST", r"/console/keys/{key_id:\d+}/{action:revoke|rotate|topup}", key_action),
        ("POST", "/console/prices", set_price),
        ("GET", "/console/ipn", ipn_page),
        ("POST", "/console/ipn/{event_id}/replay", replay),
        (r"POST", r"/console/ipn/endpoints/{key_id:\d+}/enable", enable),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, signed_in(handler))
