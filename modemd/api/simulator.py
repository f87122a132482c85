"""The simulator API, only with ``--simulate``: ``/simulator/v1/...`` drives the emulated
devices of a running demo so that a person can watch modemd react (the routes do not exist
otherwise). Taken with an API key of the device's pool (``?apikey=`` or Bearer) or as admin
(the admin socket, or ``Authorization: Bearer <admin_token>``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from modemd.api.auth import admin_actor, caller_ip
from modemd.emulators.faults import FaultKind
from modemd.emulators.modem import EmulatedModem
from modemd.model import ApiKey

log = logging.getLogger(__name__)

KeyOf = Callable[[web.Request], Awaitable[ApiKey | web.Response]]


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"response": str(status), "message": message}, status=status)


def add_routes(app: web.Application, simulated: EmulatedDevices, key_of: KeyOf) -> None:
    """``POST /simulator/v1/devices/{device_id}/fault``."""

    async def inject_fault(request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        device = simulated.device(device_id)
        if admin_actor(request) is None:
            key = await key_of(request)
            if isinstance(key, web.Response):
                return key
            if device is not None and key.pin != simulated.pin_of(device_id):
                device = None  # another pool's device: as if it did not exist
        if device is None:
            return _problem(404, f"no emulated device {device_id} in this pool")
        try:
            body = json.loads((await request.read()).decode("utf-8") or "{}")
            kind = FaultKind(body["kind"]) if isinstance(body, dict) else None
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError):
            kind = None
        if kind is None:
            kinds = ", ".join(k.value for k in FaultKind)
            return _problem(400, f'the body must be {{"kind": ...}} with one of: {kinds}')
        log.warning("simulator: fault %s on %s (from %s)", kind, device_id, caller_ip(request))
        device.inject(kind)
        return web.json_response(
            {
                "response": "200",
                "device_id": device_id,
                "kind": kind.value,
                "active": simulated.active_faults(device_id),
            }
        )

    app.router.add_post("/simulator/v1/devices/{device_id}/fault", inject_fault)


class EmulatedDevices:
    """The emulated modems of ``--simulate``, by IMEI, all in one pool."""

    def __init__(self, modems: list[EmulatedModem], pin: str) -> None:
        self._modems = {modem.profile.imei: modem for modem in modems}
        self._pin = pin

    def device(self, device_id: str) -> EmulatedModem | None:
        return self._modems.get(device_id)

    def pin_of(self, _device_id: str) -> str:
        return self._pin

    def active_faults(self, device_id: str) -> list[str]:
        return sorted(self._modems[device_id].faults.active)
