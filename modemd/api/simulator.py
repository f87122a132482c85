"""The simulator API, only with ``--simulate``: ``/simulator/v1/...`` drives the emulated
devices of a running demo so that a person can watch modemd react (the routes do not exist
otherwise).

``POST /simulator/v1/devices/{device_id}/fault`` gives an emulated modem a fault.

``POST /simulator/v1/mo`` ``{"from", "text", "device_id"?}`` texts the bank: a 2xx means the
emulated network has put the message in an emulated modem's SIM memory (which outlives the
daemon) or an emulated phone's SMSGate inbox (whose ``sms:received`` webhook and ``GET /inbox``
the phone driver reads, as on a real phone). The device is one of the caller's pool (any pool for
the admin).

Both take an API key of the pool (``?apikey=`` or Bearer) or the admin (the admin socket, or
``Authorization: Bearer <admin_token>``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from modemd.api.auth import admin_actor, caller_ip
from modemd.api.keyed import Authenticate, json_object, problem, text_field
from modemd.emulators.fault_kinds import FaultKind

if TYPE_CHECKING:  # the emulators are imported only with --simulate (service.py)
    from modemd.emulators.modem import EmulatedModem
    from modemd.emulators.phone import EmulatedPhone

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1600  # ten concatenated parts of GSM-7: plenty for a demo
MAX_SENDER_CHARS = 20


class EmulatedDevices:
    """The emulated modems (by IMEI) and phones (by the app's device id) of ``--simulate`` and
    ``--simulate-phones``, all in one pool."""

    def __init__(
        self, modems: list[EmulatedModem], pin: str, phones: list[EmulatedPhone] | None = None
    ) -> None:
        self._modems = {modem.profile.imei: modem for modem in modems}
        self._phones = {phone.profile.device_id: phone for phone in phones or []}
        self._pin = pin

    def device(self, device_id: str) -> EmulatedModem | None:
        """The emulated modem ``device_id`` (faults are modem faults)."""
        return self._modems.get(device_id)

    def pin_of(self, _device_id: str) -> str:
        return self._pin

    def active_faults(self, device_id: str) -> list[str]:
        return sorted(self._modems[device_id].faults.active)

    def deliver_mo(self, sender: str, text: str, device_id: str | None, key_pin: str) -> str:
        """The emulated network delivers an SMS to a device of ``key_pin``: the named one, else
        the modem with the fewest messages waiting, else (a pool of phones only) the phone that
        received the fewest; LookupError: no such device in that pool."""
        found = key_pin == self._pin and (device_id is None or self._known(device_id))
        if not found:
            raise LookupError(f"no emulated device {device_id or ''} in pool {key_pin}".strip())
        if device_id in self._phones or (device_id is None and not self._modems):
            phones = [self._phones[device_id]] if device_id else list(self._phones.values())
            phone = min(phones, key=lambda p: len(p.inbox))
            phone.receive(sender, text)
            return phone.profile.device_id
        modems = [self._modems[device_id]] if device_id else list(self._modems.values())
        modem = min(modems, key=lambda m: len(m.network.waiting))
        modem.network.send(sender, text)
        return modem.profile.imei

    def _known(self, device_id: str) -> bool:
        return device_id in self._modems or device_id in self._phones

    def where(self, device_id: str) -> str:
        """Where the emulated network put an SMS for ``device_id`` (for the route's answer)."""
        return "the emulated phone's inbox" if device_id in self._phones else "the emulated SIM"


def add_routes(app: web.Application, simulated: EmulatedDevices, key_of: Authenticate) -> None:
    """``POST /simulator/v1/devices/{device_id}/fault`` and ``POST /simulator/v1/mo``."""

    async def pool_of(request: web.Request) -> str | web.Response | None:
        """The caller's pool; None for the admin (every pool); an answer when refused."""
        if admin_actor(request) is not None:
            return None
        key = await key_of(request)
        return key if isinstance(key, web.Response) else key.pin

    async def inject_fault(request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        device = simulated.device(device_id)
        pin = await pool_of(request)
        if isinstance(pin, web.Response):
            return pin
        if device is not None and pin is not None and pin != simulated.pin_of(device_id):
            device = None  # another pool's device: as if it did not exist
        if device is None:
            return problem(404, f"no emulated device {device_id} in this pool")
        try:
            kind: FaultKind | None = FaultKind((await json_object(request))["kind"])
        except (ValueError, KeyError, TypeError):
            kind = None
        if kind is None:
            kinds = ", ".join(k.value for k in FaultKind)
            return problem(400, f'the body must be {{"kind": ...}} with one of: {kinds}')
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

    async def mo(request: web.Request) -> web.Response:
        """The emulated network delivers an SMS from ``from`` to a modem of the caller's pool."""
        pin = await pool_of(request)
        if isinstance(pin, web.Response):
            return pin
        try:
            sender, text, device_id = _mo_fields(await json_object(request))
            device = simulated.deliver_mo(sender, text, device_id, pin or simulated.pin_of(""))
        except ValueError as exc:
            return problem(400, str(exc))
        except LookupError as exc:
            return problem(404, str(exc))
        log.info("simulator: SMS from %s to %s (from %s)", sender, device, caller_ip(request))
        where = simulated.where(device)
        body = {"response": "202", "message": f"stored in {where}", "device_id": device}
        return web.json_response(body, status=202)

    app.router.add_post("/simulator/v1/devices/{device_id}/fault", inject_fault)
    app.router.add_post("/simulator/v1/mo", mo)


def _mo_fields(data: dict[str, Any]) -> tuple[str, str, str | None]:
    """``from``, ``text`` and ``device_id`` of a /simulator/v1/mo body; ValueError says why not."""
    sender = text_field(data, "from", required=True) or ""
    text = text_field(data, "text", required=True) or ""
    device_id = text_field(data, "device_id")
    if len(sender) > MAX_SENDER_CHARS or len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"'from' takes {MAX_SENDER_CHARS} and 'text' {MAX_TEXT_CHARS} characters")
    return sender, text, device_id
