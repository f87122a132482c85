"""``/simulator/v1/...``: the simulated network, served only by a daemon run with --simulate.

``POST /simulator/v1/mo`` ``{"from", "text", "device_id"?}`` texts the bank: a 2xx means the
emulated network has put the message in an emulated modem's SIM memory (which outlives the
daemon). It takes an API key of the pool as Bearer; the modem is one of that pool's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from modemd.api.keyed import Authenticate, add_keyed_routes, problem, text_field
from modemd.model import ApiKey

MAX_TEXT_CHARS = 1600  # ten concatenated parts of GSM-7: plenty for a demo
MAX_SENDER_CHARS = 20
# (sender, text, device_id or None, pin) -> the device that got it; LookupError: no such device
DeliverMo = Callable[[str, str, str | None, str], Awaitable[str]]
DELIVER: web.AppKey[Any] = web.AppKey("simulator_deliver")


async def mo(request: web.Request, key: ApiKey) -> web.StreamResponse:
    """The emulated network delivers an SMS from ``from`` to a modem of the key's pool."""
    try:
        data = await request.json()
    except ValueError as exc:
        raise ValueError("the body must be a JSON object") from exc
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    sender = text_field(data, "from", required=True) or ""
    text = text_field(data, "text", required=True) or ""
    device_id = text_field(data, "device_id")
    if len(sender) > MAX_SENDER_CHARS or len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"'from' takes {MAX_SENDER_CHARS} and 'text' {MAX_TEXT_CHARS} characters")
    deliver: DeliverMo = request.app[DELIVER]
    try:
        device = await deliver(sender, text, device_id, key.pin)
    except LookupError as exc:
        return problem(404, str(exc))
    body = {"response": "202", "message": "stored in the emulated SIM", "device_id": device}
    return web.json_response(body, status=202)


def add_routes(app: web.Application, authenticate: Authenticate, deliver: DeliverMo) -> None:
    app[DELIVER] = deliver
    add_keyed_routes(app, authenticate, [("POST", "/simulator/v1/mo", mo)])
