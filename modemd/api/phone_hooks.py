"""POST /api/v1/phones/{device_id}/webhook: a phone's signed webhook, only a hint to poll now.

The device checks the hint (signature, freshness, duplicates: ``drivers.base.Hintable``); its
state still comes from the driver's own polling, so a duplicated, late or out-of-order webhook
cannot settle a job wrongly; at worst it costs one poll.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from modemd.api.answers import answer
from modemd.model import HintKind
from modemd.runtime.bank import Bank

log = logging.getLogger(__name__)

HOOK_BANK: web.AppKey[Bank] = web.AppKey("phone_hooks_bank", Bank)
STATUS = {
    HintKind.ACTED: 200,
    HintKind.DUPLICATE: 200,
    HintKind.NO_DEVICE: 404,
    HintKind.UNSIGNED: 401,
    HintKind.STALE: 401,
    HintKind.MALFORMED: 400,
    HintKind.NOT_WAITING: 404,
}


async def phone_webhook(request: web.Request) -> web.Response:
    """Hand the webhook to the device it names; answer what it made of it."""
    device_id = request.match_info["device_id"]
    body = await request.read()
    verdict = request.app[HOOK_BANK].hint(device_id, body, request.headers, time.time())
    status = STATUS[verdict.kind]
    if status != 200:
        log.info(
            "phone webhook %s from %s: %d %s", request.path, request.remote, status, verdict.detail
        )
    return answer(status, f"phone {device_id}: {verdict.detail}")


def add_routes(app: web.Application, bank: Bank) -> None:
    app[HOOK_BANK] = bank
    app.router.add_post("/api/v1/phones/{device_id}/webhook", phone_webhook)
