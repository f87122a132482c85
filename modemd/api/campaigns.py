"""Campaign routes (issue 16): create from a file or a JSON list (the validation report), start,
pause, resume, cancel, progress (JSON and Server-Sent Events); and cancelling a queued job."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

from modemd.api.answers import KeyOf, refused
from modemd.api.answers import keyed as answers_keyed
from modemd.api.auth import authenticate, caller_ip
from modemd.api.campaign_files import MAX_FILE_BYTES, inspect, rows
from modemd.api.campaign_report import RowChecker
from modemd.api.campaign_upload import TooLargeError, Upload, json_rows, read_upload
from modemd.api.contract import StatusCode
from modemd.api.timing import parse_timing
from modemd.api.validation import RequestError, valid_utf8
from modemd.model import ApiKey, CampaignState, Job, Lane
from modemd.runtime.bank import Offer
from modemd.runtime.campaigns import CampaignRunner
from modemd.store import campaign_views, contacts, optouts, wallet
from modemd.store import campaigns as campaign_rows
from modemd.store import queue as queue_rows

log = logging.getLogger(__name__)

RUNNER: web.AppKey[CampaignRunner] = web.AppKey("campaign_runner", CampaignRunner)
ROW_BATCH = 2000  # rows checked (in a thread) and stored per step
DEFAULT_SEND_S = 3.0  # a modem's AT+CMGS takes 2-6 s (service.DRAIN_TIMEOUT_S's note)
MIN_PROGRESS_EVERY_S = 1.0
SSE_INTERVAL_S = 1.0  # progress is looked at this often for an event stream
FINISHED = (CampaignState.DONE.value, CampaignState.CANCELLED.value)


def dispatch(app: web.Application, job: Job) -> list[Offer]:
    """Offer an accepted job: a high-lane job due now goes to its pool at once; the others
    wait in the database for the feeder (their time, or room in the bulk lane)."""
    feeder = app[RUNNER].feeder
    if job.lane is Lane.HIGH and job.send_at is None:
        here = feeder.bank.submit(job)
    else:
        feeder.wake()
        here = feeder.bank.offers(job.pin, job.id_device)
    remote = feeder.bank.remote_offers(job.pin, job.id_device)  # other hosts' (PostgreSQL)
    return here + remote if remote else here  # (the pool's kept list: its records are kept)


def _options(fields: dict[str, Any], now: float) -> dict[str, Any]:
    """The campaign's settings from the request's fields."""
    template = fields.get("template") or fields.get("msg")
    if not isinstance(template, str) or not template.strip():
        raise RequestError(StatusCode.MISSING_MSG, "missing 'template' (the message text)")
    timing = parse_timing(fields, now)
    rate = fields.get("rate_per_min")
    if rate not in (None, ""):
        try:
            rate = int(str(rate))
        except ValueError:
            rate = 0
        if not 1 <= rate <= 1_000_000:
            raise RequestError(StatusCode.PARAM_ERROR, "'rate_per_min' must be 1 to 1000000")
    every = fields.get("progress_every_s", 10)
    try:
        every = float(every)
    except (TypeError, ValueError):
        every = 0.0
    if not MIN_PROGRESS_EVERY_S <= every <= 86400:
        raise RequestError(StatusCode.PARAM_ERROR, "'progress_every_s' must be 1 to 86400")
    starts = timing.send_at or now
    name = fields.get("name", "")
    return {
        "template": template,
        "name": str(name)[:200] if name else "",
        "lane": timing.lane or Lane.BULK,
        "rate_per_min": rate or None,
        "send_at": timing.send_at,
        "ttl_s": timing.valid_until - starts if timing.valid_until else None,
        "progress_every_s": every,
    }


def _dry_run(fields: dict[str, Any]) -> bool:
    return str(fields.get("dry_run", "")).lower() in ("1", "true", "yes")


def add_routes(app: web.Application, runner: CampaignRunner, key_of: KeyOf) -> None:
    """Register the campaign routes and ``POST /api/v1/jobs/{job_id}/cancel``."""
    app[RUNNER] = runner
    store = runner.store

    async def create(request: web.Request) -> web.Response:
        """POST /api/v1/campaigns: validate the recipients; a draft (or, dry run, only the
        report). Nothing is kept when the request is refused."""
        upload: Upload | None = None
        try:
            upload = await read_upload(request)
            key, _ = await authenticate(request, upload.fields)
            pin = str(upload.fields.get("pin") or key.pin)
            if pin != key.pin:
                raise RequestError(
                    StatusCode.API_KEY_ERROR, f"this apikey is not valid for pin {pin}"
                )
            options = _options(upload.fields, time.time())
            shown = await _validate(request, key, pin, options, upload)
        except TooLargeError:
            return web.json_response(
                {
                    "response": "413",
                    "status_code": str(StatusCode.PARAM_ERROR.value),
                    "status": "param_error",
                    "message": f"the upload is over {MAX_FILE_BYTES // (1024 * 1024)} MB",
                },
                status=413,
            )
        except RequestError as exc:
            log.info("campaign from %s refused: %s", caller_ip(request), exc.message)
            answer = refused(exc)
            if isinstance(exc, NoValidRowsError):
                payload = json.loads(answer.body)  # type: ignore[arg-type]
                return web.json_response({**payload, "report": exc.report}, status=answer.status)
            return answer
        finally:
            if upload is not None:
                upload.close()
        return web.json_response({"response": "200", "campaign": shown})

    async def _validate(
        request: web.Request, key: ApiKey, pin: str, options: dict[str, Any], upload: Upload
    ) -> dict[str, Any]:
        dry = _dry_run(upload.fields)
        source: Iterator[list[str]]
        kind = None
        if upload.path is not None:
            kind = inspect(upload.path)
            source, first = rows(upload.path, kind), 1
        elif upload.recipients is not None:
            source, first = json_rows(upload.recipients), 0
        elif upload.fields.get("list") not in (None, ""):
            source, first = json_rows(await _list_members(pin, upload.fields["list"])), 0
        else:
            raise RequestError(StatusCode.PARAM_ERROR, "no file and no 'recipients'")
        header = await asyncio.to_thread(next, source, None)
        if header is None:
            raise RequestError(StatusCode.PARAM_ERROR, "the file has no rows")
        opted_out = await store.read(optouts.opted_out_numbers, pin)
        checker = RowChecker(
            options["template"], header, key.default_country, opted_out, key.allow_premium
        )
        campaign_id = (
            None
            if dry
            else await store.write(campaign_rows.create, key_id=key.key_id, pin=pin, **options)
        )
        try:
            cost = 0
            line = first
            while True:
                batch, line = await asyncio.to_thread(_check_batch, source, checker, line)
                if campaign_id is None:
                    cost += await store.read(campaign_rows.batch_cost, key.key_id, batch)
                elif batch:
                    cost += await store.write(campaign_rows.add_recipients, campaign_id, batch)
                if line < 0:
                    break
            report = checker.report()
            report.update(await _estimates(request, key, pin, report, cost))
            if kind is not None:
                report.update(format=kind.format, encoding=kind.encoding, separator=kind.separator)
            if checker.valid == 0:
                raise NoValidRowsError(report)
            if campaign_id is None:
                return {"campaign_id": None, "state": "dry_run", "report": report}
            await store.write(campaign_rows.finish_validation, campaign_id, report)
        except BaseException:
            if campaign_id is not None:
                await asyncio.shield(store.write(campaign_rows.discard, campaign_id))
            raise
        log.info(
            "campaign %s created by key %d: %d valid, %d invalid, %d duplicates",
            campaign_id,
            key.key_id,
            checker.valid,
            checker.invalid_count,
            checker.duplicates,
        )
        return await store.read(campaign_views.detail, campaign_id)

    async def _list_members(pin: str, ref: Any) -> list[dict[str, str]]:
        """A contact list's members as recipients: ``to``, ``name`` and their own fields."""
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            raise RequestError(StatusCode.PARAM_ERROR, "'list' must be a list's id or name")
        if isinstance(ref, str):
            valid_utf8(ref, "list")  # a lone surrogate cannot be looked up (it was a 500)
        try:
            members = await store.read(contacts.all_members, pin, ref)
        except contacts.NotFoundError as exc:
            raise RequestError(StatusCode.PARAM_ERROR, f"no contact list {ref!r}") from exc
        return [{**m["fields"], "name": m["name"] or "", "to": m["number"]} for m in members]

    async def _estimates(
        request: web.Request, key: ApiKey, pin: str, report: dict[str, Any], cost: int
    ) -> dict[str, Any]:
        """Cost (with a wallet) and time at the pool's measured rate."""
        priced = await store.read(wallet.has_wallet, key.key_id)
        measured = await store.read(campaign_views.measured_send_s, pin, time.time())
        bank = runner.feeder.bank
        rate = 0.0
        for offer in bank.offers(pin):
            worker = bank.workers[offer.device_id]
            rate += 1.0 / (measured.get(offer.device_id, DEFAULT_SEND_S) + worker.pacing.min_gap_s)
        return {
            "estimated_cost": wallet.format_amount(cost) if priced else None,
            "devices": len(bank.offers(pin)),
            "estimated_time_s": round(report["total_parts"] / rate, 1) if rate else None,
        }

    keyed = answers_keyed(key_of)

    async def list_all(request: web.Request, key: ApiKey) -> web.Response:
        found = await store.read(campaign_views.list_campaigns, key.pin)
        return web.json_response({"response": "200", "campaigns": found})

    async def show(request: web.Request, key: ApiKey) -> web.Response:
        campaign_id = request.match_info["campaign_id"]
        if await store.read(campaign_rows.get_pin, campaign_id) != key.pin:
            raise LookupError(f"no campaign {campaign_id}")
        shown = await store.read(campaign_views.detail, campaign_id)
        return web.json_response({"response": "200", "campaign": shown})

    def action(name: str) -> Callable[[web.Request, ApiKey], Awaitable[web.Response]]:
        async def act(request: web.Request, key: ApiKey) -> web.Response:
            method = getattr(runner, name)
            shown = await method(request.match_info["campaign_id"], key.pin)
            return web.json_response({"response": "200", "campaign": shown})

        return act

    async def stream(request: web.Request, key: ApiKey) -> web.StreamResponse:
        """GET /api/v1/campaigns/{id}/events: ``progress`` events while it changes, then
        ``done`` (finished or cancelled) and the end of the stream."""
        campaign_id = request.match_info["campaign_id"]
        if await store.read(campaign_rows.get_pin, campaign_id) != key.pin:
            raise LookupError(f"no campaign {campaign_id}")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        last = None
        try:
            while True:
                shown = await store.read(campaign_views.detail, campaign_id)
                finished = shown["state"] in FINISHED
                seen = (shown["state"], json.dumps(shown["counts"]))
                if seen != last or finished:
                    kind = "done" if finished else "progress"
                    data = json.dumps(shown)
                    await response.write(f"event: {kind}\ndata: {data}\n\n".encode())
                    last = seen
                if finished:
                    break
                await asyncio.sleep(SSE_INTERVAL_S)
            await response.write_eof()
        except ConnectionResetError:  # the client went away: nothing to answer
            log.debug("event stream of %s: client gone", campaign_id)
        return response

    async def cancel_job(request: web.Request, key: ApiKey) -> web.Response:
        """POST /api/v1/jobs/{job_id}/cancel: a queued job ends cancelled (never sent)."""
        job = await store.write(queue_rows.cancel_job, request.match_info["job_id"], key.pin)
        runner.feeder.bank.withdraw(lambda j: j.job_id == job.job_id)
        log.info("job %s cancelled by key %d", job.job_id, key.key_id)
        return web.json_response({"response": "200", "job_id": job.job_id, "state": job.state})

    app.router.add_post("/api/v1/campaigns", create)
    app.router.add_get("/api/v1/campaigns", keyed(list_all))
    app.router.add_get("/api/v1/campaigns/{campaign_id}", keyed(show))
    for name in ("start", "pause", "resume", "cancel"):
        app.router.add_post(f"/api/v1/campaigns/{{campaign_id}}/{name}", keyed(action(name)))
    app.router.add_get("/api/v1/campaigns/{campaign_id}/events", keyed(stream))
    app.router.add_post("/api/v1/jobs/{job_id}/cancel", keyed(cancel_job))


class NoValidRowsError(RequestError):
    """The recipients were read and none is valid: the answer carries the report."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__(StatusCode.PARAM_ERROR, "no valid rows: nothing was created")
        self.report = report


def _check_batch(
    source: Iterator[list[str]], checker: RowChecker, line: int
) -> tuple[list[campaign_rows.Recipient], int]:
    """Check up to ``ROW_BATCH`` valid rows (in a thread); the next line, or -1 at the end."""
    batch = []
    for cells in source:
        line += 1
        recipient = checker.check(line, cells)
        if recipient is not None:
            batch.append(recipient)
            if len(batch) >= ROW_BATCH:
                return batch, line
    return batch, -1
