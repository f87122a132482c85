"""IPN dead letters and replays, and operator retries of jobs, over the API (key-scoped)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from modemd.api.answers import answer
from modemd.errors import InvalidTransitionError
from modemd.model import ApiKey, EventState
from modemd.runtime.bank import Bank
from modemd.store import audit
from modemd.store import events as outbox
from modemd.store import jobs as job_rows
from modemd.store.db import Store
from modemd.timefmt import parse_time

log = logging.getLogger(__name__)

Authenticate = Callable[[web.Request], Awaitable[ApiKey | web.Response]]
KeyedHandler = Callable[[web.Request, ApiKey], Awaitable[web.Response]]
Handler = Callable[[web.Request], Awaitable[web.Response]]
EVENT_STATES = {s.value for s in EventState}


def _when(value: str | None, name: str) -> float | None:
    """An ISO-8601 time or Unix seconds from the query string."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise web.HTTPBadRequest(reason=f"{name}: not a time: {value[:40]!r}") from exc


def add_routes(app: web.Application, store: Store, bank: Bank, authenticate: Authenticate) -> None:
    """Register the IPN and retry routes on ``app``."""

    def keyed(handler: KeyedHandler) -> Handler:
        """The handler runs only for a request with a valid key (the key is passed on)."""

        async def checked(request: web.Request) -> web.Response:
            key = await authenticate(request)
            if isinstance(key, web.Response):
                return key
            return await handler(request, key)

        return checked

    async def list_ipn(request: web.Request, key: ApiKey) -> web.Response:
        """GET /api/v1/ipn?state=failed: the key's events in a state (dead letters)."""
        state = request.query.get("state", EventState.FAILED.value)
        if state not in EVENT_STATES:
            return answer(400, f"state must be one of {', '.join(sorted(EVENT_STATES))}")
        rows = await store.read(outbox.list_by_state, state, key.key_id)
        return web.json_response({"response": "200", "events": rows})

    async def replay_one(request: web.Request, key: ApiKey) -> web.Response:
        """POST /api/v1/ipn/{event_id}/replay: send a dead letter again (same webhook-id)."""
        event_id = request.match_info["event_id"]
        replayed = await store.write(
            audit.audited,
            f"api key {key.key_id}",
            "ipn.replay",
            event_id,
            outbox.replay,
            key_id=key.key_id,
            event_id=event_id,
        )
        if not replayed:
            return answer(404, f"no dead letter {event_id} for this key")
        log.info("IPN %s replayed on request of key %d", event_id, key.key_id)
        return web.json_response({"response": "200", "replayed": replayed})

    async def replay_range(request: web.Request, key: ApiKey) -> web.Response:
        """POST /api/v1/ipn/replay?since=&until=: every dead letter created in the range."""
        since = _when(request.query.get("since"), "since")
        until = _when(request.query.get("until"), "until")
        replayed = await store.write(
            audit.audited,
            f"api key {key.key_id}",
            "ipn.replay",
            f"key {key.key_id}",
            outbox.replay,
            key_id=key.key_id,
            since=since,
            until=until,
        )
        log.info("%d IPNs replayed on request of key %d", len(replayed), key.key_id)
        return web.json_response({"response": "200", "replayed": replayed})

    async def retry_job(request: web.Request, key: ApiKey) -> web.Response:
        """POST /api/v1/jobs/{job_id}/retry: a person resends an unknown/failed/expired job."""
        job_id = request.match_info["job_id"]
        job = await store.read(job_rows.get_job, job_id)
        if job is None or job.key_id != key.key_id:
            return answer(404, "no such job")
        try:
            queued = await store.write(job_rows.retry_by_operator, job_id)
        except InvalidTransitionError as exc:
            return answer(409, str(exc))
        log.warning("job %s retried by its key's owner after %s", job_id, job.state)
        offers = bank.submit(queued)
        return web.json_response(
            {
                "response": "200",
                "job_id": job_id,
                "state": queued.state,
                "records": [o.device_id for o in offers],
            }
        )

    app.router.add_get("/api/v1/ipn", keyed(list_ipn))
    app.router.add_post("/api/v1/ipn/replay", keyed(replay_range))
    app.router.add_post("/api/v1/ipn/{event_id}/replay", keyed(replay_one))
    app.router.add_post("/api/v1/jobs/{job_id}/retry", keyed(retry_job))
