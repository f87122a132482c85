"""POST /api/v1/send: read the fields, authenticate, check, accept durably, offer to the pool.

Refusals answer the contract's codes; what the daemon accepted is on disk before the answer.
An ``Idempotency-Key`` (header, or ``idempotency_key`` for form clients) makes a retry return
the first answer's job instead of a second job."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import HttpProcessingError

from modemd.api.answers import EncodedList, JsonAnswer, dumps, head_text, json_answer
from modemd.api.auth import CONFIG, STORE, Caller, authenticate, caller_ip
from modemd.api.campaign_report import blocked_destination
from modemd.api.campaigns import dispatch
from modemd.api.contract import StatusCode, body
from modemd.api.send_many import request_hash, send_many, several
from modemd.api.timing import parse_timing
from modemd.api.validation import (
    RequestError,
    idempotency_key,
    json_body,
    parse_send,
)
from modemd.model import ApiKey, Job
from modemd.observe import trace
from modemd.runtime.bank import Bank, Offer
from modemd.sms.encoding import split_message
from modemd.store import accept, optouts, refusals, wallet

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # a send is < 8 KB even as UCS-2 form data; larger is abuse or a bug
BANK: web.AppKey[Bank] = web.AppKey("bank", Bank)
# With a stall trace: when the accept's write was queued to the store (CLOCK_MONOTONIC)
QUEUED_AT: web.RequestKey[float] = web.RequestKey("queued_at", float)
FORM = "application/x-www-form-urlencoded"
MAX_RECORDS_KEPT = 256  # lists of offers remembered: a pool each, a device of each (id_device)
_RECORDS: dict[
    tuple[tuple[str, str, str], ...], EncodedList
] = {}  # the answers' records of those offers
# The same records by the bank's kept list of a pool's offers (``Bank.offers``), which is
# held here with them (so its id is not another list's while it is kept).
_RECORDS_OF_LIST: dict[int, tuple[list[Offer], EncodedList]] = {}


async def read_fields(request: web.Request) -> dict[str, Any]:
    """The request's fields: JSON object, or form (urlencoded / multipart), or query string."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, request.content_length or 0)
    if request.content_type == "application/json":
        return json_body(await request.read())
    if request.method == "POST" and request.can_read_body:
        if request.content_type.startswith("multipart/"):
            boundary = parse_mimetype(request.headers.get("Content-Type", "")).parameters.get(
                "boundary", ""
            )
            if not boundary.strip('"'):
                raise RequestError(
                    StatusCode.PARAM_ERROR, "malformed form: multipart without a boundary"
                )
        try:
            return dict(await request.post())
        except (UnicodeDecodeError, ValueError, HttpProcessingError, AssertionError) as exc:
            # HttpProcessingError: aiohttp's InvalidHeader for a multipart without a boundary;
            # AssertionError: its multipart reader's checks of a body that breaks the format
            raise RequestError(StatusCode.PARAM_ERROR, f"malformed form: {exc}"[:200]) from exc
    return dict(request.query)


def _form_encoded(request: web.Request) -> bool:
    """Fields that went through URL encoding, where a '+' arrives as a space."""
    return request.content_type == FORM or request.method == "GET" or not request.can_read_body


async def send(request: web.Request) -> web.Response:
    """POST /api/v1/send in aiohttp's framing: the fields of any body, then ``accept_send``."""
    return (await accept_send(request, read_fields(request), _form_encoded(request))).response()


async def accept_send(
    request: Caller, reading: Awaitable[dict[str, Any]], form: bool
) -> JsonAnswer:
    """Accept a job durably and offer it to the pool; ``reading`` gives the request's fields
    (``form``: URL-encoded, where a '+' arrived as a space). Both framings answer through it."""
    key: ApiKey | None = None
    to = ""
    try:
        fields = await reading
        key, ok_code = await authenticate(request, fields)
        raws = several(fields.get("to"), form=form)
        if raws is not None:  # issue 16: one job per recipient, each with its own code
            return await send_many(request, fields, key, ok_code, raws, form)
        wanted = parse_send(fields, key.default_country, form=form)
        timing = parse_timing(fields, time.time())
        to = wanted.to
        pin = wanted.pin or key.pin
        if pin != key.pin:
            raise RequestError(StatusCode.API_KEY_ERROR, f"this apikey is not valid for pin {pin}")
        app = request.app
        if wanted.id_device is not None and not app[BANK].has_device(pin, wanted.id_device):
            raise RequestError(
                StatusCode.TOKEN_OR_ID_DEVICE_ERROR,
                f"device {wanted.id_device} is not in the pool of pin {pin}",
            )
        if not key.allow_premium:
            blocked = blocked_destination(wanted.to, wanted.country, log_unknown=True)
            if blocked is not None:
                raise accept.BlockedDestinationError(*blocked)
        idempotency = idempotency_key(fields, request.headers.get("Idempotency-Key"))
        split = split_message(wanted.msg)
        config = app[CONFIG]
        writing = app[STORE].queue_write(  # (write's own coroutine, a frame less)
            accept.accept_send,
            key_id=key.key_id,
            pin=pin,
            to=wanted.to,
            message=wanted.msg,
            parts=split.count,
            encoding=split.encoding.value,
            id_device=wanted.id_device,
            country=wanted.country,
            idempotency=(
                None
                if idempotency is None
                else accept.Idempotency(
                    idempotency,
                    request_hash(pin, wanted.to, wanted.msg, wanted.id_device, fields),
                )
            ),
            limits=config.destination_limits,
            key_caps=config.caps.key(pin),
            lane=timing.lane,
            send_at=timing.send_at,
            valid_until=timing.valid_until,
            transactional=key.transactional,
        )
        if trace.recorder() is not None:
            request[QUEUED_AT] = time.monotonic()
        accepted = await writing
    except RequestError as exc:
        log.info("send from %s refused: %s (%s)", caller_ip(request), exc.message, exc.code.name)
        return json_answer(exc.code, exc.message)
    except wallet.InsufficientCreditError as exc:
        log.info("send from %s refused: %s (BALANCE_ERROR)", caller_ip(request), exc)
        return json_answer(StatusCode.BALANCE_ERROR, f"insufficient credit: {exc}")
    except accept.KeyCapError as exc:
        log.info("send from %s refused: %s (BALANCE_ERROR)", caller_ip(request), exc)
        return json_answer(
            StatusCode.BALANCE_ERROR,
            exc.detail,
            reason=exc.reason,
            headers={"Retry-After": str(math.ceil(exc.retry_after_s))},
        )
    except optouts.OptedOutError as exc:
        log.info("send from %s refused: %s (OPTED_OUT)", caller_ip(request), exc)
        return json_answer(StatusCode.OPTED_OUT, str(exc))
    except accept.IdempotencyConflictError as exc:
        log.info("send from %s refused: %s (IDEMPOTENCY_CONFLICT)", caller_ip(request), exc)
        return json_answer(StatusCode.IDEMPOTENCY_CONFLICT, str(exc))
    except accept.BlockedDestinationError as exc:
        assert key is not None
        return await _blocked(request, key, to, exc)
    return _accepted(request, ok_code, accepted)


async def _blocked(
    request: Caller, key: ApiKey, to: str, exc: accept.BlockedDestinationError
) -> JsonAnswer:
    """Refused as blocked_destination: logged, kept (``modemd jobs --refused``), answered."""
    log.warning(
        "send from %s with key %d to %s refused: %s (%s)",
        caller_ip(request),
        key.key_id,
        to,
        exc.detail,
        exc.reason,
    )
    await request.app[STORE].write(refusals.record_refusal, key.key_id, to, exc.reason, exc.detail)
    return json_answer(StatusCode.BLOCKED_DESTINATION, exc.detail, reason=exc.reason)


ACCEPTED = "accepted: handed to the pool; the IPN reports sent and delivered"


def _accepted(request: Caller, ok_code: StatusCode, accepted: accept.Accepted) -> JsonAnswer:
    job, cost = accepted.job, accepted.cost
    extra: dict[str, Any] = {} if cost is None else {"cost": wallet.format_amount(cost)}
    if accepted.replayed:  # the first answer's job; it is not offered again
        offers = []
        extra.update(idempotent_replay=True, state=job.state.value)
        log.info("send: Idempotency-Key seen before, answering job %s again", job.job_id)
    else:
        offers = dispatch(request.app, job)  # high lane now; deferred and bulk: the feeder
    if accepted.replayed or job.id_device is not None:
        bank = request.app[BANK]
        available = len(bank.offers(job.pin)) + len(bank.remote_offers(job.pin))
    else:  # offered to every device of its pool, here and on the other hosts (dispatch)
        available = len(offers)
    records = _records(offers)
    if not extra and job.to.isascii() and job.to.lstrip("+").isdigit():  # (as a rule)
        return _plain_accepted(ok_code, job, available, records)
    return json_answer(
        ok_code, ACCEPTED, **_job_keys(job), **extra, devices_available=available, records=records
    )


def _job_keys(job: Job) -> dict[str, Any]:
    """The accepted job as an answer shows it (the keys after the message, in their order)."""
    return {
        "job_id": job.job_id,
        "to": job.to,
        "length": len(job.message),
        "parts": job.parts,
        "encoding": job.encoding,
    }


def _plain_accepted(
    ok_code: StatusCode, job: Job, available: int, records: list[dict[str, str]]
) -> JsonAnswer:
    """``json_answer`` of an accept with no cost and a number of digits, its text written in
    one piece: every value is a job id (``job_`` and hex), digits, a fixed encoding name, an
    integer or the records' JSON, none of which JSON escapes (C's encoder of these seven
    keys was ~6 % of an accept's work on the loop)."""
    payload = body(
        ok_code, message=ACCEPTED, **_job_keys(job), devices_available=available, records=records
    )
    text = (
        f'{head_text(ok_code, ACCEPTED)}, "job_id": "{job.job_id}", "to": "{job.to}", '
        f'"length": {len(job.message)}, "parts": {job.parts}, "encoding": "{job.encoding}", '
        f'"devices_available": {available}, "records": '
        f"{records.json if isinstance(records, EncodedList) else dumps(records)}"
    )
    return JsonAnswer(payload, None, (text, {}, ""))


def _records(offers: list[Offer]) -> list[dict[str, str]]:
    """The answer's records of the devices a job was offered to: for the same devices, the
    same list, its JSON written once (a pool's devices change seldom; sends are many)."""
    if not offers:
        return []
    same = _RECORDS_OF_LIST.get(id(offers))
    if same is not None and same[0] is offers:  # a pool's kept list, seen before
        return same[1]
    seen = tuple([(o.device_id, o.pin, o.kind) for o in offers])  # (Offer's hash is Python's)
    records = _RECORDS.get(seen)
    if records is None:
        if len(_RECORDS) >= MAX_RECORDS_KEPT:
            _RECORDS.clear()
        records = _RECORDS[seen] = EncodedList(
            [
                {"device_id": o.device_id, "pin": o.pin, "kind": o.kind, "state": "offered"}
                for o in offers
            ]
        )
    if len(_RECORDS_OF_LIST) >= MAX_RECORDS_KEPT:
        _RECORDS_OF_LIST.clear()
    _RECORDS_OF_LIST[id(offers)] = (offers, records)
    return records
