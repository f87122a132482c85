"""``POST /api/v1/send`` with several recipients (``to`` a list, or numbers separated by
commas; at most 1,000): one job each. A malformed field, a malformed number or too little
credit for all of them refuses the whole request (nothing written); otherwise every recipient
gets its own code: accepted, opted out (10) or blocked destination (11). An Idempotency-Key
covers the whole request: a retry answers the first outcomes again, nothing is written."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from typing import Any

from aiohttp import web

from modemd.api.answers import answer
from modemd.api.auth import CONFIG, STORE, Caller
from modemd.api.campaign_report import blocked_destination
from modemd.api.campaigns import RUNNER, dispatch
from modemd.api.contract import STATUS_NAMES, StatusCode
from modemd.api.timing import parse_timing
from modemd.api.validation import (
    RequestError,
    idempotency_key,
    normalise_number,
    parse_send,
)
from modemd.model import ApiKey
from modemd.sms.encoding import split_message
from modemd.store import accept, wallet

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 1000  # issue 16: a bigger list is a campaign
REFUSALS = {
    "opted_out": StatusCode.OPTED_OUT,
    "blocked_destination": StatusCode.BLOCKED_DESTINATION,
}
TIMING_FIELDS = ("lane", "send_at", "valid_until", "ttl")  # as given: a ttl is relative to now


def request_hash(
    pin: str, to: str | list[str], msg: str, id_device: str | None, fields: dict[str, Any]
) -> str:
    """The request an Idempotency-Key stands for: the recipients and message as accepted (not
    as spelled; a list is another request than one number), and when to send as asked."""
    asked = [pin, to, msg, id_device, *(str(fields.get(f)) for f in TIMING_FIELDS)]
    return hashlib.sha256(json.dumps(asked).encode()).hexdigest()


def several(value: Any, form: bool = False) -> list[str] | None:
    """The recipients when ``to`` names more than one (a list, or commas); else None.

    ``form``: URL-encoded, where each number's unencoded ``+`` arrived as a space."""
    if isinstance(value, list):
        return [str(v).strip() if isinstance(v, str | int) else "" for v in value]
    if isinstance(value, str) and "," in value:
        parts = value.split(",")
        if form:
            parts = ["+" + p[1:] if re.match(r"^ [0-9]", p) else p for p in parts]
        return [part.strip() for part in parts]
    return None


async def send_many(
    request: Caller,
    fields: dict[str, Any],
    key: ApiKey,
    ok_code: StatusCode,
    raws: list[str],
    form: bool,
) -> web.Response:
    """The whole request checked first (nothing written when a field is wrong), then one
    transaction for every recipient."""
    if not raws or len(raws) > MAX_RECIPIENTS:
        raise RequestError(
            StatusCode.PARAM_ERROR, f"'to' lists {len(raws)} numbers: 1 to {MAX_RECIPIENTS}"
        )
    wanted = parse_send({**fields, "to": raws[0] or "-"}, key.default_country, form=form)
    timing = parse_timing(fields, time.time())
    recipients = []
    for index, raw in enumerate(raws):
        if not raw:
            raise RequestError(StatusCode.MISSING_TO_NUMBER, f"'to'[{index}] is empty")
        try:
            to, country = normalise_number(raw, key.default_country)
        except RequestError as exc:
            raise RequestError(exc.code, f"'to'[{index}]: {exc.message}") from exc
        blocked = None if key.allow_premium else blocked_destination(to, country, log_unknown=True)
        recipients.append((to, country, blocked[1] if blocked else None))
    pin = wanted.pin or key.pin
    if pin != key.pin:
        raise RequestError(StatusCode.API_KEY_ERROR, f"this apikey is not valid for pin {pin}")
    bank = request.app[RUNNER].feeder.bank
    if wanted.id_device is not None and not bank.has_device(pin, wanted.id_device):
        raise RequestError(
            StatusCode.TOKEN_OR_ID_DEVICE_ERROR,
            f"device {wanted.id_device} is not in the pool of pin {pin}",
        )
    split = split_message(wanted.msg)
    seen = idempotency_key(fields, request.headers.get("Idempotency-Key"))
    numbers = [to for to, _, _ in recipients]
    batch = await request.app[STORE].write(
        accept.accept_many,
        key_id=key.key_id,
        pin=pin,
        recipients=recipients,
        message=wanted.msg,
        parts=split.count,
        encoding=split.encoding.value,
        id_device=wanted.id_device,
        transactional=key.transactional,
        limits=request.app[CONFIG].destination_limits,
        key_caps=request.app[CONFIG].caps.key(pin),
        lane=timing.lane,
        send_at=timing.send_at,
        valid_until=timing.valid_until,
        idempotency=(
            None
            if seen is None
            else accept.Idempotency(
                seen, request_hash(pin, numbers, wanted.msg, wanted.id_device, fields)
            )
        ),
    )
    if batch.replayed:
        log.info("send: Idempotency-Key seen before, answering its %d recipients again", len(raws))
    results = []
    for outcome in batch.outcomes:
        if outcome.job is None:
            code = REFUSALS[outcome.refusal or "blocked_destination"]
            log.info("send to %s refused: %s", outcome.to, outcome.detail)
            results.append(_result(outcome.to, None, code, [], message=outcome.detail))
            continue
        extra: dict[str, Any] = {}
        if outcome.cost is not None:
            extra["cost"] = wallet.format_amount(outcome.cost)
        if batch.replayed:  # the first answer's job; it is not offered again
            offers = []
            extra["state"] = outcome.job.state.value
        else:
            offers = dispatch(request.app, outcome.job)
        records = [
            {"device_id": o.device_id, "pin": o.pin, "kind": o.kind, "state": "offered"}
            for o in offers
        ]
        results.append(_result(outcome.to, outcome.job.job_id, ok_code, records, **extra))
    accepted = sum(1 for r in results if r["job_id"])
    replay: dict[str, Any] = {"idempotent_replay": True} if batch.replayed else {}
    return answer(
        ok_code,
        f"{accepted} of {len(results)} recipients accepted; each has its own code",
        results=results,
        **replay,
    )


def _result(
    to: str, job_id: str | None, code: StatusCode, records: list[Any], **extra: Any
) -> dict[str, Any]:
    return {
        "to": to,
        "job_id": job_id,
        "status_code": str(code.value),
        "status": STATUS_NAMES[code],
        "records": records,
        **extra,
    }
