"""Tethered Android phones: USB net interfaces (rndis_host, cdc_ncm, cdc_ether) with a pin label.

The phone runs the DHCP server of its tethered link and is that link's gateway, so its address is
the gateway the route table shows for the interface (never a fixed guess); the app's port and
credentials come from the ``[[phones]]`` entry matching the interface name, MAC or USB serial.
``PhoneHotPlug`` follows udev: a phone plugged in joins its pool once its link has an address,
one pulled out leaves it at once."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from modemd.drivers import registry
from modemd.drivers.phone_protocol import PhoneRequestError, PhoneTimings
from modemd.drivers.registry import Attach, Detach
from modemd.errors import DeviceError
from modemd.hardware.discovery import label_of
from modemd.hardware.udev import Port, Udev, UdevEvent
from modemd.model import DeviceLife, DeviceState, LabelRule, PhoneConfig

log = logging.getLogger(__name__)

# The kernel's IPv4 routes (tests inject a file of their own). Not /proc/net/route: the unit's
# ProcSubset=pid hides /proc/net, while /proc/self/net (this process's network namespace, the
# same table) stays visible.
ROUTE_TABLE = "/proc/self/net/route"
PHONE_DRIVERS = frozenset({"rndis_host", "cdc_ncm", "cdc_ether"})  # USB tethering (ID_USB_DRIVER)
RTF_GATEWAY = 0x0002  # route flag: via a gateway (linux/route.h)
DEBOUNCE_S = 0.1  # one interface per phone; udev's rename (usb0 -> enx...) follows within ms
RETRY_FIRST_S = 0.5  # no address yet: DHCP on a fresh tethered link takes a second or three ...
RETRY_MAX_S = 60.0  # ... retried doubling up to this while the phone stays plugged in
CHECK_TIMEOUT_S = 3.0  # doctor's requests: a tethered phone answers in ms, a dozing one in seconds


@dataclass(frozen=True, slots=True)
class Route:
    """One line of /proc/net/route (addresses dotted)."""

    interface: str
    destination: str
    gateway: str
    flags: int


def _dotted(little_endian_hex: str) -> str:
    return socket.inet_ntoa(struct.pack("<I", int(little_endian_hex, 16)))


def read_routes(path: str = ROUTE_TABLE) -> list[Route]:
    """The IPv4 route table; empty when it cannot be read."""
    try:
        lines = Path(path).read_text().splitlines()[1:]
    except OSError as exc:
        log.warning("cannot read the route table %s: %s", path, exc)
        return []
    routes = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 4:
            try:
                routes.append(
                    Route(fields[0], _dotted(fields[1]), _dotted(fields[2]), int(fields[3], 16))
                )
            except ValueError:
                continue
    return routes


def gateway_of(interface: str, routes: list[Route]) -> tuple[bool, str | None]:
    """(has an address, gateway): any route of ``interface`` means the kernel gave it an
    address; the gateway is its default route's, else that of any route via a gateway."""
    mine = [r for r in routes if r.interface == interface]
    via = sorted(
        (r for r in mine if r.flags & RTF_GATEWAY), key=lambda r: r.destination != "0.0.0.0"
    )
    return bool(mine), via[0].gateway if via else None


def is_phone_link(port: Port) -> bool:
    """A USB net interface of a tethering driver, or one a rule labels with a pin."""
    driver = port.properties.get("ID_USB_DRIVER", "")
    return (
        port.subsystem == "net"
        and port.usb
        and (driver in PHONE_DRIVERS or "MODEMD_PIN" in port.properties)
    )


def mac_of(port: Port) -> str | None:
    """The interface's MAC address (sysfs attribute ``address``)."""
    try:
        return Path(port.syspath, "address").read_text().strip().lower() or None
    except OSError:
        return None


def config_for(port: Port, phones: tuple[PhoneConfig, ...]) -> PhoneConfig | None:
    """The ``[[phones]]`` entry naming this interface, its MAC or its USB serial."""
    serials = {port.properties.get("ID_SERIAL_SHORT"), port.properties.get("ID_SERIAL")} - {None}
    mac = mac_of(port)
    for cfg in phones:
        if (
            (cfg.interface is not None and cfg.interface == port.name)
            or (cfg.mac is not None and mac is not None and cfg.mac.lower() == mac)
            or (cfg.serial is not None and cfg.serial in serials)
        ):
            return cfg
    return None


@dataclass(frozen=True, slots=True)
class TetheredPhone:
    """A phone ready to be spoken to: pool, credentials and its address on the link."""

    port: Port
    pin: str
    config: PhoneConfig
    url: str


@dataclass(frozen=True, slots=True)
class NotYet:
    """Why a phone link cannot be used (yet)."""

    why: str
    waiting: bool  # True: it may come by itself (DHCP still running); False: a person must act


def plan(
    port: Port,
    phones: tuple[PhoneConfig, ...],
    labels: tuple[LabelRule, ...] = (),
    route_table: str = ROUTE_TABLE,
) -> TetheredPhone | NotYet:
    """Pin, credentials and address of the phone behind ``port``, or what is missing."""
    cfg = config_for(port, phones)
    pin, why = label_of(port, labels)
    if pin is None and "MODEMD_PIN" not in port.properties and cfg is not None and cfg.pin:
        pin = cfg.pin
    if pin is None:
        return NotYet(why, waiting=False)
    if cfg is None:
        mac = mac_of(port) or "?"
        serial = port.properties.get("ID_SERIAL_SHORT", "?")
        return NotYet(
            f"pin {pin}: no [[phones]] entry with its password matches (interface = "
            f'"{port.name}", mac = "{mac}" or serial = "{serial}")',
            waiting=False,
        )
    addressed, gateway = gateway_of(port.name, read_routes(route_table))
    if not addressed:
        return NotYet(
            f"pin {pin}: no IPv4 address on {port.name}: enable DHCP on it (NetworkManager or "
            "systemd-networkd do by default; the phone is the DHCP server)",
            waiting=True,
        )
    if gateway is None:
        return NotYet(
            f"pin {pin}: {port.name} has an address but no gateway: the phone's address is "
            "learnt as the link's gateway (allow the DHCP router option on this link)",
            waiting=True,
        )
    return TetheredPhone(port, pin, cfg, f"http://{gateway}:{cfg.app_port}")


async def diagnose(
    port: Port,
    phones: tuple[PhoneConfig, ...],
    labels: tuple[LabelRule, ...] = (),
    route_table: str = ROUTE_TABLE,
    timeout_s: float = CHECK_TIMEOUT_S,
) -> tuple[bool, str]:
    """For ``doctor``: can modemd use the phone behind ``port``, in plain words."""
    found = plan(port, phones, labels, route_table)
    if isinstance(found, NotYet):
        return False, found.why
    return await check_app(found.config, found.url, found.pin, f"{port.name}'s gateway", timeout_s)


async def check_app(
    cfg: PhoneConfig, url: str, pin: str, what: str, timeout_s: float = CHECK_TIMEOUT_S
) -> tuple[bool, str]:
    """For ``doctor``: does SMSGate answer at ``url`` (``what`` it is, for the words)."""
    where = f"pin {pin}: {url}"
    timings = PhoneTimings(http_s=timeout_s)
    driver = registry.build_phone(registry.SmsGatePhone(cfg, url, pin, timings))
    try:
        root, status, health = await driver.diagnose()
    except PhoneRequestError as exc:
        if exc.status == 401:
            return False, f"{where}: wrong username or password (401): copy them from the app"
        if exc.status is None:
            return False, (
                f"{where} ({what}) does not answer: is SMSGate's local server on, on port "
                f"{cfg.app_port}? ({exc})"
            )
        return False, f"{where}: {exc}"
    model = root.get("model", "?") if isinstance(root, dict) else "?"
    if status == 200:
        return True, f"{where}: usable: SMSGate answers ({model})"
    checks = health.get("checks", {}) if isinstance(health, dict) else {}
    failed = sorted(
        k for k, v in checks.items() if isinstance(v, dict) and v.get("status") == "fail"
    )
    words = (
        "the app reports no Internet (its webhooks may never come; modemd polls)"
        if any(k.startswith("connection") for k in failed)
        else f"the app reports failed checks: {', '.join(failed) or '?'}"
    )
    return True, f"{where}: usable: sending works (GET / ok); /health answers {status}: {words}"


@dataclass(eq=False)
class _Link:
    """One phone net interface seen by udev."""

    port: Port
    life: DeviceLife
    seen_at: float  # monotonic time of the event that (re)discovered it
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None
    device_id: str | None = None  # attached to the bank under the app's device id


class PhoneHotPlug:
    """Keeps the bank in step with the tethered phones udev shows."""

    def __init__(
        self,
        udev: Udev,
        *,
        attach: Attach,
        detach: Detach,
        phones: tuple[PhoneConfig, ...],
        labels: tuple[LabelRule, ...] = (),
        route_table: str = ROUTE_TABLE,
        debounce_s: float = DEBOUNCE_S,
        retry_first_s: float = RETRY_FIRST_S,
        timings: PhoneTimings | None = None,
    ) -> None:
        self.attach = attach
        self.detach = detach
        self.udev = udev
        self.phones = phones
        self.labels = labels
        self.route_table = route_table
        self.debounce_s = debounce_s
        self.retry_first_s = retry_first_s
        self.timings = timings
        self.links: dict[str, _Link] = {}  # by syspath
        self.measured: list[tuple[str, str, float]] = []  # (what, device, seconds) for reports
        self._detaching: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self) -> None:
        """Watch udev's net devices, then take every phone link already there."""
        self.udev.watch(self.on_event, ("net",))
        for port in self.udev.ports("net"):
            self._seen(port)

    async def close(self) -> None:
        """Stop watching and bringing phones up (the bank closes the attached ones)."""
        self._closed = True
        self.udev.stop()
        tasks = [*self._detaching]
        for link in self.links.values():
            if link.timer is not None:
                link.timer.cancel()
            if link.task is not None:
                link.task.cancel()
                tasks.append(link.task)
        await asyncio.gather(*tasks, return_exceptions=True)

    def on_event(self, event: UdevEvent) -> None:
        """A udev net event (on the loop)."""
        if event.action == "remove":
            self._removed(event.syspath)
        elif event.port is not None and event.action in ("add", "change", "bind", "move"):
            self._seen(event.port)

    def _seen(self, port: Port) -> None:
        if not is_phone_link(port) or self._closed:
            return
        link = self.links.get(port.syspath)
        if link is None or link.life.state is DeviceState.GONE:
            link = self.links[port.syspath] = _Link(port, DeviceLife(port.name), time.monotonic())
        link.port = port
        if link.timer is not None:
            link.timer.cancel()
        link.timer = asyncio.get_running_loop().call_later(self.debounce_s, self._settled, link)

    def _settled(self, link: _Link) -> None:
        link.timer = None
        if link.task is None and link.device_id is None and not self._closed:
            link.task = asyncio.create_task(self._bring_up(link), name=f"phone {link.port.name}")

    def _removed(self, syspath: str) -> None:
        link = self.links.pop(syspath, None)
        if link is None:
            return
        removed_at = time.monotonic()
        if link.timer is not None:
            link.timer.cancel()
        if link.task is not None:
            link.task.cancel()
        if link.device_id is None:
            link.life.transition(DeviceState.GONE, "unplugged")
            return
        device_id = link.device_id
        task = asyncio.create_task(
            self.detach(device_id, "udev remove"), name=f"detach {device_id}"
        )
        self._detaching.add(task)
        task.add_done_callback(self._detaching.discard)
        task.add_done_callback(lambda _t: self._timed("remove->gone", device_id, removed_at))

    def _timed(self, what: str, device: str, since: float) -> None:
        seconds = time.monotonic() - since
        self.measured.append((what, device, seconds))
        log.info("phone %s: %s in %.1f ms", device, what, seconds * 1000)

    async def _bring_up(self, link: _Link) -> None:
        """Plan and attach; retried with capped doubling while plugged in and worth it."""
        delay = self.retry_first_s
        try:
            while True:
                found = plan(link.port, self.phones, self.labels, self.route_table)
                if isinstance(found, TetheredPhone):
                    if await self._attach(link, found):
                        return
                else:
                    if link.life.reason != found.why:  # logged once, not at every retry
                        link.life.transition(DeviceState.OPENING, "tethered phone")
                        link.life.transition(DeviceState.BACKING_OFF, found.why)
                    if not found.waiting:
                        return
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        finally:
            link.task = None

    async def _attach(self, link: _Link, phone: TetheredPhone) -> bool:
        """One attempt; True when attached (or already attached elsewhere)."""
        link.life.transition(DeviceState.OPENING, f"pin {phone.pin} at {phone.url}")
        spec = registry.phone_of(phone.config, url=phone.url, pin=phone.pin, timings=self.timings)
        try:
            device_id = await self.attach(spec, link.life)
        except DeviceError as exc:
            link.life.transition(DeviceState.BACKING_OFF, str(exc))
            return False
        if device_id is None:
            return True
        link.device_id = device_id
        link.life.listeners.append(self._on_change)
        self._timed("add->ready", device_id, link.seen_at)
        return True

    def _on_change(self, life: DeviceLife, _previous: DeviceState) -> None:
        """A phone that left while still plugged in (its app stopped) is tried again later."""
        link = next((k for k in self.links.values() if k.life is life), None)
        if life.state is not DeviceState.GONE or link is None or self._closed:
            return
        life.listeners.remove(self._on_change)
        link.device_id = None
        link.life = DeviceLife(link.port.name)
        link.timer = asyncio.get_running_loop().call_later(self.retry_first_s, self._settled, link)
